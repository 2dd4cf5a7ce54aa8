"""The per-channel product cards (ADR 0059) stay equal to the catalogue they are made from, whatever writes it.

PostgreSQL only: the cards are a table that triggers on products, variants, listings and images keep in the
writing transaction. After every change drawn by Hypothesis — single saves, queryset updates, bulk inserts,
deletions with their cascades, a variant moved to another product, a listing moved to another channel or
variant — the
table must equal the cards computed afresh from the catalogue, and a page read from the cards must equal the
portable page statement's (SQLite's, which never reads the cards). Two transactions changing one product at
once must leave the card of both changes, and a TRUNCATE, a rebuild and the rebuild command give the same cards.
"""

from __future__ import annotations

import json
from decimal import Decimal

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnishop.catalog.models import Category, ChannelListing, Product, ProductImage, Variant
from omnishop.storefront import caching, queries
from omnishop.storefront.cards import refresh_late_cards

from .test_page_forms import all_forms, build, clear, product_shape

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the product cards are PostgreSQL's (SQLite reads the catalogue tables)")


def cards() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM storefront_productcard ORDER BY channel_id, product_id")
        return cursor.fetchall()


def fresh_cards() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM storefront_card_rows(ARRAY(SELECT id FROM catalog_product)) ORDER BY 1, 2"
        )
        return cursor.fetchall()


def assert_cards_match_the_catalogue() -> None:
    assert cards() == fresh_cards()
    for ordering in ("id", "-title"):
        forms = all_forms(
            channel_code="web",
            ordering=ordering,
            after=None,
            limit=50,
            category_path=None,
            q=None,
        )
        assert forms["cards"] == forms["portable"]


# One change to the catalogue, applied to whatever exists when it runs (by position, modulo the count).
change = st.one_of(
    st.tuples(st.just("price"), st.integers(0, 20), st.integers(1, 60)),
    st.tuples(st.just("publish"), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("listing_title"), st.integers(0, 20), st.sampled_from(["", "Gift", "Zebra"])),
    st.tuples(st.just("all_prices"), st.integers(1, 60)),  # one UPDATE over many listings
    st.tuples(st.just("move_listing"), st.integers(0, 20)),  # to the other channel, if free there
    st.tuples(st.just("relist"), st.integers(0, 20), st.integers(0, 20)),  # to another variant, if free there
    st.tuples(st.just("delete_listing"), st.integers(0, 20)),
    st.tuples(st.just("add_listings"), st.integers(0, 20)),  # bulk_create for every unlisted variant
    st.tuples(st.just("variant_active"), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("move_variant"), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.just("delete_variant"), st.integers(0, 20)),
    st.tuples(st.just("product_active"), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("product_title"), st.integers(0, 20), st.sampled_from(["Apple", "mug", "Zebra"])),
    st.tuples(st.just("product_category"), st.integers(0, 20), st.sampled_from([None, "home", "gifts"])),
    st.tuples(st.just("delete_product"), st.integers(0, 20)),
    st.tuples(st.just("image_first"), st.integers(0, 20)),  # a new image in front of the others
    st.tuples(st.just("delete_image"), st.integers(0, 20)),
    st.tuples(
        st.just("deactivate_all"),
    ),  # Product.objects.update(is_active=False): every card goes
)


def _nth(queryset, n: int):
    items = list(queryset.order_by("pk"))
    return items[n % len(items)] if items else None


def apply(step: tuple, channels) -> None:
    kind, *args = step
    if kind == "price" and (listing := _nth(ChannelListing.objects, args[0])):
        listing.price = Decimal(args[1])
        listing.save()
    elif kind == "publish" and (listing := _nth(ChannelListing.objects, args[0])):
        ChannelListing.objects.filter(pk=listing.pk).update(is_published=args[1])
    elif kind == "listing_title" and (listing := _nth(ChannelListing.objects, args[0])):
        listing.title = args[1]
        listing.save()
    elif kind == "all_prices":
        ChannelListing.objects.filter(channel=channels["web"]).update(price=Decimal(args[0]))
    elif kind == "move_listing" and (listing := _nth(ChannelListing.objects, args[0])):
        other = channels["other"] if listing.channel_id == channels["web"].pk else channels["web"]
        if not ChannelListing.objects.filter(channel=other, variant_id=listing.variant_id).exists():
            ChannelListing.objects.filter(pk=listing.pk).update(channel=other)
    elif kind == "relist" and (listing := _nth(ChannelListing.objects, args[0])):
        target = _nth(Variant.objects, args[1])
        if not ChannelListing.objects.filter(channel_id=listing.channel_id, variant=target).exists():
            ChannelListing.objects.filter(pk=listing.pk).update(variant=target)
    elif kind == "delete_listing" and (listing := _nth(ChannelListing.objects, args[0])):
        listing.delete()
    elif kind == "add_listings":
        unlisted = Variant.objects.exclude(listings__channel=channels["web"])
        ChannelListing.objects.bulk_create(
            ChannelListing(channel=channels["web"], variant=v, price=Decimal(5 + args[0]), currency="GBP")
            for v in unlisted
        )
    elif kind == "variant_active" and (variant := _nth(Variant.objects, args[0])):
        variant.is_active = args[1]
        variant.save()
    elif kind == "move_variant" and (variant := _nth(Variant.objects, args[0])):
        if target := _nth(Product.objects, args[1]):
            Variant.objects.filter(pk=variant.pk).update(product=target)
    elif kind == "delete_variant" and (variant := _nth(Variant.objects, args[0])):
        variant.delete()
    elif kind == "product_active" and (product := _nth(Product.objects, args[0])):
        product.is_active = args[1]
        product.save()
    elif kind == "product_title" and (product := _nth(Product.objects, args[0])):
        product.title = args[1]
        product.save()
    elif kind == "product_category" and (product := _nth(Product.objects, args[0])):
        product.category = Category.objects.filter(path=args[1]).first() if args[1] else None
        product.save()
    elif kind == "delete_product" and (product := _nth(Product.objects, args[0])):
        product.delete()
    elif kind == "image_first" and (product := _nth(Product.objects, args[0])):
        ProductImage.objects.create(product=product, url=f"https://i/new/{product.pk}", alt="new", position=0)
    elif kind == "delete_image" and (image := _nth(ProductImage.objects, args[0])):
        image.delete()
    elif kind == "deactivate_all":
        Product.objects.update(is_active=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(catalogue=st.lists(product_shape, min_size=1, max_size=6), steps=st.lists(change, max_size=8))
def test_the_cards_equal_the_catalogue_after_any_changes(channels, catalogue, steps):
    clear()
    try:
        build(catalogue, channels)
        assert_cards_match_the_catalogue()
        for step in steps:
            apply(step, channels)
            assert_cards_match_the_catalogue()
    finally:
        clear()
    assert cards() == []


def test_a_listing_moved_to_another_product_s_variant_takes_its_card_along(channels):
    one = {"active": True, "web": (4, True, None, ""), "other": None}
    unlisted = {"active": True, "web": None, "other": None}
    build(
        [
            {"title": "mug", "active": True, "category": None, "images": [], "variants": [one]},
            {"title": "bag", "active": True, "category": None, "images": [], "variants": [unlisted]},
        ],
        channels,
    )
    mug, bag = Product.objects.order_by("pk")
    assert [c[1] for c in cards()] == [mug.pk]
    ChannelListing.objects.update(variant=bag.variants.get())
    assert [c[1] for c in cards()] == [bag.pk]
    assert_cards_match_the_catalogue()


def bulk_listed(channel, n: int, prefix: str, price: int) -> list[Product]:
    """n active products of one active variant each, listed and published in `channel`, in three bulk inserts."""
    products = Product.objects.bulk_create(
        Product(title=f"{prefix}{i:04}", slug=f"{prefix.lower()}-{i}", is_active=True) for i in range(n)
    )
    variants = Variant.objects.bulk_create(
        Variant(product=p, sku=f"{prefix}-{p.pk}", is_active=True) for p in products
    )
    ChannelListing.objects.bulk_create(
        ChannelListing(channel=channel, variant=v, price=price, currency="GBP", is_published=True)
        for v in variants
    )
    return products


def test_bulk_inserts_and_updates_of_many_products_keep_every_card(channels):
    """One statement's thousands of rows are refreshed together (migration 0003: by joins, not by searching an
    array per row) and give every card, then after an update of them all and a deactivation of half."""
    products = bulk_listed(channels["web"], 1500, "B", price=4)
    assert len(cards()) == 1500
    assert cards() == fresh_cards()
    ChannelListing.objects.update(price=7)
    assert {card[6] for card in cards()} == {Decimal("7.0000")}
    Product.objects.filter(pk__in=[p.pk for p in products[::2]]).update(is_active=False)
    assert len(cards()) == 750
    assert cards() == fresh_cards()


def _work(node: dict) -> int:
    """Rows a plan node produced or threw away, over all its loops, with its children's."""
    rows = node.get("Actual Rows", 0) + sum(
        node.get(key, 0)
        for key in ("Rows Removed by Filter", "Rows Removed by Join Filter", "Rows Removed by Index Recheck")
    )
    return rows * node.get("Actual Loops", 1) + sum(_work(child) for child in node.get("Plans", ()))


def test_a_bulk_refresh_works_in_proportion_to_its_products_under_plans_cached_on_an_empty_catalogue(
    channels,
):
    """PL/pgSQL keeps a statement's generic plan for the connection; made while the catalogue's statistics said
    "empty", 0003's lock statement joined every product against the whole array (the full suite: 36 s for one
    `bulk_create` of 20,000 products, 199,990,000 rows removed by a join filter). Migration 0004 leaves no join
    a plan could turn quadratic. Measured without a clock: auto_explain reports every statement the triggers run,
    with the rows each plan node produced or discarded, and none may exceed a small multiple of the products."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            pytest.skip("loading auto_explain takes a superuser")
    # Statistics of an empty catalogue that has held rows (pages, no live tuple: estimated at one row).
    bulk_listed(channels["web"], 5, "E", price=1)
    Product.objects.all().delete()
    n = 2000
    plans: list[dict] = []

    def collect(diagnostic) -> None:
        message = diagnostic.message_primary or ""
        if message.startswith("duration:") and "plan:" in message:
            plans.append(json.loads(message.split("plan:", 1)[1]))

    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE catalog_product, catalog_variant, catalog_channellisting, storefront_productcard"
        )
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        # The functions' plans are made now, on those statistics.
        bulk_listed(channels["web"], 1, "W", price=1)
        cursor.execute("LOAD 'auto_explain'")
        for setting, value in (
            ("auto_explain.log_min_duration", "0"),
            ("auto_explain.log_nested_statements", "on"),
            ("auto_explain.log_analyze", "on"),
            ("auto_explain.log_timing", "off"),
            ("auto_explain.log_format", "json"),
            ("client_min_messages", "log"),
        ):
            cursor.execute("SELECT set_config(%s, %s, true)", [setting, value])
    connection.connection.add_notice_handler(collect)
    try:
        bulk_listed(channels["web"], n, "B", price=4)
        ChannelListing.objects.update(price=7)
    finally:
        connection.connection.remove_notice_handler(collect)
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('client_min_messages', 'notice', true)")
            cursor.execute("SELECT set_config('auto_explain.log_min_duration', '-1', true)")
    assert sum("FOR NO KEY UPDATE" in p["Query Text"] for p in plans) >= 4  # a refresh per statement
    heaviest = max(plans, key=lambda p: _work(p["Plan"]))
    assert _work(heaviest["Plan"]) <= 30 * n, heaviest
    assert len(cards()) == n + 1 and cards() == fresh_cards()


def test_a_card_holds_what_a_list_shows(channels):
    build(
        [
            {
                "title": "Red Mug",
                "active": True,
                "category": "home/kitchen",
                "images": [2, 0],
                "variants": [
                    {"active": True, "web": (12, True, 20, "Mug, red"), "other": None},
                    {"active": True, "web": (15, True, None, ""), "other": (9, True, None, "")},
                    {"active": False, "web": (1, True, None, ""), "other": None},
                ],
            }
        ],
        channels,
    )
    product = Product.objects.get()
    variants = list(product.variants.order_by("position"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT channel_id, slug, title, category_id, variant_ids, low, high, compare_at, listing_title,"
            " image_url, image_alt FROM storefront_productcard WHERE product_id = %s ORDER BY channel_id",
            [product.pk],
        )
        rows = cursor.fetchall()
    assert rows == [
        (
            channels["web"].pk,
            "p-0",
            "Red Mug",
            Category.objects.get(path="home/kitchen").pk,
            [variants[0].pk, variants[1].pk],  # not the inactive one
            Decimal("12.0000"),
            Decimal("15.0000"),
            Decimal("20.0000"),
            "Mug, red",
            "https://i/0/1",  # position 0 first
            "0-1",
        ),
        (
            channels["other"].pk,
            "p-0",
            "Red Mug",
            rows[1][3],
            [variants[1].pk],
            Decimal("9.0000"),
            Decimal("9.0000"),
            None,
            "",
            "https://i/0/1",
            "0-1",
        ),
    ]


def test_truncating_the_catalogue_and_rebuilding_give_the_same_cards(channels):
    build(
        [
            {
                "title": "mug",
                "active": True,
                "category": None,
                "images": [0],
                "variants": [{"active": True, "web": (3, True, None, ""), "other": None}],
            }
        ],
        channels,
    )
    before = cards()
    assert len(before) == 1
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM storefront_productcard")  # what a bug or a restore could leave
    assert cards() == []
    version = caching.catalogue_validators("web").etag
    call_command("rebuild_product_cards", verbosity=0)
    assert cards() == before
    assert caching.catalogue_validators("web").etag != version  # nothing cached before is served after
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # a TRUNCATE waits for no deferred check
        cursor.execute("TRUNCATE catalog_productimage")  # which fires no row trigger: its own one rebuilds
    assert cards() == fresh_cards()
    assert cards()[0][-2:] == (None, None)


def _connect():
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params)


def _mug(channels, n: int = 1) -> None:
    """n products of two listed variants each (prices 10 and 30 on the web shop)."""
    variant = {"active": True, "web": (10, True, None, ""), "other": (12, True, None, "")}
    build(
        [
            {
                "title": f"mug {i}",
                "active": True,
                "category": None,
                "images": [],
                "variants": [variant, {**variant, "web": (30, True, None, "")}],
            }
            for i in range(n)
        ],
        channels,
    )


def _waiting() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT product_id FROM storefront_productcard_waiting ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_two_transactions_changing_one_product_at_once_leave_a_card_with_both_changes(channels):
    """The first changes a listing's price and holds its transaction open; the second meanwhile deactivates
    another variant of the same product. The second neither waits for the first nor writes a card from a
    snapshot without the first's price: it leaves the product waiting, and the relay's late refresh, once
    both have committed, writes the card of both changes (and changes the catalogue version)."""
    _mug(channels)
    first_variant, second_variant = Variant.objects.order_by("position")
    listing = ChannelListing.objects.get(variant=first_variant, channel=channels["web"])
    with _connect() as first, _connect() as second:
        for conn in (first, second):
            conn.execute("SET lock_timeout = '10s'")  # 0004's refresh waited here: fail instead of hanging
        first.execute("UPDATE catalog_channellisting SET price = 5 WHERE id = %s", [listing.pk])
        second.execute("UPDATE catalog_variant SET is_active = false WHERE id = %s", [second_variant.pk])
        second.commit()  # while the first is still open
        first.commit()
    product = first_variant.product_id
    assert _waiting() == [product]
    assert cards() != fresh_cards()  # the first's card, computed before the second's change
    before = caching.catalogue_validators("web")
    assert refresh_late_cards() == 1
    assert _waiting() == [] and cards() == fresh_cards()
    (card,) = [c for c in cards() if c[0] == channels["web"].pk]
    assert card[5] == [first_variant.pk]
    assert (card[6], card[7]) == (Decimal("5.0000"), Decimal("5.0000"))
    assert caching.catalogue_validators("web").etag != before.etag
    assert refresh_late_cards() == 0
    clear()


@pytest.mark.django_db(transaction=True)
def test_transactions_writing_two_products_in_opposite_orders_neither_wait_nor_deadlock(channels):
    """Listings of products A then B in one transaction, other listings of B then A in another: without the
    cards they touch different rows. 0002–0004's refresh held each product's lock to the end of the
    transaction, so the second statements waited for each other (PostgreSQL: deadlock detected). Now each
    leaves the product the other holds waiting, and the late refresh completes both cards."""
    _mug(channels, n=2)
    a, b = Product.objects.order_by("pk")
    web, other = channels["web"], channels["other"]
    listing = {
        (p.pk, ch.pk): ChannelListing.objects.filter(variant__product=p, channel=ch).order_by("pk").first().pk
        for p in (a, b)
        for ch in (web, other)
    }
    with _connect() as first, _connect() as second:
        for conn in (first, second):
            conn.execute("SET lock_timeout = '10s'")
        update = "UPDATE catalog_channellisting SET price = %s WHERE id = %s"
        first.execute(update, [1, listing[a.pk, web.pk]])
        second.execute(update, [2, listing[b.pk, other.pk]])
        first.execute(update, [3, listing[b.pk, web.pk]])
        second.execute(update, [4, listing[a.pk, other.pk]])
        first.commit()
        second.commit()
    assert sorted(_waiting()) == [a.pk, b.pk]
    refresh_late_cards()
    assert _waiting() == [] and cards() == fresh_cards()
    prices = {(c[1], c[0]): c[6] for c in cards()}
    assert prices[a.pk, web.pk] == 1 and prices[a.pk, other.pk] == 4
    assert prices[b.pk, web.pk] == 3 and prices[b.pk, other.pk] == 2
    clear()


def test_the_title_keyset_is_one_index_condition_on_the_cards(channels):
    """The planner may pick any index for a handful of rows: the test fills the cards, analyses them and
    leaves it no sort, so that the only way to the rows in title order is the title index, and then requires
    the keyset to be that index's condition rather than a filter over the whole channel."""
    bulk_listed(channels["web"], 400, "T", price=5)
    assert len(cards()) == 400
    sql = queries._page_sql("postgresql", True, queries.ORDERINGS["title"][1], "", "title", 20, False, True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE storefront_productcard")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN (COSTS OFF) " + sql, ["web", "T0100", 0])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "storefront_productcard_title" in plan, plan
    assert "ROW((title)::text, product_id) > ROW" in plan, plan


def test_the_relay_looks_for_waiting_products_at_most_once_a_second(monkeypatch):
    """A relay round runs every 20–80 ms under load; the look for waiting products (one statement) does not."""
    from django.test.utils import CaptureQueriesContext

    from omnishop.storefront import cards as late

    monkeypatch.setattr(late, "_next_look", 0.0)
    with CaptureQueriesContext(connection) as first:
        assert late.relay_step() == 0
    with CaptureQueriesContext(connection) as second:
        assert late.relay_step() == 0
    assert (len(first), len(second)) == (1, 0)
    assert "omnishop.storefront.cards.relay_step" in django_settings.OMNISHOP_RELAY_WORKERS
