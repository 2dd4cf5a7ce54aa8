"""HTTP caching of the public catalogue: ETag, Last-Modified, Cache-Control, 304 — and a change is never hidden.

Real requests through Django's test client (and the lean WSGI path `omnishop serve` runs); every change is
made through the services a merchant's screens and APIs call.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils.http import http_date

from omnishop.catalog import services as catalog
from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.inventory import services as inventory

from .test_fast_path import call

pytestmark = pytest.mark.django_db

LIST = "/api/v1/storefront/web/products"
DETAIL = "/api/v1/storefront/web/products/chaz-hoodie"


@pytest.fixture(autouse=True)
def one_version_bucket(settings):
    # An ETag lives at most one OMNISHOP_HTTP_CACHE_VERSION_TTL bucket; a test must not straddle two.
    settings.OMNISHOP_HTTP_CACHE_VERSION_TTL = 10**9


def _hoodie_s() -> Variant:
    return Variant.objects.get(sku="HOOD-S")


def _change_title(store):
    catalog.update_product(product=Product.objects.get(slug="chaz-hoodie"), title="Chaz Hoodie, warmer")


def _change_price(store):
    catalog.upsert_listing(channel=store.channel, variant=_hoodie_s(), price="49.00")


def _unpublish(store):
    catalog.upsert_listing(channel=store.channel, variant=_hoodie_s(), is_published=False)


def _delete_listing(store):
    catalog.delete_listing(listing=ChannelListing.objects.get(channel=store.channel, variant__sku="HOOD-M"))


def _add_image(store):
    catalog.add_image(
        product=Product.objects.get(slug="chaz-hoodie"), url="https://img.example.com/hoodie-back.jpg"
    )


def _receive_stock(store):
    inventory.receive_stock(variant=Variant.objects.get(sku="HOOD-L"), location=store.warehouse, quantity=3)


def _sell_the_last_one(store):
    inventory.adjust_stock(
        variant=Variant.objects.get(sku="HOOD-M"), location=store.warehouse, delta=-1, reason_code="damaged"
    )


CHANGES = [
    _change_title,
    _change_price,
    _unpublish,
    _delete_listing,
    _add_image,
    _receive_stock,
    _sell_the_last_one,
]


@pytest.mark.parametrize("path", [LIST, DETAIL])
def test_a_public_catalogue_read_carries_validators_and_public_cache_control(client, store, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response["ETag"].startswith('W/"')
    assert response["Last-Modified"].endswith(" GMT")
    assert response["Cache-Control"] == "public, max-age=60, stale-while-revalidate=300"
    assert "Cookie" not in response.get("Vary", "")
    assert "Set-Cookie" not in response


@pytest.mark.parametrize("path", [LIST, DETAIL])
def test_a_revalidation_with_the_current_etag_is_304_after_one_statement(
    client, store, path, django_assert_num_queries
):
    first = client.get(path)

    with django_assert_num_queries(1):  # the catalogue version only: nothing is rendered
        again = client.get(path, HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"]
    assert again["Cache-Control"] == first["Cache-Control"]
    assert again["Last-Modified"] == first["Last-Modified"]


def test_if_modified_since_is_answered_304_when_nothing_changed_and_200_for_an_older_copy(client, store):
    first = client.get(DETAIL)

    assert client.get(DETAIL, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    assert client.get(DETAIL, HTTP_IF_MODIFIED_SINCE=http_date(0)).status_code == 200
    # If-None-Match decides alone when both are sent (RFC 9110 §13.2.2).
    stale = client.get(DETAIL, HTTP_IF_NONE_MATCH='W/"old"', HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert stale.status_code == 200


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("path", [LIST, DETAIL])
def test_every_kind_of_change_makes_the_next_revalidation_a_200_with_a_new_etag(client, store, path, change):
    first = client.get(path)
    assert client.get(path, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304

    change(store)

    after = client.get(path, HTTP_IF_NONE_MATCH=first["ETag"])
    assert after.status_code in (200, 404)  # unpublishing every variant would make the detail a 404
    assert after.get("ETag") != first["ETag"]
    if after.status_code == 200:
        assert after.content != first.content
        assert client.get(path, HTTP_IF_NONE_MATCH=after["ETag"]).status_code == 304


def test_the_fast_path_answers_the_same_validators_and_304(client, store):
    for path in (LIST, f"{LIST}?limit=1&ordering=-id", DETAIL):
        slow = client.get(path)
        fast = call(path)
        assert fast.status_code == 200
        for header in ("ETag", "Last-Modified", "Cache-Control"):
            assert fast.headers[header] == slow[header], (path, header)

        revalidated = call(path, HTTP_IF_NONE_MATCH=slow["ETag"])
        assert revalidated.status_code == 304 and revalidated.content == b""
        assert revalidated.headers["ETag"] == slow["ETag"]
        assert "Content-Length" not in revalidated.headers and "Content-Type" not in revalidated.headers
        assert revalidated.headers["X-Content-Type-Options"] == "nosniff"

    _change_price(store)
    assert call(DETAIL, HTTP_IF_NONE_MATCH=slow["ETag"]).status_code == 200


def test_max_age_and_stale_while_revalidate_come_from_settings(client, store, settings):
    settings.OMNISHOP_HTTP_CACHE_MAX_AGE = 5
    settings.OMNISHOP_HTTP_CACHE_STALE_WHILE_REVALIDATE = 45

    assert client.get(LIST)["Cache-Control"] == "public, max-age=5, stale-while-revalidate=45"
    assert call(LIST).headers["Cache-Control"] == "public, max-age=5, stale-while-revalidate=45"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/storefront/web/products/no-such-thing",
        "/api/v1/storefront/nowhere/products",
        "/api/v1/storefront/web/products?limit=5000",
    ],
)
def test_errors_carry_no_validators_and_are_never_answered_304(client, store, path):
    for answer in (client.get(path, HTTP_IF_NONE_MATCH="*"), call(path, HTTP_IF_NONE_MATCH="*")):
        status = answer.status_code
        headers = answer.headers
        assert status in (404, 422)
        assert "ETag" not in headers and "Cache-Control" not in headers


def test_channels_keep_their_own_prices_under_their_own_tags(client, store, market_channel):
    catalog.upsert_listing(
        channel=market_channel, variant=_hoodie_s(), price=Decimal("60.00"), currency="EUR", is_published=True
    )
    web = client.get(DETAIL)
    market = client.get("/api/v1/storefront/marketplace/products/chaz-hoodie")

    assert market.json()["price"]["currency"] == "EUR" and web.json()["price"]["currency"] == "GBP"
    assert web["ETag"] != market["ETag"]


# --- the web shop's pages: the product list (category) and the product page -----------------------------

CATEGORY_PAGE = "/c/tops/"
PRODUCT_PAGE = "/p/chaz-hoodie/"


def test_the_product_list_page_is_public_for_an_anonymous_visitor_and_revalidates_with_304(client, store):
    first = client.get(CATEGORY_PAGE)

    assert first.status_code == 200 and "sessionid" not in first.cookies
    assert first["Cache-Control"] == "public, max-age=60, stale-while-revalidate=300"
    assert {"Cookie", "Accept-Language"} <= {v.strip() for v in first["Vary"].split(",")}
    again = client.get(CATEGORY_PAGE, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == first["ETag"] and again["Cache-Control"] == first["Cache-Control"]


def test_the_product_page_is_private_but_revalidates_with_304(client, store):
    first = client.get(PRODUCT_PAGE)

    # Its Add to cart form carries a CSRF token bound to this browser: never in a shared cache.
    assert first["Cache-Control"] == "private, max-age=0, must-revalidate"
    assert client.get(PRODUCT_PAGE, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


@pytest.mark.parametrize(
    "change",
    [_change_title, _change_price, _unpublish, _receive_stock, _sell_the_last_one],
    ids=lambda f: f.__name__.strip("_"),
)
def test_every_kind_of_change_gives_the_product_page_a_new_etag(client, store, change):
    first = client.get(PRODUCT_PAGE)

    change(store)

    after = client.get(PRODUCT_PAGE, HTTP_IF_NONE_MATCH=first["ETag"])
    assert after.status_code == 200 and after["ETag"] != first["ETag"]


def _sell_out_the_tee(store):
    inventory.adjust_stock(
        variant=Variant.objects.get(sku="TEE-1"), location=store.warehouse, delta=-20, reason_code="damaged"
    )


@pytest.mark.parametrize("change", [_change_price, _sell_out_the_tee], ids=lambda f: f.__name__.strip("_"))
def test_a_price_or_stock_change_gives_the_product_list_page_a_new_etag(client, store, change):
    first = client.get(f"{CATEGORY_PAGE}?in_stock=1")

    change(store)

    after = client.get(f"{CATEGORY_PAGE}?in_stock=1", HTTP_IF_NONE_MATCH=first["ETag"])
    assert after.status_code == 200 and after["ETag"] != first["ETag"]


def test_a_signed_in_shopper_or_a_cart_holder_never_gets_a_publicly_cacheable_page(
    client, store, django_user_model
):
    user = django_user_model.objects.create_user(username="ada", email="ada@example.com", password="x" * 12)
    client.force_login(user)

    for path in (CATEGORY_PAGE, PRODUCT_PAGE, "/"):
        response = client.get(path)
        assert response["Cache-Control"].startswith("private"), path
        assert "Cookie" in response["Vary"], path

    client.logout()
    client.post("/cart/add", {"sku": "HOOD-S", "quantity": 1})
    assert client.get(CATEGORY_PAGE)["Cache-Control"].startswith("private")
