"""The storefront response cache (ADR 0043): a kept body is the body, and a change is seen at the next request.

Real requests through Django's test client and the lean WSGI path; every change goes through the services.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.catalog import services as catalog
from omnishop.catalog.models import Category, Product
from omnishop.storefront import queries, response_cache
from omnishop.storefront.response_cache import ResponseCache

from .test_fast_path import call
from .test_http_caching import CHANGES, DETAIL, LIST, _hoodie_s

pytestmark = pytest.mark.django_db

CACHING = ("ETag", "Last-Modified", "Cache-Control", "Content-Type", "Content-Length")


@pytest.fixture(autouse=True)
def one_version_bucket(settings):
    settings.OMNISHOP_HTTP_CACHE_VERSION_TTL = 10**9  # a test must not straddle two ETag buckets


def _uncached(path: str, settings) -> bytes:
    """What the API renders right now with no cache at all."""
    kept = settings.OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES
    settings.OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES = 0
    try:
        return call(path).content
    finally:
        settings.OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES = kept


@pytest.mark.parametrize("path", [LIST, f"{LIST}?limit=1&ordering=-title&in_stock=true", DETAIL])
def test_a_hit_answers_the_same_bytes_and_headers_as_the_miss_after_one_statement(
    client, store, path, django_assert_num_queries
):
    miss = call(path)
    with django_assert_num_queries(1):  # the catalogue version; no page, detail or stock statement
        hit = call(path)
    with django_assert_num_queries(1):  # the Django endpoint shares the process's cache
        django_hit = client.get(path)

    assert miss.status_code == hit.status_code == django_hit.status_code == 200
    assert hit.content == miss.content == django_hit.content
    assert hit.headers == miss.headers
    for header in CACHING:
        assert django_hit[header] == miss.headers[header], header
    assert response_cache.current().stats()["hits"] == 2


def test_a_head_request_is_answered_from_the_cache_with_the_get_headers(store, django_assert_num_queries):
    get = call(DETAIL)
    with django_assert_num_queries(1):
        head = call(DETAIL, method="HEAD")

    assert head.content == b"" and head.headers == get.headers


def _category_renamed(store):
    from omnishop.catalog.taxonomy import update_category

    update_category(category=Category.objects.get(path="tops"), name="Tops and hoodies")


def _product_deleted(store):
    catalog.delete_product(product=Product.objects.get(slug="tote-bag"))


def _stock_booked_by_an_order(store):
    store.checkout({"HOOD-S": 1})


@pytest.mark.parametrize(
    "change",
    [*CHANGES, _category_renamed, _product_deleted, _stock_booked_by_an_order],
    ids=lambda f: f.__name__.strip("_"),
)
@pytest.mark.parametrize("path", [LIST, DETAIL])
def test_every_kind_of_change_is_in_the_next_answer(store, settings, path, change, make_product, list_in):
    list_in(make_product("Tote bag", slug="tote-bag"), store.channel, "8.00")  # no stock: deletable
    first = call(path)
    assert call(path).content == first.content  # kept

    change(store)

    after = call(path)
    if after.status_code == 200:
        assert after.content == _uncached(path, settings)  # exactly what a fresh render says
        if not (path == DETAIL and change is _product_deleted):  # the only change the hoodie does not show
            assert after.content != first.content
        assert after.headers["ETag"] != first.headers["ETag"]
    else:
        assert after.status_code == 404  # unpublishing the last variant takes the detail away


def test_query_strings_and_channels_never_share_a_body(client, store, market_channel):
    catalog.upsert_listing(
        channel=market_channel, variant=_hoodie_s(), price=Decimal("60.00"), currency="EUR", is_published=True
    )
    paths = [
        LIST,
        f"{LIST}?limit=1",
        f"{LIST}?ordering=-id",
        f"{LIST}?q=hoodie",
        f"{LIST}?in_stock=false",
        "/api/v1/storefront/marketplace/products",
        DETAIL,
        "/api/v1/storefront/web/products/zhen-tee",
        "/api/v1/storefront/marketplace/products/chaz-hoodie",
    ]
    first = {path: call(path).content for path in paths}
    again = {path: call(path).content for path in reversed(paths)}

    assert again == first
    assert len(set(first.values())) == len(paths)  # all different, and each answered its own
    assert response_cache.current().stats()["entries"] == len(paths)
    assert (
        client.get("/api/v1/storefront/marketplace/products/chaz-hoodie").json()["price"]["currency"] == "EUR"
    )


def test_query_strings_that_mean_the_same_page_share_one_body(store, django_assert_num_queries):
    default = call(LIST)
    with django_assert_num_queries(1):
        spelled_out = call(f"{LIST}?limit=20&ordering=id&in_stock=")

    assert spelled_out.content == default.content
    assert response_cache.current().stats()["entries"] == 1


def test_errors_are_never_kept(store):
    for path in (
        "/api/v1/storefront/web/products/no-such-thing",
        "/api/v1/storefront/nowhere/products",
        f"{LIST}?limit=5000",
        f"{LIST}?cursor=not-a-cursor",
    ):
        assert call(path).status_code in (404, 422)
    assert response_cache.current().stats()["entries"] == 0


def test_a_full_cache_evicts_the_least_recently_used_body():
    cache = ResponseCache(4 * (1000 + response_cache.ENTRY_OVERHEAD))
    for key in "abcd":
        cache.put(key, b"x" * 1000)
    assert cache.get("a") is not None  # "b" is now the least recently used

    cache.put("e", b"x" * 1000)

    assert "b" not in cache and all(key in cache for key in "acde")
    stats = cache.stats()
    assert stats["evictions"] == 1 and stats["bytes"] <= stats["max_bytes"]


def test_a_body_larger_than_a_quarter_of_the_bound_is_not_kept():
    cache = ResponseCache(4000)
    cache.put("big", b"x" * 1000)
    assert "big" not in cache and cache.stats()["bytes"] == 0


def test_a_small_bound_keeps_serving_correct_bodies_while_it_evicts(store, settings):
    paths = [LIST, DETAIL, "/api/v1/storefront/web/products/zhen-tee"]
    paths += [
        f"{LIST}?{query}" for query in ("ordering=-id", "ordering=title", "ordering=-title", "in_stock=1")
    ]
    expected = {path: _uncached(path, settings) for path in paths}
    bound = 4 * (max(map(len, expected.values())) + response_cache.ENTRY_OVERHEAD)
    assert sum(len(body) + response_cache.ENTRY_OVERHEAD for body in expected.values()) > bound  # too many
    settings.OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES = bound

    for _ in range(3):
        for path in paths:
            assert call(path).content == expected[path], path

    stats = response_cache.current().stats()
    assert stats["evictions"] > 0 and stats["hits"] + stats["misses"] == 3 * len(paths)
    assert stats["bytes"] <= stats["max_bytes"]


def test_a_bound_of_zero_turns_the_cache_off(store, settings, django_assert_num_queries):
    settings.OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES = 0
    call(DETAIL)
    # the version, the detail, the stock (read by the detail's statement on PostgreSQL): rendered again
    with django_assert_num_queries(3 - queries.stock_in_detail()):
        call(DETAIL)
    assert response_cache.current() is None
