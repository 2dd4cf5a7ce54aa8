"""PostgreSQL, real parallel connections: a till that lost its connection mid-upload sends the same batch
again while the first upload is still running — one order per sale, stock taken once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from omnishop.orders.models import Order
from omnishop.payments.models import Payment
from omnishop.tills.models import TillSale

from .conftest import assert_books_balance, sale

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")


def run_parallel(fn, n: int):
    def wrapped(i):
        try:
            return fn(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(wrapped, range(n)))


def test_racing_uploads_of_the_same_batch_make_one_order_per_sale(store):
    mugs = [store.variant(stock=10) for _ in range(3)]
    batch = [sale((m, 2, "10.00")) for m in mugs]

    def upload(_):
        response = store.upload(batch)
        assert response.status_code == 200, response.content
        return [r["outcome"] for r in response.json()["results"]]

    outcomes = run_parallel(upload, 6)
    for i in range(3):
        column = sorted(o[i] for o in outcomes)
        assert column == ["created"] + ["duplicate"] * 5, column
    assert Order.objects.count() == 3 and TillSale.objects.count() == 3
    assert Payment.objects.count() == 3
    assert [store.level(m).on_hand for m in mugs] == [8, 8, 8]
    assert_books_balance()


def test_racing_oversells_at_a_store_that_allows_it_all_go_through_and_balance(store):
    store.allow_negative()
    mug = store.variant(stock=3)

    def upload(i):
        return store.upload([sale((mug, 1, "10.00"))]).json()["results"][0]["outcome"]

    outcomes = run_parallel(upload, 8)
    assert outcomes.count("created") + outcomes.count("exception") == 8
    assert outcomes.count("exception") >= 5
    assert store.level(mug).on_hand == -5
    assert_books_balance()
