"""What one headless checkout costs the database: the request bench/bench_orders_checkout.py makes
(POST /api/v1/orders/checkout, channel key, one SKU, flat shipping, test_card), statement by statement.

Every statement the request sends counts, BEGIN, COMMIT and savepoints included, and so do the subscribers
to order events that run on the request (analytics rollups in the transaction). On PostgreSQL (18; was 45
before the round-trip work of December 2026, 29 before the purchases moved to the outbox, ADR 0036):

  request      1 API key + channel (authenticate_api_key; not cached: a revoked key must stop at once)
  checkout     2 replay check (order by channel + checkout key)
               3 shipping method         4 listings + the destination's tax rate (one query)
               5 BEGIN                   6 payment INSERT (the test card answers before the row is written)
               7 order INSERT            8 lines INSERT (bulk)      9 timeline entry `placed`
  analytics   10 old facts (FOR UPDATE)  11 the order's facts      12 its lines' facts
              13 every rollup upsert and the facts upsert (one statement)
  checkout    14 outbox: order.placed + order.paid with their sequence numbers (one statement)
              15 stock plan (one read)   16 take: lock, guard, allocation, lines, stock events (one statement)
              17 order ↔ allocation link 18 COMMIT
The recommendation purchase (11 statements in its own transaction, after the commit, until ADR 0036) is
written by the outbox relay from order.paid: off the request, checked here by running the relay.
SQLite runs the take as ORM statements in the transaction (allocation, lines, events, guarded UPDATE) and
the rollups as one statement per table, hence more statements there (28; 39 before ADR 0036).
"""

from __future__ import annotations

import pytest
from django.db import connection

from omnishop.orders.models import Order
from omnishop.recommendations.models import Event

from .conftest import ADDRESS, CARD_OK, assert_books_balance

# A real transaction (not the test's wrapping one): BEGIN/COMMIT and savepoints are what production sees.
pytestmark = pytest.mark.django_db(transaction=True)

MAX_STATEMENTS = {"postgresql": 18, "sqlite": 28}


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
