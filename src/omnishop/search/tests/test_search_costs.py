"""What a search costs the database: statements per search and type-ahead, and the search event's write."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection

from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.recommendations.models import Event
from omnishop.search import services


def _product(channel, title, *, published=True, n):
    product = Product.objects.create(title=title, slug=f"cost-{n}")
    variant = Variant.objects.create(product=product, sku=f"COST-{n}")
    ChannelListing.objects.create(
        channel=channel, variant=variant, is_published=published, price=Decimal("5.00"), currency="GBP"
    )
    return product


@pytest.fixture
def shelf(web_channel):
    return [
        _product(web_channel, title, n=n) for n, title in enumerate(["Blue kettle", "Red kettle", "水壶"])
    ]


@pytest.fixture
def steady_process(settings):
    """A process past its first search: the index freshness check and the synonyms are read at most once
    per OMNISHOP_SEARCH_REFRESH_SECONDS, so a search in steady state does not pay for them."""

    def warm(channel):
        services.search_products(channel=channel, query="kettle", log=False)
        settings.OMNISHOP_SEARCH_REFRESH_SECONDS = 3600

    return warm


@pytest.mark.django_db
def test_a_search_is_three_statements_match_listings_and_its_event(
    web_channel, shelf, steady_process, django_assert_max_num_queries
):
    steady_process(web_channel)
    with django_assert_max_num_queries(3):
        result = services.search_products(channel=web_channel, query="kettle", anonymous_id="v1")
    assert {i["product_id"] for i in result.items} == {shelf[0].pk, shelf[1].pk}
    assert result.facets["price"] == {"min": "5.00", "max": "5.00"}
    with django_assert_max_num_queries(3):
        services.search_products(channel=web_channel, query="水壶", anonymous_id="v1")
    assert Event.objects.filter(kind="search").count() == 2


@pytest.mark.django_db
def test_a_search_that_finds_nothing_reads_no_listings(
    web_channel, shelf, steady_process, django_assert_max_num_queries
):
    steady_process(web_channel)
    with django_assert_max_num_queries(2):  # the match and the search event
        result = services.search_products(channel=web_channel, query="蒙牛", anonymous_id="v1")
    assert result.items == [] and result.total == 0


@pytest.mark.django_db
def test_type_ahead_is_two_statements(web_channel, shelf, steady_process, django_assert_max_num_queries):
    steady_process(web_channel)
    with django_assert_max_num_queries(2):
        suggestions = services.suggest(channel=web_channel, query="ket")
    assert {s["product_id"] for s in suggestions} == {shelf[0].pk, shelf[1].pk}


@pytest.mark.django_db
def test_type_ahead_looks_further_when_the_best_candidates_are_not_sold_on_the_channel(web_channel):
    # Twelve unpublished kettles outrank the two the channel sells (shorter titles, lower ids); a type-ahead
    # of two first reads 2 x 4 candidates, finds none of them sold, and reads the full candidate set.
    for n in range(12):
        _product(web_channel, "Kettle", published=False, n=n)
    sold = [
        _product(web_channel, "Kettle in brushed steel with a long descriptive title", n=100 + n)
        for n in range(2)
    ]
    suggestions = services.suggest(channel=web_channel, query="kett", limit=2)
    assert {s["product_id"] for s in suggestions} == {p.pk for p in sold}
    full = services.search_products(channel=web_channel, query="kett", limit=2, prefix=True, log=False)
    assert [s["product_id"] for s in suggestions] == [i["product_id"] for i in full.items]


@pytest.mark.django_db(transaction=True)
def test_a_logged_search_leaves_the_connections_durability_as_it_was(web_channel, shelf):
    services.search_products(channel=web_channel, query="kettle", anonymous_id="v2")
    event = Event.objects.get(kind="search")
    assert (event.query, event.anonymous_id, event.source) == ("kettle", "v2", "search")
    assert sorted(event.result_ids) == sorted([shelf[0].pk, shelf[1].pk])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"  # set_config(..., true) lasted for the event's own statement


@pytest.mark.django_db
def test_type_ahead_ranks_a_bounded_number_of_the_products_holding_the_prefix(web_channel, monkeypatch):
    # A 3-letter prefix can be held by thousands of products; type-ahead ranks only the first few the
    # index finds (PostgreSQL), so its cost does not grow with the catalogue. FTS5 reads its ranking from
    # its own index and returns the best overall.
    from omnishop.search.backends import backend

    for n in range(6):
        _product(web_channel, f"Kettle number {n}", n=n)
    services.refresh_index(force=True)
    terms = services.parse_query("ket", prefix=True)
    bounded = backend().match(terms, any_term=False, limit=5, rank_at_most=3)
    everything = backend().match(terms, any_term=False, limit=5)
    assert len(everything) == 5
    assert len(bounded) == (3 if connection.vendor == "postgresql" else 5)
    monkeypatch.setattr(services, "SUGGEST_RANKED_AT_MOST", 3)
    assert len(services.suggest(channel=web_channel, query="ket", limit=5)) == len(bounded)


@pytest.mark.django_db
def test_indexing_leaves_nothing_in_the_search_index_pending_list(web_channel, shelf):
    # A GIN pending list is read again by every search until something merges it (after a bulk reindex it
    # held thousands of entries and the planner chose a table scan over the index): indexing merges it.
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's GIN index; FTS5 has no pending list")
    services.refresh_index(force=True)
    _product(web_channel, "Green kettle", n=99)
    assert services.refresh_index(force=True) == 1
    with connection.cursor() as cursor:
        # the number of pending-list pages this merge found: zero if indexing left none
        cursor.execute("SELECT gin_clean_pending_list('search_document_vector'::regclass)")
        assert cursor.fetchone()[0] == 0
