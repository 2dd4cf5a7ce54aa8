"""Whatever happens to orders — placed on two channels over several days, paid late, cancelled whole or in
part, refunded, shipped, returned for money or store credit — the rollups equal the totals computed directly
from the orders, payments and returns; and `rebuild` arrives at the same figures."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnishop.backoffice.analytics import rollups
from omnishop.core.errors import DomainError
from omnishop.orders import services
from omnishop.orders.models import Order
from omnishop.payments import services as payments
from omnishop.payments.models import Payment

from .test_analytics_rollups import Shops, assert_rollups_equal_the_orders, receive_one_unit_back, ship_all

pytestmark = pytest.mark.django_db
_keys = itertools.count(1)
REASONS = ["too small", "broken", "not as described", ""]

place = st.tuples(
    st.just("place"),
    st.booleans(),  # marketplace?
    st.integers(0, 2),  # days the clock moves on before this placement (time never goes back at checkout)
    st.lists(st.integers(0, 3), min_size=3, max_size=3).filter(any),
    st.sampled_from([None, 0, 1, 2]),  # customer
    st.booleans(),  # bank transfer (web only)
)
act = st.tuples(
    st.sampled_from(["confirm", "cancel", "cancel_unit", "refund", "ship", "return", "return_credit"]),
    st.integers(0, 30),  # which order (modulo the orders placed)
    st.integers(1, 4000),  # pence to refund, or the reason index
)


@pytest.fixture
def shops(web_channel, market_channel, make_key):
    return Shops(web_channel, market_channel, make_key)


def run(shops, op, placed: list[Order], clock: list[int]) -> None:
    if op[0] == "place":
        _, market, days_later, quantities, customer, bank = op
        clock[0] += days_later
        who = None if customer is None else shops.customers[customer]
        placed.append(
            shops.place(market=market, day=clock[0], quantities=quantities, customer=who, bank=bank)
        )
        return
    if not placed:
        return
    kind, which, n = op
    order = services.get_order(placed[which % len(placed)].number)
    if kind == "confirm":
        for p in Payment.objects.filter(reference=order.payment_reference, status=Payment.Status.PENDING):
            payments.confirm_payment(payment=p)
    elif kind == "cancel":
        services.cancel_order(order=order, actor="staff:1")
    elif kind == "cancel_unit":
        line = next((line for line in order.lines.all() if line.unshipped > 0), None)
        if line is not None:
            services.cancel_order(order=order, quantities={line.pk: 1}, actor="staff:1")
    elif kind == "refund":
        payments.refund_reference(
            reference=order.payment_reference,
            amount=Decimal(n) / 100,
            currency=order.currency,
            key=f"goodwill-{next(_keys)}",
        )
    elif kind == "ship":
        ship_all(order)
    elif kind in ("return", "return_credit"):
        if kind == "return_credit" and order.customer_id is None:
            return
        receive_one_unit_back(order, reason=REASONS[n % len(REASONS)], to_credit=kind == "return_credit")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(st.one_of(place, act), min_size=1, max_size=14),
    first_day=st.integers(0, 40),  # DAY0 is 1 September: histories fall in one month or across two
)
def test_rollups_equal_the_totals_of_orders_payments_and_returns_after_any_history(shops, ops, first_day):
    with transaction.atomic():
        placed: list[Order] = []
        clock = [first_day]
        for op in ops:
            try:
                with transaction.atomic():
                    run(shops, op, placed, clock)
            except DomainError:
                pass  # refused by the business rules (nothing to cancel, not shipped yet, too much …)
            except StopIteration:
                pass  # nothing left to return on that order
        assert_rollups_equal_the_orders()
        rollups.rebuild()
        assert_rollups_equal_the_orders()
        transaction.set_rollback(True)
