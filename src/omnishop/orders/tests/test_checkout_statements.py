"""What one headless checkout costs the database: the request bench/bench_orders_checkout.py makes
(POST /api/v1/orders/checkout, channel key, one SKU, flat shipping, test_card), statement by statement."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from .conftest import ADDRESS, CARD_OK, assert_books_balance

# A real transaction (not the test's wrapping one): BEGIN/COMMIT and savepoints are what production sees.
pytestmark = pytest.mark.django_db(transaction=True)


def checkout_body(sku: str) -> dict:
    return {
        "lines": [{"sku": sku, "quantity": 1}],
        "shipping_method": "standard",
        "shipping_address": ADDRESS,
        "payment": {"provider": "test_card", "token": CARD_OK},
    }


def test_checkout_statements_listed(api, shop):
    warm, v = shop.variant(stock=5), shop.variant(stock=5)
    key_api = api.with_key(shop.key)
    # The bench's workers are warm: the first checkout fills the per-process caches.
    assert key_api.post("/orders/checkout", checkout_body(warm.sku), headers={"Idempotency-Key": "w"}).status_code == 201
    with CaptureQueriesContext(connection) as captured:
        r = key_api.post("/orders/checkout", checkout_body(v.sku), headers={"Idempotency-Key": "m"})
    assert r.status_code == 201, r.content
    for i, q in enumerate(captured.captured_queries, 1):
        print(f"{i:3d} {' '.join(q['sql'].split())[:400]}")
    print("TOTAL", len(captured.captured_queries), connection.vendor)
    assert_books_balance()
