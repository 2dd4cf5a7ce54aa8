"""Money of an order family (an order and the orders split off it share one payment): after any split,
cancel and partial cancel, the customer has paid exactly what the family still costs — never more."""

from __future__ import annotations

from decimal import Decimal

from omnishop.orders import services
from omnishop.orders.models import Order
from omnishop.payments.models import Payment, Refund

from .conftest import assert_books_balance


def family_balance(order):
    return services.paid(order), services.family_total(order)


def test_cancelling_a_split_parent_then_the_childs_line_refunds_everything(shop):
    """The sequence Hypothesis found: paid 2 units, split 1 off, cancel the parent, cancel the child's line."""
    v = shop.variant(price="4.35")
    order = shop.checkout({v: 2})
    child = services.split_order(order=order, quantities={order.lines.get().pk: 1}, actor="t")
    services.cancel_order(order=services.get_order(order.number), actor="t")
    child = services.get_order(child.number)
    services.cancel_order(order=child, quantities={child.lines.get().pk: 1}, actor="t")

    paid, owed = family_balance(child)
    assert owed == Decimal(0)
    assert paid == Decimal(0)
    assert services.get_order(child.number).status == Order.Status.CANCELLED
    payment = Payment.objects.get(reference=order.number)
    assert payment.refunded == payment.captured
    # two refunds, one per cancellation, with different keys
    assert Refund.objects.filter(payment=payment).count() == 2
    assert_books_balance()
