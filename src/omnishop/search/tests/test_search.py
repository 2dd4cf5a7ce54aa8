"""Product search on the database in use (SQLite FTS5 or PostgreSQL full-text search)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.catalog.models import Category, ChannelListing, Product, Variant
from omnishop.recommendations.models import Event
from omnishop.search import services

pytestmark = pytest.mark.django_db

_n = iter(range(1, 10_000))


@pytest.fixture
def add(web_channel):
    def make(
        title, *, price="10.00", description="", category=None, attributes=None, channel=None, published=True
    ):
        n = next(_n)
        product = Product.objects.create(
            title=title,
            slug=f"s-{n}",
            description=description,
            category=category,
            attributes=attributes or {},
        )
        variant = Variant.objects.create(product=product, sku=f"S-{n}")
        ChannelListing.objects.create(
            channel=channel or web_channel,
            variant=variant,
            is_published=published,
            price=Decimal(price),
            currency="GBP",
        )
        return product

    return make


@pytest.fixture
def catalog(add):
    phones = Category.objects.create(name="Phones", slug="phones", path="phones")
    cases = Category.objects.create(name="Cases", slug="cases", path="phones/cases", parent=phones)
    home = Category.objects.create(name="Home", slug="home", path="home")
    return {
        "case_cn": add("苹果手机壳 透明防摔", price="9.90", category=cases, attributes={"colour": "clear"}),
        "case_en": add("Silicone phone case", price="12.00", category=cases, attributes={"colour": "red"}),
        "phone": add("华为手机 Mate 60", price="699.00", category=phones, attributes={"colour": "black"}),
        "mug": add("Ceramic coffee mug", price="8.00", category=home, description="dishwasher safe"),
        "teapot": add("Cast iron teapot", price="35.00", category=home, description="for loose leaf tea"),
        "hidden": add("Phone case prototype", published=False),
    }


def ids(result):
    return [i["product_id"] for i in result.items]


def test_chinese_query_finds_phone_cases_by_segmented_words(web_channel, catalog):
    result = services.search_products(channel=web_channel, query="手机壳")
    assert ids(result)[0] == catalog["case_cn"].pk
    assert catalog["hidden"].pk not in ids(result)


def test_english_query_ranks_title_matches_and_stems_plurals(web_channel, catalog):
    result = services.search_products(channel=web_channel, query="phone cases")
    assert ids(result)[0] == catalog["case_en"].pk
    tea = services.search_products(channel=web_channel, query="tea")
    assert ids(tea) == [catalog["teapot"].pk]  # "tea" in the description; "teapot" is another word


def test_type_ahead_matches_word_prefixes(web_channel, catalog):
    titles = [s["title"] for s in services.suggest(channel=web_channel, query="cera")]
    assert titles == ["Ceramic coffee mug"]
    assert services.suggest(channel=web_channel, query="sil")[0]["product_id"] == catalog["case_en"].pk


def test_synonyms_expand_a_query(web_channel, catalog):
    assert ids(services.search_products(channel=web_channel, query="cup")) == []
    services.set_synonyms(term="cup", synonyms=["mug"])
    assert ids(services.search_products(channel=web_channel, query="cup")) == [catalog["mug"].pk]


def test_filters_and_facets(web_channel, catalog):
    phones = Category.objects.get(path="phones")
    result = services.search_products(
        channel=web_channel,
        query="",
        filters=services.Filters(category_id=phones.pk, max_price=Decimal("20")),
    )
    assert set(ids(result)) == {catalog["case_cn"].pk, catalog["case_en"].pk}
    assert result.facets["category"] == [{"value": "phones", "count": 2}]
    assert {v["value"] for v in result.facets["attributes"]["colour"]} == {"clear", "red"}
    red = services.search_products(
        channel=web_channel, query="case", filters=services.Filters(attributes={"colour": "red"})
    )
    assert ids(red) == [catalog["case_en"].pk]


def test_a_product_changed_after_indexing_is_found_by_its_new_title(web_channel, catalog):
    services.search_products(channel=web_channel, query="mug")
    mug = catalog["mug"]
    mug.title = "Stoneware coffee beaker"
    mug.save()
    assert ids(services.search_products(channel=web_channel, query="beaker")) == [mug.pk]


def test_every_search_is_logged_as_an_event_with_its_results(web_channel, catalog):
    services.search_products(channel=web_channel, query="teapot", anonymous_id="v9")
    event = Event.objects.get(kind="search")
    assert (event.query, event.anonymous_id, event.result_ids) == ("teapot", "v9", [catalog["teapot"].pk])


def test_search_is_scoped_to_the_channel(market_channel, web_channel, catalog):
    assert ids(services.search_products(channel=market_channel, query="mug")) == []


HOSTILE = [
    '"',
    '"phone',
    "phone*",
    "NEAR(phone case)",
    "phone OR 1=1",
    "phone AND NOT case",
    "title:phone",
    "phone' OR ''='",
    "(((",
    "-case",
    "^phone",
    "😀📱 case",
    "手机case壳",
    "ｐｈｏｎｅ",
    "a & b | !c <-> d:*",
    "\\",
    "%_%",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_operator_injection_emoji_and_mixed_scripts_give_sane_results(
    api, web_channel, make_key, catalog, query
):
    response = api.with_key(make_key(web_channel, ["catalog:read"])).get("/search/products", {"q": query})
    assert response.status_code in (200, 422), response.content
    if response.status_code == 200:
        assert catalog["hidden"].pk not in [i["product_id"] for i in response.json()["items"]]
    else:
        assert response.json()["error"]["code"] == "query_empty"


def test_search_api_with_filters_paging_and_errors(api, web_channel, make_key, catalog):
    client = api.with_key(make_key(web_channel, ["catalog:read"]))
    first = client.get("/search/products", {"q": "phone case", "limit": 1})
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["total"] >= 2 and len(body["items"]) == 1 and body["next_cursor"]
    second = client.get("/search/products", {"q": "phone case", "limit": 1, "cursor": body["next_cursor"]})
    assert second.json()["items"][0]["product_id"] != body["items"][0]["product_id"]
    assert client.get("/search/products", {"q": ""}).json()["error"]["code"] == "query_empty"
    too_long = client.get("/search/products", {"q": "x" * 10_240})
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "query_too_long"
    for params, field in [
        ({"q": "a", "min_price": "cheap"}, "min_price"),
        ({"q": "a", "max_price": "-1"}, "max_price"),
        ({"q": "a", "attr": "colour"}, "attr"),
        ({"q": "a", "attr": "x__contains:1"}, "attr"),
        ({"q": "a", "category": 99999}, "category"),
        ({"q": "a", "cursor": "garbage"}, "cursor"),
        ({"q": "a", "limit": 0}, "limit"),
    ]:
        bad = client.get("/search/products", params)
        assert bad.status_code == 422, (params, bad.content)
        assert bad.json()["error"]["field"] == field
    assert client.get("/search/suggest", {"q": "sil"}).json()[0]["title"] == "Silicone phone case"


def test_search_access(api, web_channel, make_key, staff_api, catalog):
    assert api.get("/search/products", {"q": "mug"}).status_code == 401
    assert (
        api.with_key(make_key(web_channel, ["events:write"]))
        .get("/search/products", {"q": "mug"})
        .status_code
        == 403
    )
    assert staff_api.get("/search/products", {"q": "mug", "channel": "web"}).status_code == 200
    assert staff_api.get("/search/products", {"q": "mug", "channel": "nope"}).status_code == 404
    key = make_key(web_channel, ["catalog:read"])
    assert (
        api.with_key(key).get("/search/products", {"q": "mug", "channel": "marketplace"}).status_code == 403
    )
    put = staff_api.put("/search/synonyms", {"term": "Tee", "synonyms": ["T-shirt", "top"]})
    assert put.status_code == 200 and put.json() == {"term": "tee", "synonyms": ["t shirt", "top"]}
    assert staff_api.put("/search/synonyms", {"term": "two words", "synonyms": []}).status_code == 422


def test_prices_in_results_have_the_currencys_minor_units(api, web_channel, make_key, catalog):
    client = api.with_key(make_key(web_channel, ["catalog:read"]))
    body = client.get("/search/products", {"q": "teapot"}).json()
    assert [(i["min_price"], i["currency"]) for i in body["items"]] == [("35.00", "GBP")]
    assert body["facets"]["price"] == {"min": "35.00", "max": "35.00"}


@pytest.mark.parametrize("value", ["1E+30", "1e999999999", "10000000000", "NaN", "Infinity", "12.123456"])
@pytest.mark.parametrize("field", ["min_price", "max_price"])
def test_a_price_filter_an_amount_column_cannot_hold_is_a_422_naming_it(
    api, web_channel, make_key, catalog, field, value
):
    client = api.with_key(make_key(web_channel, ["catalog:read"]))
    response = client.get("/search/products", {"q": "phone case", field: value})
    assert response.status_code == 422, response.content
    assert response.json()["error"]["field"] == field


def test_price_filters_publish_the_bounds_of_an_amount():
    from omnishop.api import api as ninja_api

    operation = ninja_api.get_openapi_schema()["paths"]["/api/v1/search/products"]["get"]
    for p in operation["parameters"]:
        if p["name"] in ("min_price", "max_price"):
            numbers = [s for s in p["schema"]["anyOf"] if s.get("type") == "number"]
            assert numbers and numbers[0]["maximum"] < 10**10, p


def test_price_filters_within_bounds_still_filter(api, web_channel, make_key, catalog):
    client = api.with_key(make_key(web_channel, ["catalog:read"]))
    cheap = client.get("/search/products", {"q": "phone case", "max_price": "9999999999.9999"})
    none = client.get("/search/products", {"q": "phone case", "min_price": "9999999999.9999"})
    assert cheap.status_code == none.status_code == 200, (cheap.content, none.content)
    assert cheap.json()["total"] >= 2 and none.json()["total"] == 0
