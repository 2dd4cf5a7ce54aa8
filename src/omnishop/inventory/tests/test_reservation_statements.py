"""A reservation at a one-location channel is one statement on PostgreSQL, and decides exactly as the
two-step plan-then-take path does (buffer, quota, refusals, replays, other channels' shapes)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from omnishop.core.errors import IdempotencyKeyReused
from omnishop.inventory import services
from omnishop.inventory.errors import InsufficientStock, UnknownSku
from omnishop.inventory.models import Reservation, ReservationLine, StockEvent
from omnishop.inventory.services import LineRequest

from .conftest import assert_books_balance

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement path is PostgreSQL's"
)


def reserve(channel, *lines, key="k", **kwargs):
    return services.reserve_stock(
        channel=channel, lines=[LineRequest(s, q) for s, q in lines], key=key, **kwargs
    )


@postgres_only
def test_a_reservation_is_one_prepared_statement(shop, warehouse, make_variant, stock, level):
    for sku in ("A", "B"):
        stock(make_variant(sku), warehouse, 5)
    with CaptureQueriesContext(connection) as captured:
        reservation = reserve(shop, ("A", 2), ("B", 1))
    assert len(captured.captured_queries) == 1
    with connection.connection.cursor() as cursor:  # planned once per connection, like the raw-SQL baseline
        prepared = cursor.execute("SELECT statement FROM pg_prepared_statements").fetchall()
    # Behind a transaction-mode pooler (OMNISHOP_DB_POOLER) nothing is prepared, by design (ADR 0031).
    assert any("WITH line(ord, sku, qty)" in row[0] for row in prepared) == settings.OMNISHOP_DB_PREPARE
    stored = Reservation.objects.get()
    assert (reservation.pk, reservation.expires_at, reservation.status) == (
        stored.pk,
        stored.expires_at,
        "active",
    )
    assert sorted(stored.lines.values_list("variant__sku", "location_id", "quantity")) == [
        ("A", warehouse.pk, 2),
        ("B", warehouse.pk, 1),
    ]
    assert StockEvent.objects.filter(cause="reserved").count() == 2
    assert_books_balance()


@postgres_only
def test_a_one_line_reservation_is_one_prepared_statement_whose_text_the_client_parses_once(
    shop, warehouse, make_variant, stock
):
    """ADR 0047: psycopg re-parses the placeholders of a statement longer than 4,096 bytes at every call
    (≈ 0.1 ms of client CPU a reservation); the one-line statement, the common checkout, stays below."""
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_PARAMS

    from omnishop.inventory.services import reserving

    stock(make_variant("A"), warehouse, 5)
    with CaptureQueriesContext(connection) as captured:
        reserve(shop, ("A", 2))
    sql = captured.captured_queries[0]["sql"]
    assert sql == reserving._sql(1)
    assert len(sql.encode()) <= MAX_CACHED_STATEMENT_LENGTH
    assert sql.count("%s") <= MAX_CACHED_STATEMENT_PARAMS
    assert_books_balance()


@postgres_only
def test_a_refusal_for_lack_of_stock_is_one_statement_and_writes_nothing(
    shop, warehouse, make_variant, stock
):
    stock(make_variant("A"), warehouse, 5)
    stock(make_variant("B"), warehouse, 1)
    with CaptureQueriesContext(connection) as captured, pytest.raises(InsufficientStock) as caught:
        reserve(shop, ("A", 2), ("B", 3))
    assert len(captured.captured_queries) == 1
    assert caught.value.details == {"sku": "B", "requested": 3, "available": 1}
    assert not Reservation.objects.exists() and not ReservationLine.objects.exists()
    assert not StockEvent.objects.filter(cause="reserved").exists()


def test_the_buffer_and_the_quota_are_checked_as_the_plan_checks_them(
    shop, warehouse, make_variant, stock, level
):
    v = make_variant("PEN")
    stock(v, warehouse, 50)
    services.set_policy(channel=shop, quota_percent=80, quota_minus=2, safety_buffer=20)  # promise 30
    with pytest.raises(InsufficientStock) as caught:
        reserve(shop, ("PEN", 31), key="too-many")
    assert caught.value.details["available"] == 30
    reserve(shop, ("PEN", 30), key="all-of-it")
    with pytest.raises(InsufficientStock) as caught:  # 20 free: min(20 - 20, 16 - 2) = 0
        reserve(shop, ("PEN", 1), key="one-more")
    assert caught.value.details["available"] == 0
    assert level(v, warehouse).reserved == 30
    assert_books_balance()


def test_ttl_comes_from_the_policy_or_its_default(shop, warehouse, make_variant, stock):
    stock(make_variant("A"), warehouse, 5)
    first = reserve(shop, ("A", 1), key="default")
    assert (first.expires_at - first.created_at).total_seconds() == 15 * 60
    services.set_policy(channel=shop, reservation_ttl_seconds=120)
    second = reserve(shop, ("A", 1), key="policy")
    assert (second.expires_at - second.created_at).total_seconds() == 120
    assert Reservation.objects.get(pk=second.pk).expires_at == second.expires_at


def test_what_one_statement_cannot_decide_gets_the_general_answer(shop, warehouse, make_variant, stock):
    stock(make_variant("A"), warehouse, 5)
    first = reserve(shop, ("A", 2), key="same")
    assert reserve(shop, ("A", 2), key="same").pk == first.pk  # a replay
    with pytest.raises(IdempotencyKeyReused):
        reserve(shop, ("A", 1), key="same")
    with pytest.raises(UnknownSku):
        reserve(shop, ("A", 1), ("NOPE", 1), key="unknown")
    assert Reservation.objects.count() == 1
    assert_books_balance()


def test_a_channel_with_two_locations_still_plans_across_them(
    shop, warehouse, make_location, make_variant, stock, level
):
    second = make_location("second-wh")
    services.set_channel_locations(channel=shop, location_codes=[warehouse.code, second.code])
    v = make_variant("A")
    stock(v, warehouse, 2)
    stock(v, second, 3)
    reserve(shop, ("A", 4))
    assert (level(v, warehouse).reserved, level(v, second).reserved) == (2, 2)
    assert_books_balance()
