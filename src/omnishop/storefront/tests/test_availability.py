"""Shoppers see what the channel can promise from its own stock locations, and can hide what is sold out."""

from __future__ import annotations

import pytest
from django.apps import apps

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
