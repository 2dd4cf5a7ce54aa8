"""A channel's shoppers browse its published products: prices in its currency, pages, filters, bad input."""

from __future__ import annotations

import pytest
from django.db import connection

from omnishop.catalog.models import Product, Variant
from omnishop.storefront.schemas import ProductPageOut

pytestmark = pytest.mark.django_db


def slugs(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["slug"] for item in response.json()["items"]]


def test_a_published_product_shows_its_price_range_in_the_channel_currency(
    api, web_channel, make_product, list_in, make_category
):
    hoodie = make_product("Hoodie", variants=3, category=make_category("men/tops"), images=2)
    list_in(hoodie, web_channel, ["30", "25.5", "32.125"], compare_at="40")
    body = api.get("/storefront/web/products").json()
    ProductPageOut.model_validate(body)
    assert body["next_cursor"] is None
    (card,) = body["items"]
    assert card["slug"] == hoodie.slug and card["title"] == "Hoodie"
    assert card["price"] == {"currency": "GBP", "min": "25.50", "max": "32.13"}
    assert card["compare_at_price"] == "40.00"
    assert card["category"] == {"path": "men/tops", "name": "Tops"}
    assert card["image"] == {"url": f"https://img.example.com/{hoodie.slug}/0.jpg", "alt": "Hoodie 0"}


def test_unpublished_listings_inactive_products_and_inactive_variants_are_never_shown(
    api, web_channel, make_product, list_in
):
    shown = make_product("Shown")
    list_in(shown, web_channel)
    draft = make_product("Draft")
    list_in(draft, web_channel, published=False)
    retired = make_product("Retired", is_active=False)
    list_in(retired, web_channel)
    half = make_product("Half retired", variants=2)
    list_in(half, web_channel, ["5", "500"])
    Variant.objects.filter(product=half, position=1).update(is_active=False)
    gone = make_product("All variants retired")
    list_in(gone, web_channel)
    Variant.objects.filter(product=gone).update(is_active=False)

    body = api.get("/storefront/web/products").json()
    assert [i["slug"] for i in body["items"]] == [shown.slug, half.slug]
    assert body["items"][1]["price"] == {"currency": "GBP", "min": "5.00", "max": "5.00"}


def test_one_channel_never_shows_another_channels_listings_or_prices(
    api, web_channel, market_channel, make_product, list_in
):
    both = make_product("Sold everywhere")
    list_in(both, web_channel, "10")
    list_in(both, market_channel, "12.5", title="Überall verkauft")
    web_only = make_product("Web only")
    list_in(web_only, web_channel, "3")
    market_draft = make_product("Published on web, draft on the marketplace")
    list_in(market_draft, web_channel, "4")
    list_in(market_draft, market_channel, "5", published=False)

    market = api.get("/storefront/marketplace/products").json()["items"]
    assert [(i["slug"], i["title"], i["price"]) for i in market] == [
        (both.slug, "Überall verkauft", {"currency": "EUR", "min": "12.50", "max": "12.50"})
    ]
    assert slugs(api.get("/storefront/web/products")) == [both.slug, web_only.slug, market_draft.slug]


def test_prices_use_the_minor_units_of_the_channel_currency(api, make_channel, make_product, list_in):
    tokyo = make_channel("tokyo", "pos_store", "JPY")
    product = make_product("Tenugui")
    list_in(product, tokyo, "1200.4")
    (card,) = api.get("/storefront/tokyo/products").json()["items"]
    assert card["price"] == {"currency": "JPY", "min": "1200", "max": "1200"}


def test_pages_cover_every_product_once_even_when_products_arrive_between_pages(
    api, web_channel, make_product, list_in
):
    products = [make_product(f"Mug {i:02}") for i in range(45)]
    for product in products:
        list_in(product, web_channel)
    seen = []
    page = api.get("/storefront/web/products").json()
    assert len(page["items"]) == 20
    seen += [i["slug"] for i in page["items"]]
    late = make_product("Arrived late")
    list_in(late, web_channel)
    while page["next_cursor"]:
        page = api.get("/storefront/web/products", {"cursor": page["next_cursor"]}).json()
        seen += [i["slug"] for i in page["items"]]
    assert seen == [p.slug for p in products] + [late.slug]


def test_a_page_size_and_newest_first_ordering_can_be_chosen(api, web_channel, make_product, list_in):
    products = [make_product(f"Card {i}") for i in range(5)]
    for product in products:
        list_in(product, web_channel)
    first = api.get("/storefront/web/products", {"limit": 2, "ordering": "-id"}).json()
    assert [i["slug"] for i in first["items"]] == [products[4].slug, products[3].slug]
    second = api.get(
        "/storefront/web/products", {"limit": 2, "ordering": "-id", "cursor": first["next_cursor"]}
    )
    assert slugs(second) == [products[2].slug, products[1].slug]


def test_ordering_by_title_pages_through_equal_titles_without_loss(api, web_channel, make_product, list_in):
    titles = ["Bag", "apron", "Candle", "Bag", "Bag", "Doormat"]
    products = [make_product(t) for t in titles]
    for product in products:
        list_in(product, web_channel)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "ordering": "title", **({"cursor": cursor} if cursor else {})}
        page = api.get("/storefront/web/products", params).json()
        seen += [i["slug"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    expected = sorted(Product.objects.all(), key=lambda p: (p.title, p.pk))
    assert seen == [p.slug for p in expected]


def test_category_filter_includes_the_whole_subtree_and_nothing_beside_it(
    api, web_channel, make_product, list_in, make_category
):
    tee = make_product("Tee", category=make_category("men/tops/tees"))
    jeans = make_product("Jeans", category=make_category("men/bottoms"))
    dress = make_product("Dress", category=make_category("menswear-lookalike"))
    for product in (tee, jeans, dress):
        list_in(product, web_channel)
    assert slugs(api.get("/storefront/web/products", {"category": "men"})) == [tee.slug, jeans.slug]
    assert slugs(api.get("/storefront/web/products", {"category": "men/tops"})) == [tee.slug]
    assert slugs(api.get("/storefront/web/products", {"category": "women"})) == []


def test_text_search_matches_product_or_channel_title_case_insensitively(
    api, web_channel, make_product, list_in
):
    lantern = make_product("White metal LANTERN")
    list_in(lantern, web_channel)
    renamed = make_product("Tealight holder")
    list_in(renamed, web_channel, title="Hanging lantern tealight")
    percent = make_product("100% cotton tote")
    list_in(percent, web_channel)
    assert slugs(api.get("/storefront/web/products", {"q": "lantern"})) == [lantern.slug, renamed.slug]
    assert slugs(api.get("/storefront/web/products", {"q": "0% c"})) == [percent.slug]
    assert slugs(api.get("/storefront/web/products", {"q": "_"})) == []


@pytest.mark.parametrize("ordering", ["id", "title"])
def test_listing_a_page_is_the_catalogue_version_then_one_sql_statement_plus_one_for_stock(
    api, web_channel, make_product, list_in, django_assert_num_queries, ordering
):
    from omnishop.storefront import queries, services

    for i in range(25):
        list_in(make_product(f"Thing {i}", variants=3, images=2), web_channel)
    # The catalogue version (ETag, Last-Modified: storefront/caching.py), the page, the stock — which the id-ordered
    # page on PostgreSQL reads in its own statement (ADR 0057).
    separate_stock = services._availability_service() is not None and not queries.stock_in_page(
        ordering, None
    )
    with django_assert_num_queries(2 + separate_stock):
        response = api.get("/storefront/web/products", {"ordering": ordering})
    assert len(response.json()["items"]) == 20


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"cursor": "not-a-cursor"}, "invalid_cursor", "cursor"),
        (
            {"cursor": "WyJpZCIsImEiLDFd"},
            "invalid_cursor",
            "cursor",
        ),  # ["id","a",1]: well-formed, wrong types
        ({"limit": "100000"}, "validation_error", "limit"),
        ({"limit": "0"}, "validation_error", "limit"),
        ({"limit": "twenty"}, "validation_error", "limit"),
        ({"ordering": "price; DROP TABLE x"}, "invalid_ordering", "ordering"),
        ({"in_stock": "perhaps"}, "validation_error", "in_stock"),
        ({"q": "x" * 201}, "validation_error", "q"),
        ({"colour": "red"}, "unknown_field", "colour"),
    ],
)
def test_bad_list_parameters_are_a_422_naming_the_parameter(api, web_channel, params, code, field):
    response = api.get("/storefront/web/products", params)
    assert response.status_code == 422, response.content
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)


def test_a_cursor_from_another_ordering_is_refused(api, web_channel, make_product, list_in):
    for i in range(3):
        list_in(make_product(f"P{i}"), web_channel)
    cursor = api.get("/storefront/web/products", {"limit": 1}).json()["next_cursor"]
    response = api.get("/storefront/web/products", {"cursor": cursor, "ordering": "title"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_cursor"


def test_unknown_and_inactive_channels_are_not_found(api, make_channel, make_product, list_in):
    closed = make_channel("closed-store", "pos_store", "GBP")
    list_in(make_product("Left behind"), closed)
    closed.is_active = False
    closed.save()
    for code in ("nowhere", "closed-store"):
        response = api.get(f"/storefront/{code}/products")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "channel_not_found"


def test_an_active_channel_with_nothing_published_lists_an_empty_page(api, web_channel):
    assert api.get("/storefront/web/products").json() == {"items": [], "next_cursor": None}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="server-side prepared statements")
def test_the_page_statement_is_prepared_on_the_connection_unless_switched_off(
    api, settings, web_channel, make_product, list_in
):
    """storefront.queries.prepared_statements (core.statements.preparing on the read connection): the page's
    statement is a server-side prepared statement, planned once per connection. Each limit is its own text
    (a literal LIMIT), so each check here starts from a statement no earlier test prepared."""

    def prepared(limit: int) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                [f"%LIMIT {limit + 1}\n%"],
            )
            return cursor.fetchone()[0]

    settings.OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES = 0
    list_in(make_product("Lamp"), web_channel)
    for _ in range(2):
        assert api.get("/storefront/web/products", {"limit": 37}).status_code == 200
    assert prepared(37) == 1
    settings.OMNISHOP_STOREFRONT_PREPARE = False
    assert api.get("/storefront/web/products", {"limit": 41}).status_code == 200
    assert prepared(41) == 0
