"""Oversell-proof under real concurrency: every buyer on its own PostgreSQL connection, all at once."""

from __future__ import annotations

import queue
import random
import threading
from collections import Counter
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from omnishop.core.errors import DomainError
from omnishop.inventory import services
from omnishop.inventory.models import (
    Allocation,
    Reservation,
    ReservationLine,
    StockEvent,
    StockLevel,
    StockValuation,
)
from omnishop.inventory.services import LineRequest

from .conftest import assert_books_balance

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")


def run_concurrently(work, jobs: list, *, workers: int) -> list[str]:
    """Run work(job) for every job on `workers` threads (each its own connection), released together.

    Returns an outcome per job: "ok", a domain error code, or the repr of any other failure (a deadlock, a
    constraint violation), so such failures show up in the assertion.
    """
    outcomes: list[str | None] = [None] * len(jobs)
    pending = queue.SimpleQueue()
    for index in range(len(jobs)):
        pending.put(index)
    barrier = threading.Barrier(workers)

    def worker():
        barrier.wait()
        try:
            while True:
                try:
                    index = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    work(jobs[index])
                    outcomes[index] = "ok"
                except DomainError as exc:
                    outcomes[index] = exc.code
                except Exception as exc:
                    outcomes[index] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_fifty_buyers_on_the_last_ten_units_exactly_ten_succeed(shop, warehouse, make_variant, stock):
    v = make_variant("LAST-TEN")
    stock(v, warehouse, 10)

    def buy(i):
        services.reserve_stock(channel=shop, lines=[LineRequest("LAST-TEN", 1)], key=f"buyer-{i}")

    outcomes = run_concurrently(buy, list(range(50)), workers=50)
    assert Counter(outcomes) == {"ok": 10, "insufficient_stock": 40}
    level = StockLevel.objects.get(variant=v, location=warehouse)
    assert (level.on_hand, level.reserved, level.free) == (10, 10, 0)
    assert_books_balance()


def test_hot_sku_two_hundred_buyers_one_hundred_units_checkout_and_order(
    shop, warehouse, make_variant, stock
):
    v = make_variant("HOT")
    stock(v, warehouse, 100)

    def checkout(i):
        reservation = services.reserve_stock(channel=shop, lines=[LineRequest("HOT", 1)], key=f"c-{i}")
        services.allocate_reservation(reservation=reservation, order_reference=f"order-{i}")

    outcomes = run_concurrently(checkout, list(range(200)), workers=40)
    assert Counter(outcomes) == {"ok": 100, "insufficient_stock": 100}
    level = StockLevel.objects.get(variant=v, location=warehouse)
    assert (level.on_hand, level.allocated, level.reserved) == (100, 100, 0)
    assert Allocation.objects.count() == 100
    assert_books_balance()


def test_orders_touching_overlapping_skus_in_different_orders_never_deadlock_or_oversell(
    shop, make_location, make_variant, stock
):
    north, south = make_location("north"), make_location("south")
    services.set_channel_locations(channel=shop, location_codes=["north", "south"])
    services.set_policy(channel=shop, allocation_strategy="fewest_locations")
    skus = [f"MULTI-{i}" for i in range(5)]
    for sku in skus:
        v = make_variant(sku)
        stock(v, north, 6)
        stock(v, south, 4)
    rng = random.Random(7)
    orders = []
    for i in range(60):
        lines = rng.sample(skus, rng.randint(2, 5))  # random subset, random order
        orders.append((i, [LineRequest(sku, rng.randint(1, 3)) for sku in lines]))

    def place(order):
        i, lines = order
        services.allocate_stock(channel=shop, lines=lines, order_reference=f"multi-{i}")

    outcomes = run_concurrently(place, orders, workers=30)
    assert set(outcomes) <= {"ok", "insufficient_stock"}, Counter(outcomes)
    assert outcomes.count("ok") >= 1
    allocated = Counter()
    for allocation in Allocation.objects.prefetch_related("lines__variant"):
        for line in allocation.lines.all():
            allocated[line.variant.sku] += line.quantity
    placed = Counter()
    for (_i, lines), outcome in zip(orders, outcomes, strict=True):
        if outcome == "ok":
            for line in lines:
                placed[line.sku] += line.quantity
    assert allocated == placed
    assert all(units <= 10 for units in allocated.values())
    for level in StockLevel.objects.all():
        assert 0 <= level.allocated <= level.on_hand
    assert_books_balance()


def test_the_same_reservation_key_sent_by_many_at_once_holds_stock_once(shop, warehouse, make_variant, stock):
    v = make_variant("DUP")
    stock(v, warehouse, 10)

    def send(_):
        services.reserve_stock(channel=shop, lines=[LineRequest("DUP", 2)], key="double-click")

    outcomes = run_concurrently(send, list(range(12)), workers=12)
    assert set(outcomes) == {"ok"}
    assert Reservation.objects.count() == 1
    assert StockLevel.objects.get(variant=v).reserved == 2
    assert_books_balance()


def test_expiry_sweeper_and_order_placement_racing_on_the_same_holds_settle_each_once(
    shop, warehouse, make_variant, stock
):
    v = make_variant("RACE")
    stock(v, warehouse, 40)
    services.set_policy(channel=shop, reservation_ttl_seconds=1, max_hold_seconds=1)
    reservations = [
        services.reserve_stock(channel=shop, lines=[LineRequest("RACE", 1)], key=f"r-{i}") for i in range(40)
    ]
    Reservation.objects.update(expires_at=timezone.now() + timedelta(milliseconds=300))

    def act(job):
        kind, i = job
        if kind == "sweep":
            services.expire_reservations(now=timezone.now() + timedelta(seconds=1))
        else:
            services.allocate_reservation(reservation=reservations[i], order_reference=f"o-{i}")

    jobs = [("sweep", n) for n in range(4)] + [("place", i) for i in range(40)]
    random.Random(3).shuffle(jobs)
    outcomes = run_concurrently(act, jobs, workers=20)
    assert set(outcomes) <= {"ok", "reservation_expired"}, Counter(outcomes)
    statuses = Counter(Reservation.objects.values_list("status", flat=True))
    assert statuses["active"] == 0 and statuses["converted"] + statuses["expired"] == 40
    assert Allocation.objects.count() == statuses["converted"]
    level = StockLevel.objects.get(variant=v)
    assert (level.reserved, level.allocated) == (0, statuses["converted"])
    assert_books_balance()


def test_concurrent_receipts_of_one_sku_fold_every_unit_into_its_average_once(
    warehouse, make_variant, make_offer
):
    """Eight purchase orders at eight landed costs, received at once: the stock level's row lock serialises
    them, so the average is over every unit, none lost to a concurrent update or a duplicate valuation."""
    v = make_variant(
        "LANDED-RACE"
    )  # no stock level and no valuation yet: the first receipts race to create them
    orders = []
    for n in range(8):
        offer = make_offer(
            v, f"kiln-{n}", cost=f"{n + 1}.0000", freight_per_unit="0.2500", is_preferred=False
        )
        po = services.create_purchase_order(
            supplier=offer.supplier, location=warehouse, lines=[services.OrderLine("LANDED-RACE", n + 1)]
        )
        orders.append(services.send_purchase_order(order=po))

    def receive(po):
        services.receive_purchase_order(
            order=po, lines=[services.ReceiptLine("LANDED-RACE", po.lines.get().quantity, "dn")]
        )

    assert run_concurrently(receive, orders, workers=8) == ["ok"] * 8
    valuation = StockValuation.objects.get(variant=v, location=warehouse)
    units = sum(range(1, 9))  # 36
    value = sum(Decimal(n) * (Decimal(n) + Decimal("0.25")) for n in range(1, 9))  # Σ units × landed
    assert (valuation.quantity, valuation.value) == (units, value)
    assert valuation.average_cost == (value / units).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    assert StockLevel.objects.get(variant=v, location=warehouse).on_hand == units
    assert_books_balance()


@pytest.mark.parametrize(
    ("taken_first", "outcome", "details"),
    [
        (2, "insufficient_stock", {"sku": "HOT", "requested": 2, "available": 1}),
        (1, "ok", None),
    ],
)
def test_a_buyer_who_waited_for_the_hot_row_is_served_or_told_what_is_left_on_it(
    shop, warehouse, make_variant, stock, taken_first, outcome, details
):
    """ADR 0047: a one-line reservation waits in its conditional UPDATE (no FOR UPDATE first); once the
    faster buyer commits, the check runs on the row it left — enough: reserved; too little: refused with the
    units left then, and nothing of the refused reservation stays."""
    v = make_variant("HOT")
    stock(v, warehouse, 3)
    holder, watcher = _second_connection(), _second_connection()
    holder.autocommit = False
    holder.execute(
        "UPDATE inventory_stocklevel SET reserved = reserved + %s WHERE variant_id = %s AND location_id = %s",
        [taken_first, v.pk, warehouse.pk],
    )
    result: dict = {}

    def buy():
        try:
            services.reserve_stock(channel=shop, lines=[LineRequest("HOT", 2)], key="waited")
            result["outcome"] = "ok"
        except DomainError as exc:
            result["outcome"], result["details"] = exc.code, exc.details
        finally:
            connection.close()

    buyer = threading.Thread(target=buy)
    buyer.start()
    try:
        _wait_until_blocked(watcher)
    finally:
        holder.commit()
    buyer.join(timeout=30)
    assert result["outcome"] == outcome
    assert result.get("details") == details
    level = StockLevel.objects.get(variant=v, location=warehouse)
    served = outcome == "ok"
    assert level.reserved == taken_first + (2 if served else 0)
    assert Reservation.objects.filter(key="waited").exists() is served
    assert ReservationLine.objects.filter(quantity=2).exists() is served
    assert StockEvent.objects.filter(cause="reserved").count() == (1 if served else 0)
    holder.close()
    watcher.close()


def _second_connection():
    """A psycopg connection of its own (not Django's), to the same test database."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)


def _wait_until_blocked(watcher) -> None:
    """Until a reservation statement waits for a lock (found by its text: behind PgBouncer the client's
    backend pid is not the server's)."""
    for _ in range(500):
        row = watcher.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND query LIKE %s",
            ["%WITH line(ord, sku, qty)%"],
        ).fetchone()
        if row:
            return
        threading.Event().wait(0.01)
    raise AssertionError("the reservation never waited for the stock row")


def test_a_reservation_writes_its_rows_before_it_waits_for_the_hot_row_and_undoes_them_when_beaten(
    shop, warehouse, make_variant, stock
):
    """ADR 0044: the rows are written before the stock row is locked; if the locked row no longer has the
    units (a faster buyer committed between the snapshot check and the lock), the whole statement is undone."""
    v = make_variant("HOT")
    stock(v, warehouse, 3)
    holder, watcher = _second_connection(), _second_connection()
    holder.autocommit = False
    # Another buyer holds the row (uncommitted) and is about to take every unit.
    holder.execute(
        "UPDATE inventory_stocklevel SET reserved = on_hand WHERE variant_id = %s AND location_id = %s",
        [v.pk, warehouse.pk],
    )
    result: dict = {}

    def buy():
        try:
            services.reserve_stock(channel=shop, lines=[LineRequest("HOT", 2)], key="beaten")
            result["outcome"] = "ok"
        except DomainError as exc:
            result["outcome"], result["details"] = exc.code, exc.details
        finally:
            connection.close()

    buyer = threading.Thread(target=buy)
    buyer.start()
    try:
        _wait_until_blocked(watcher)
        # While it waits for the stock row, its reservation row exists already: a twin insert of the same key
        # has to wait for it (and gives up after the lock timeout).
        with pytest.raises(psycopg.errors.LockNotAvailable), watcher.transaction():
            watcher.execute("SET LOCAL lock_timeout = '200ms'")
            watcher.execute(
                "INSERT INTO inventory_reservation (channel_id, key, reference, status, expires_at, created_at)"
                " VALUES (%s, 'beaten', '', 'active', now(), now())",
                [shop.pk],
            )
    finally:
        holder.commit()  # the faster buyer commits (or the test failed: let the buyer go)
    buyer.join(timeout=30)
    assert result["outcome"] == "insufficient_stock"
    assert result["details"] == {"sku": "HOT", "requested": 2, "available": 0}
    assert not Reservation.objects.filter(key="beaten").exists()
    assert not ReservationLine.objects.exists()
    assert not StockEvent.objects.filter(cause="reserved").exists()
    holder.close()
    watcher.close()
