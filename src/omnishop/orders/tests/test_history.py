"""Past orders and credit notes written in bulk (orders.services.history): the order model's rules hold —
one line per variant, returned ≤ fulfilled, paid = captured − refunded ≥ 0 — for any mix of invoices and
credit notes, and nothing touches stock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from hypothesis import given
from hypothesis import strategies as st

from omnishop.catalog.models import Product, Variant
from omnishop.customers.models import Customer
from omnishop.inventory.models import StockMovement
from omnishop.orders.models import Order, OrderLine, ReturnRequest
from omnishop.orders.services.history import (
    PastLine,
    PastReturn,
    PastReturnLine,
    PastSale,
    record_past_returns,
    record_past_sales,
)
from omnishop.payments.models import Payment, Refund
from omnishop.payments.services import paid_amount
from omnishop.testing import search_settings

pytestmark = pytest.mark.django_db
T0 = datetime(2011, 1, 3, 9, tzinfo=UTC)


@pytest.fixture
def variants(db):
    out = []
    for n in range(3):
        product = Product.objects.create(title=f"Mug {n}", slug=f"mug-{n}")
        out.append(Variant.objects.create(product=product, sku=f"MUG-{n}"))
    return out


def sale(number, when, customer, lines, shipping="0", fees="0"):
    return PastSale(
        external_id=number,
        occurred_at=when,
        currency="GBP",
        customer_id=customer.pk if customer else None,
        lines=[PastLine(v.pk, v.sku, v.product.title, q, Decimal(a)) for v, q, a in lines],
        shipping=Decimal(shipping),
        fees=Decimal(fees),
    )


def test_long_channel_codes_that_share_a_prefix_never_share_an_order_number(make_channel, variants):
    eu = make_channel("marketplace-europe-north", "marketplace", "GBP")
    us = make_channel("marketplace-europe-south", "marketplace", "GBP")
    for channel in (eu, us):
        outcome = record_past_sales(
            channel=channel, sales=[sale("1000001", T0, None, [(variants[0], 1, "5")])], actor="test"
        )
        assert outcome == {"1000001": "created"}
    numbers = list(Order.objects.values_list("number", flat=True))
    assert len(set(numbers)) == 2 and all(len(n) <= 40 for n in numbers)


def test_charges_below_zero_cannot_be_a_paid_order(make_channel, variants):
    web = make_channel("web", "web", "GBP")
    outcome = record_past_sales(
        channel=web, sales=[sale("9", T0, None, [(variants[0], 1, "5")], fees="-6")], actor="test"
    )
    assert outcome == {"9": "negative_total"} and not Order.objects.exists()


def test_past_orders_touch_no_stock_and_are_completed(make_channel, variants):
    web = make_channel("web", "web", "GBP")
    record_past_sales(channel=web, sales=[sale("1", T0, None, [(variants[1], 3, "7.50")])], actor="t")
    order = Order.objects.get()
    line = order.lines.get()
    assert (order.status, line.allocated, line.fulfilled) == (Order.Status.COMPLETED, 3, 3)
    assert not StockMovement.objects.exists()


invoice = st.tuples(
    st.integers(0, 2),  # customer
    st.lists(st.tuples(st.integers(0, 2), st.integers(1, 6), st.integers(0, 900)), min_size=1, max_size=4),
    st.integers(0, 500),  # shipping pence
)
credit = st.tuples(
    st.integers(0, 2),
    st.lists(
        st.tuples(st.one_of(st.none(), st.integers(0, 2)), st.integers(1, 8), st.integers(1, 900)), max_size=3
    ),
)


@search_settings("order_history")
@given(
    events=st.lists(
        st.one_of(invoice.map(lambda x: ("sale", x)), credit.map(lambda x: ("credit", x))), max_size=12
    )
)
def test_any_mix_of_invoices_and_credit_notes_keeps_the_order_invariants(make_channel, variants, events):
    Order.objects.all().delete()
    Refund.objects.all().delete()
    Payment.objects.all().delete()
    channel = make_channel(f"hist{Customer.objects.count()}", "web", "GBP")
    customers = [Customer.objects.create(first_name=f"C{n}") for n in range(3)]
    for n, (kind, data) in enumerate(events):
        when = T0 + timedelta(hours=n)
        if kind == "sale":
            who, lines, ship = data
            record_past_sales(
                channel=channel,
                sales=[
                    sale(
                        f"S{n}",
                        when,
                        customers[who],
                        [(variants[v], q, Decimal(p) / 100 * q) for v, q, p in lines],
                        shipping=str(Decimal(ship) / 100),
                    )
                ],
                actor="t",
            )
        else:
            who, lines = data
            note = PastReturn(
                external_id=f"C{n}",
                occurred_at=when,
                currency="GBP",
                customer_id=customers[who].pk,
                lines=[
                    PastReturnLine(
                        variant_id=variants[v].pk if v is not None else None,
                        sku=variants[v].sku if v is not None else "D",
                        quantity=q,
                        amount=Decimal(p) / 100 * q,
                    )
                    for v, q, p in lines
                ],
            )
            outcome = record_past_returns(channel=channel, returns=[note], actor="t")[note.external_id]
            for line, matched in zip(note.lines, outcome.matched, strict=True):
                assert 0 <= matched <= line.quantity
    for order in Order.objects.filter(channel=channel):
        lines = list(order.lines.all())
        assert len({x.variant_id for x in lines}) == len(lines)
        assert all(0 <= x.returned <= x.fulfilled == x.quantity for x in lines)
        captured = (
            Payment.objects.filter(reference=order.payment_reference).aggregate(s=Sum("captured"))["s"] or 0
        )
        refunded = (
            Refund.objects.filter(payment__reference=order.payment_reference).aggregate(s=Sum("amount"))["s"]
            or 0
        )
        assert captured == order.total
        assert paid_amount(reference=order.payment_reference) == captured - refunded >= 0
        # What the returns say they refunded is what the payment gave back.
        assert (order.returns.aggregate(s=Sum("refund_amount"))["s"] or 0) == refunded
        returned = sum(x.returned for x in lines)
        expected = (
            Order.Status.RETURNED
            if lines and returned == sum(x.fulfilled for x in lines)
            else Order.Status.PARTIALLY_RETURNED
            if returned
            else Order.Status.COMPLETED
        )
        assert order.status == expected
    units = ReturnRequest.objects.filter(order__channel=channel).aggregate(s=Sum("lines__quantity"))["s"] or 0
    assert units == (OrderLine.objects.filter(order__channel=channel).aggregate(s=Sum("returned"))["s"] or 0)


def test_invoices_are_found_again_through_the_partial_unique_index_however_many(make_channel, variants):
    """The lookup of a batch's invoices among the channel's orders states the condition of the partial unique
    index on (channel, external_id): PostgreSQL proves `external_id <> ''` from an IN list of at most 100
    values only, and read every order of the table for a longer list — a sequential scan per batch of an
    import (measured with EXPLAIN ANALYZE after nine Online Retail months, 12,960 orders, 150 invoices: a
    sequential scan in 2.2 ms without the condition, the index in 0.3 ms with it; the scan grows with the
    table). The plan itself is not asserted here: on a test database's few rows the planner may rightly
    prefer another index or a scan."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    web = make_channel("web", "web", "GBP")
    sales = [sale(str(500000 + n), T0, None, [(variants[0], 1, "5")]) for n in range(150)]
    with CaptureQueriesContext(connection) as captured:
        record_past_sales(channel=web, sales=sales, actor="test")
    lookups = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and '"external_id" IN (' in q["sql"]
    ]
    assert lookups and all('NOT ("orders_order"."external_id" = \'\')' in sql for sql in lookups)
