"""Shoppers see what the channel can promise from its own stock locations, and can hide what is sold out."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not apps.is_installed("omnishop.inventory"), reason="availability comes from the inventory context"
    ),
]


@pytest.fixture
def stock(web_channel, market_channel):
    """Web is served by the warehouse, the marketplace by a drop-ship partner; `stock(variant, n, where)`."""
    from omnishop.inventory.models import StockLevel
    from omnishop.inventory.services.locations import create_location, set_channel_locations

    warehouse = create_location(code="wh", name="Warehouse")
    partner = create_location(code="partner", name="Partner")
    set_channel_locations(channel=web_channel, location_codes=["wh"])
    set_channel_locations(channel=market_channel, location_codes=["partner"])
    where = {"wh": warehouse, "partner": partner}

    def put(variant, on_hand: int, location: str = "wh"):
        StockLevel.objects.create(variant=variant, location=where[location], on_hand=on_hand)

    return put


def test_cards_and_variants_show_what_the_channel_can_promise(
    api, web_channel, market_channel, make_product, list_in, stock
):
    shirt = make_product("Shirt", variants=2)
    list_in(shirt, web_channel)
    list_in(shirt, market_channel)
    small, large = shirt.variants.order_by("position")
    stock(small, 5)
    stock(large, 0)
    stock(large, 7, "partner")

    (web_card,) = api.get("/storefront/web/products").json()["items"]
    assert web_card["availability"] == {"in_stock": True, "quantity": 5}
    (market_card,) = api.get("/storefront/marketplace/products").json()["items"]
    assert market_card["availability"] == {"in_stock": True, "quantity": 7}

    detail = api.get(f"/storefront/web/products/{shirt.slug}").json()
    assert [(v["sku"], v["available"], v["in_stock"]) for v in detail["variants"]] == [
        (small.sku, 5, True),
        (large.sku, 0, False),
    ]


def test_the_channels_safety_buffer_is_respected(api, web_channel, make_product, list_in, stock):
    from omnishop.inventory.services.locations import set_policy

    candle = make_product("Candle")
    list_in(candle, web_channel)
    stock(candle.variants.get(), 3)
    set_policy(channel=web_channel, safety_buffer=2)
    (card,) = api.get("/storefront/web/products").json()["items"]
    assert card["availability"] == {"in_stock": True, "quantity": 1}


def test_in_stock_filter_pages_through_only_sellable_products(api, web_channel, make_product, list_in, stock):
    products = [make_product(f"Frame {i:02}") for i in range(23)]
    for i, product in enumerate(products):
        list_in(product, web_channel)
        stock(product.variants.get(), 2 if i % 3 == 0 else 0)
    in_stock = [p.slug for i, p in enumerate(products) if i % 3 == 0]
    sold_out = [p.slug for i, p in enumerate(products) if i % 3 != 0]

    def walk(flag: str) -> list[str]:
        seen, cursor = [], None
        while True:
            params = {"in_stock": flag, "limit": 3, **({"cursor": cursor} if cursor else {})}
            page = api.get("/storefront/web/products", params).json()
            assert len(page["items"]) <= 3
            seen += [i["slug"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return seen

    assert walk("true") == in_stock
    assert walk("false") == sold_out


@pytest.mark.skipif(connection.vendor != "postgresql", reason="only PostgreSQL reads the stock in the page")
def test_pages_and_details_reading_their_stock_in_their_own_statement_answer_what_inventory_does(
    api, settings, web_channel, market_channel, make_product, list_in, stock, django_assert_num_queries
):
    """ADR 0057: on PostgreSQL the id-ordered page and the product detail read availability inside their own
    statement. Every card, cursor, in_stock answer and variant figure is the one the separate inventory
    statement gives, and a page or a detail is two statements (catalogue version, page) instead of three."""
    from omnishop.inventory.models import StockLevel
    from omnishop.inventory.services.locations import create_location, set_channel_locations, set_policy

    shop = create_location(code="shop", name="Shop")
    set_channel_locations(channel=web_channel, location_codes=["wh", "shop"])
    set_policy(channel=web_channel, safety_buffer=1, quota_percent=60, quota_minus=1)
    products = []
    for i in range(9):
        product = make_product(f"Lamp {i}", variants=1 + i % 3)
        products.append(product)
        list_in(product, web_channel)
        list_in(product, market_channel)
        for n, variant in enumerate(product.variants.order_by("position")):
            stock(variant, (i * 3 + n) % 7)
            if (i + n) % 2:
                StockLevel.objects.create(variant=variant, location=shop, on_hand=i + n, reserved=n)
            if i == 4:
                stock(variant, 9, "partner")  # not a web location: never counted for web
    queries = [
        {},
        {"limit": 2},
        {"ordering": "-id", "limit": 4},
        {"in_stock": "true", "limit": 2},
        {"in_stock": "false"},
        {"ordering": "title"},  # not folded: the same answer either way
    ]

    def walk(params: dict) -> list[dict]:
        pages, cursor = [], None
        while True:
            page = api.get("/storefront/web/products", {**params, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.content
            pages.append(page.json())
            cursor = pages[-1]["next_cursor"]
            if not cursor:
                return pages

    settings.OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES = 0  # every request renders (ADR 0043's cache off)

    def details() -> list[dict]:
        return [api.get(f"/storefront/web/products/{p.slug}").json() for p in products]

    settings.OMNISHOP_STOREFRONT_STOCK_IN_PAGE = False
    separate = [walk(params) for params in queries]
    separate_details = details()
    settings.OMNISHOP_STOREFRONT_STOCK_IN_PAGE = True
    folded = [walk(params) for params in queries]
    assert folded == separate
    assert details() == separate_details
    quantities = [card["availability"]["quantity"] for card in separate[0][0]["items"]]
    assert any(quantities) and not all(quantities)  # both sellable and sold-out cards were compared
    available = [v["available"] for d in separate_details for v in d["variants"]]
    assert any(available) and not all(available)
    with django_assert_num_queries(2):
        api.get("/storefront/web/products")
    with django_assert_num_queries(2):
        api.get(f"/storefront/web/products/{products[0].slug}")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="only PostgreSQL reads cards in one statement")
def test_cards_for_chosen_products_in_one_statement_are_the_orm_path_s_cards(
    settings, web_channel, market_channel, make_product, list_in, stock, django_assert_num_queries
):
    """cards_for_products (recommendations, search results, category pages) on PostgreSQL reads the page
    statement for the chosen ids, stock included (ADR 0057). Same cards, same order, as the ORM path: only
    what the channel sells, given order kept, duplicates once, prices equal as amounts."""
    from decimal import Decimal

    from omnishop.inventory.services.locations import set_policy
    from omnishop.storefront import services

    set_policy(channel=web_channel, safety_buffer=1)
    products = []
    for i in range(8):
        product = make_product(f"Vase {i}", variants=1 + i % 3, images=i % 3)
        products.append(product)
        if i == 2:
            list_in(product, market_channel)  # not sold on web: no card
            continue
        listings = list_in(
            product,
            web_channel,
            [f"{5 + i + n}.50" for n in range(1 + i % 3)],
            published=i != 5,  # unpublished: no card
            compare_at="30.00" if i % 2 else None,
        )
        for n, listing in enumerate(listings):
            stock(listing.variant, (i + n) % 4)
    ids = [products[k].pk for k in (7, 0, 2, 5, 3, 0, 6, 1, 4)] + [10**9]

    def comparable(cards):
        return [
            (
                c["id"],
                c["slug"],
                c["title"],
                c["image"],
                c["price"]["currency"],
                Decimal(str(c["price"]["min"])),
                Decimal(str(c["price"]["max"])),
                None if c["compare_at_price"] is None else Decimal(str(c["compare_at_price"])),
                c["availability"],
            )
            for c in cards
        ]

    settings.OMNISHOP_STOREFRONT_STOCK_IN_PAGE = False
    orm = services.cards_for_products(channel=web_channel, product_ids=ids)
    settings.OMNISHOP_STOREFRONT_STOCK_IN_PAGE = True
    with django_assert_num_queries(1):
        one = services.cards_for_products(channel=web_channel, product_ids=ids)
    assert comparable(one) == comparable(orm)
    assert [c["id"] for c in one] == [products[k].pk for k in (7, 0, 3, 6, 1, 4)]
    assert {c["availability"]["in_stock"] for c in one} == {True, False}
    assert any(c["image"] for c in one) and not all(c["image"] for c in one)
