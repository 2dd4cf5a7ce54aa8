"""PostgreSQL, real parallel connections: a flash sale on the last units never oversells; a double-submitted
checkout is one order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from omnishop.core.errors import DomainError
from omnishop.orders.models import Order
from omnishop.payments.models import Payment

from .conftest import assert_books_balance

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs real parallel connections (PostgreSQL)")


def run_parallel(fn, n: int, workers: int = 12):
    def wrapped(i):
        try:
            return fn(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(wrapped, range(n)))


def test_flash_sale_sells_exactly_the_units_there_are(shop):
    v = shop.variant(stock=5)

    def buy(i):
        try:
            shop.checkout({v: 1}, key=f"buyer-{i}")
            return "ok"
        except DomainError as exc:
            return exc.code

    outcomes = run_parallel(buy, 30)
    assert outcomes.count("ok") == 5
    assert set(outcomes) == {"ok", "insufficient_stock"}
    assert Order.objects.count() == 5
    level = shop.stock(v)
    assert (level.on_hand, level.allocated, level.reserved) == (5, 5, 0)
    assert Payment.objects.filter(status="captured").count() == 5
    assert_books_balance()


def test_double_submitted_cart_checkout_is_one_order_and_one_charge(shop):
    from omnishop.orders import services

    v = shop.variant(stock=5)
    cart = services.create_cart(channel=shop.channel)
    services.set_line(cart=cart, sku=v.sku, quantity=1)
    services.set_checkout_details(
        cart=cart,
        shipping_address={"name": "A", "line1": "1", "city": "L", "country": "GB"},
        shipping_method="standard",
    )

    def submit(i):
        try:
            order = services.checkout_cart(
                cart=services.get_cart(cart.token),
                payment=services.PaymentRequest("test_card", "4242424242424242"),
                key=f"click-{i}",
                actor="t",
            )
            return order.number
        except DomainError as exc:
            return exc.code

    outcomes = run_parallel(submit, 8, workers=8)
    numbers = {o for o in outcomes if o != "checkout_in_progress"}
    assert len(numbers) == 1 and Order.objects.count() == 1
    assert Payment.objects.count() == 1
    assert shop.stock(v).allocated == 1
