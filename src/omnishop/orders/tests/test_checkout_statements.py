"""What one headless checkout costs the database: the request bench/bench_orders_checkout.py makes
(POST /api/v1/orders/checkout, channel key, one SKU, flat shipping, test_card), statement by statement.

Every statement the request sends counts, BEGIN, COMMIT and savepoints included, and so do the subscribers
to order events that run on the request (analytics rollups in the transaction). On PostgreSQL 10 (ADR 0045;
18 before it, 29 before the purchases moved to the outbox, ADR 0036, 45 before December 2026):

  request      1 API key + channel (authenticate_api_key; not cached: a revoked key must stop at once)
  checkout     2 replay check (order by channel + checkout key)
               3 shipping method         4 listings + the destination's tax rate (one query)
               5 BEGIN
               6 payment + order + lines: one INSERT each, the parts of one WITH (the lines take the
                 order's id from its RETURNING)
               7 the trailing writes (core.batch): timeline entry `placed`, every rollup upsert and the
                 order's facts (from the rows just written, nothing read back), order.placed + order.paid
                 with their sequence numbers — one WITH statement
               8 stock plan (one read)   9 take: lock, guard, allocation, lines, stock events and the
                                           order <-> allocation link (one statement)
              10 COMMIT
The recommendation purchase is written by the outbox relay from order.paid: off the request (ADR 0036),
checked here by running the relay.
SQLite runs the same writes as one statement per table (no data-modifying WITH there) and the take as ORM
statements in a savepoint, hence more statements there (25; 28 before ADR 0045).
"""

from __future__ import annotations

import re

import pytest
from django.db import connection

from omnishop.orders.models import Order
from omnishop.recommendations.models import Event

from .conftest import ADDRESS, CARD_OK, assert_books_balance

# A real transaction (not the test's wrapping one): BEGIN/COMMIT and savepoints are what production sees.
pytestmark = pytest.mark.django_db(transaction=True)

MAX_STATEMENTS = {"postgresql": 10, "sqlite": 24}

#: what each statement is (see `label`); a new or moved statement fails the test with its name
STATEMENTS = {
    "postgresql": [
        "read channels_apikey",
        "read orders_order",
        "read orders_shippingmethod",
        "read catalog_channellisting",
        "BEGIN",
        "write payments_payment + orders_order + orders_orderline",
        "write orders_orderevent + backoffice_dailysales + backoffice_productsales + backoffice_dailystatus"
        " + backoffice_orderfacts + core_outboxsequence + core_outboxevent",
        "read catalog_variant",
        "write inventory_allocation + inventory_stocklevel + inventory_allocationline"
        " + inventory_stockevent + inventory_lowstockalert + orders_orderallocation",
        "COMMIT",
    ],
    "sqlite": [
        "read channels_apikey",
        "read orders_order",
        "read orders_shippingmethod",
        "read catalog_channellisting",
        "BEGIN",
        "write payments_payment",
        "write orders_order",
        "write orders_orderline",
        "write orders_orderevent",
        "write backoffice_dailysales",
        "write backoffice_productsales",
        "write backoffice_dailystatus",
        "write backoffice_orderfacts",
        "write core_outboxsequence",
        "write core_outboxevent",
        "read catalog_variant",
        "SAVEPOINT",
        "write inventory_allocation",
        "write inventory_allocationline",
        "write inventory_stockevent",
        "write inventory_stocklevel",
        "write orders_orderallocation",
        "RELEASE",
        "COMMIT",
    ],
}


def label(sql: str) -> str:
    """A statement's name: BEGIN/COMMIT/SAVEPOINT…, `write` + the tables it writes (in order), or `read` +
    the table of its top-level FROM."""
    words = sql.split()
    if words[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"):
        return words[0].upper()
    written = re.findall(r'(?:INSERT INTO|(?<!DO )(?<!FOR )UPDATE)\s+"?(\w+)"?', sql)
    if written:
        return "write " + " + ".join(dict.fromkeys(written))
    top = sql
    while re.search(r"\([^()]*\)", top):  # subqueries (and any parentheses) out: the top level's FROM
        top = re.sub(r"\([^()]*\)", "", top)
    return "read " + re.search(r'FROM\s+"?(\w+)"?', top).group(1)


def checkout_body(sku: str) -> dict:
    return {
        "lines": [{"sku": sku, "quantity": 1}],
        "shipping_method": "standard",
        "shipping_address": ADDRESS,
        "payment": {"provider": "test_card", "token": CARD_OK},
    }


def test_a_headless_checkout_takes_at_most_its_counted_statements(api, shop, django_assert_max_num_queries):
    warm, v = shop.variant(stock=5), shop.variant(stock=5)
    key_api = api.with_key(shop.key)
    # The bench's workers are warm: the first checkout fills the per-process caches.
    first = key_api.post("/orders/checkout", checkout_body(warm.sku), headers={"Idempotency-Key": "w"})
    assert first.status_code == 201, first.content
    with django_assert_max_num_queries(MAX_STATEMENTS[connection.vendor]) as captured:
        r = key_api.post("/orders/checkout", checkout_body(v.sku), headers={"Idempotency-Key": "m"})
    assert r.status_code == 201, r.content
    for i, q in enumerate(captured.captured_queries, 1):  # the list, with -s
        print(f"{i:3d} {' '.join(q['sql'].split())[:400]}")
    assert [label(q["sql"]) for q in captured.captured_queries] == STATEMENTS[connection.vendor]
    # Everything the fewer statements must still write: order, allocation, stock ledger, outbox, rollups;
    # and the relay the recommendation purchase.
    order = Order.objects.get(number=r.json()["number"])
    assert order.status == "paid" and order.lines.get().allocated == 1
    level = shop.stock(v)
    assert (level.on_hand, level.allocated) == (5, 1)
    from omnishop.backoffice.models import DailySales, OrderFacts
    from omnishop.core import outbox
    from omnishop.core.models import OutboxEvent

    events = OutboxEvent.objects.filter(aggregate_id=order.number).order_by("sequence")
    assert [(e.type, e.sequence) for e in events] == [("order.placed", 1), ("order.paid", 2)]
    assert OrderFacts.objects.filter(order_id=order.pk).exists()
    assert DailySales.objects.get(channel=shop.channel).orders == 2
    # The recommendation purchase: off the request, from the relay (ADR 0036).
    assert not Event.objects.filter(kind="purchase", variant_id=v.pk).exists()
    while outbox.relay_once():
        pass
    assert Event.objects.filter(kind="purchase", variant_id=v.pk).count() == 1
    assert_books_balance()


def test_a_replayed_checkout_answers_the_same_order_without_writing(api, shop):
    v = shop.variant(stock=5)
    key_api = api.with_key(shop.key)
    first = key_api.post("/orders/checkout", checkout_body(v.sku), headers={"Idempotency-Key": "r"})
    again = key_api.post("/orders/checkout", checkout_body(v.sku), headers={"Idempotency-Key": "r"})
    assert first.status_code == again.status_code == 201
    assert first.json()["number"] == again.json()["number"] and again["Idempotent-Replayed"] == "true"
    assert shop.stock(v).allocated == 1
    assert_books_balance()


def test_a_failing_part_of_the_merged_statements_undoes_the_whole_checkout(shop, monkeypatch):
    """The payment, order and lines are one statement and the trailing writes another (core.batch): when a
    part fails — here the order's first outbox sequence number is already taken — nothing of the checkout
    stays: no payment, order, timeline, rollup, facts or stock allocated."""
    from django.db import IntegrityError
    from django.utils import timezone

    from omnishop.backoffice.models import DailySales, OrderFacts
    from omnishop.core.models import OutboxEvent
    from omnishop.orders.models import OrderEvent
    from omnishop.orders.services import checkout
    from omnishop.payments.models import Payment

    v = shop.variant(stock=5)
    monkeypatch.setattr(checkout, "new_number", lambda channel: "WEB-TAKEN00001")
    OutboxEvent.objects.create(
        event_id="evt_taken", type="order.placed", aggregate_type="order", aggregate_id="WEB-TAKEN00001",
        sequence=1, payload={}, occurred_at=timezone.now(),
    )  # fmt: skip
    with pytest.raises(IntegrityError):
        shop.checkout({v: 1}, key="fails")
    assert not Order.objects.exists() and not OrderEvent.objects.exists()
    assert not Payment.objects.filter(reference="WEB-TAKEN00001").exists()
    assert not OrderFacts.objects.exists() and not DailySales.objects.exists()
    assert OutboxEvent.objects.filter(aggregate_id="WEB-TAKEN00001").count() == 1
    assert (shop.stock(v).on_hand, shop.stock(v).allocated) == (5, 0)
    assert_books_balance()
    # The same checkout goes through once the number is free.
    monkeypatch.setattr(checkout, "new_number", lambda channel: "WEB-FREE000001")
    order = shop.checkout({v: 1}, key="fails")
    assert order.status == "paid" and shop.stock(v).allocated == 1
    assert DailySales.objects.get(channel=shop.channel).orders == 1
    assert_books_balance()
