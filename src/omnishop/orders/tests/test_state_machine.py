"""Random sequences of the order lifecycle with payments and returns, the books checked after every step.

A Hypothesis state machine places orders (card, 3-D Secure card, bank transfer), confirms payments, ships,
delivers, cancels (whole or partial), refunds partly, returns (restock or write-off, to card or store
credit), splits, merges, changes the address (to a country with another tax rate) and receives stock, and
after every step checks: each payment's paid = captured − refunded and the order's paid figure is their sum
and never above what the order family (the order and those split off it) costs; per line fulfilled ≤
allocated ≤ ordered − cancelled and returned ≤ fulfilled; the stock allocated in inventory equals what the
order lines hold unshipped; the stock ledger and the store-credit ledger verify; nothing stays reserved.

How many examples CI runs is set in omnishop.testing ("orders"), measured against the split/cancel refund
bug this machine once found by luck (docs/testing.md).
"""

from __future__ import annotations

import itertools
from collections import Counter
from decimal import Decimal

import pytest
from django.db.models import Sum
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.channels.services import create_channel
from omnishop.core.errors import DomainError
from omnishop.customers.models import Customer
from omnishop.inventory import services as inventory
from omnishop.inventory.models import StockLevel
from omnishop.orders import services
from omnishop.orders.models import Fulfilment, Order, OrderLine, ReturnRequest
from omnishop.payments import credit
from omnishop.payments import services as payments
from omnishop.payments.models import Payment
from omnishop.testing import search_settings

from .conftest import ADDRESS

_run = itertools.count()
CARDS = {
    "card": ("test_card", "4242424242424242"),
    "3ds": ("test_card", "4000002500003155"),
    "transfer": ("manual", ""),
}


class OrderMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        n = next(_run)
        self.channel = create_channel(code=f"om-{n}", name="OM", kind="web", currency="GBP")
        self.wh = inventory.create_location(code=f"om{n}-wh", name="WH")
        inventory.set_channel_locations(channel=self.channel, location_codes=[self.wh.code])
        services.create_shipping_method(
            channel=self.channel, code="std", name="Std", kind="flat", price="3.95"
        )
        services.set_tax_rate(channel=self.channel, country="*", rate="0.20")
        services.set_tax_rate(channel=self.channel, country="FR", rate="0.05")
        product = Product.objects.create(title="P", slug=f"om-{n}")
        self.variants = []
        for i, price in enumerate(("9.99", "4.35")):
            v = Variant.objects.create(product=product, sku=f"OM{n}-{i}")
            ChannelListing.objects.create(
                channel=self.channel, variant=v, is_published=True, price=Decimal(price), currency="GBP"
            )
            inventory.receive_stock(variant=v, location=self.wh, quantity=6, reference="start")
            self.variants.append(v)
        self.customer = Customer.objects.create(email=f"om{n}@example.com")
        self.keys = itertools.count()

    def orders(self):
        return list(Order.objects.filter(channel=self.channel))

    def pick(self, data, statuses, *, split_family: bool = False):
        """One of the machine's orders in `statuses`; with split_family, only orders that share their payment
        with another order (a parent and the orders split off it), where refunds must add up across orders."""
        candidates = [o for o in self.orders() if o.status in statuses]
        if split_family:
            sharing = Counter(o.payment_reference for o in self.orders())
            candidates = [o for o in candidates if sharing[o.payment_reference] > 1]
        if not candidates:
            return None
        return data.draw(st.sampled_from(candidates))

    @initialize(q0=st.integers(0, 3), q1=st.integers(1, 3))
    def first_order(self, q0, q1):
        """Every program starts with a paid card order, so no step is spent waiting for one."""
        self.place(q0, q1, "card")

    @rule(q0=st.integers(0, 3), q1=st.integers(0, 3), how=st.sampled_from(sorted(CARDS)))
    def place(self, q0, q1, how):
        lines = {v.sku: q for v, q in zip(self.variants, (q0, q1), strict=True) if q}
        provider, token = CARDS[how]
        try:
            services.place_order(
                channel=self.channel,
                quantities=lines,
                shipping_method="std",
                shipping_address=ADDRESS,
                payment=services.PaymentRequest(provider, token),
                key=f"k{next(self.keys)}",
                customer=self.customer,
                actor="sm",
            )
        except DomainError as exc:
            assert exc.code in ("empty_cart", "insufficient_stock"), exc.code

    @rule(data=st.data())
    def confirm_payment(self, data):
        order = self.pick(data, {Order.Status.PENDING_PAYMENT})
        if order is None:
            return
        for p in Payment.objects.filter(
            reference=order.payment_reference, status__in=["pending", "requires_action"]
        ):
            payments.confirm_payment(payment=p)
        assert services.get_order(order.number).status == Order.Status.PAID

    @rule(data=st.data())
    def ship_one(self, data):
        order = self.pick(data, {Order.Status.PAID, Order.Status.PARTIALLY_FULFILLED})
        if order is None:
            return
        services.create_fulfilments(order=order, actor="sm")
        pending = list(order.fulfilments.filter(status=Fulfilment.Status.PENDING))
        if pending:
            services.ship_fulfilment(
                fulfilment=data.draw(st.sampled_from(pending)), carrier="dhl", tracking_number="T", actor="sm"
            )

    @rule(data=st.data())
    def deliver(self, data):
        order = self.pick(data, {Order.Status.FULFILLED})
        if order is None:
            return
        for f in order.fulfilments.filter(status=Fulfilment.Status.SHIPPED):
            services.mark_delivered(fulfilment=f, actor="carrier")

    @rule(data=st.data(), whole=st.booleans())
    def cancel(self, data, whole):
        self._cancel(data, whole, split_family=False)

    @rule(data=st.data(), whole=st.booleans())
    def cancel_in_split_family(self, data, whole):
        self._cancel(data, whole, split_family=True)

    def _cancel(self, data, whole, *, split_family):
        order = self.pick(
            data,
            {Order.Status.PAID, Order.Status.PENDING_PAYMENT, Order.Status.PARTIALLY_FULFILLED},
            split_family=split_family,
        )
        if order is None:
            return
        lines = [x for x in order.lines.all() if x.unshipped]
        if whole or not lines:
            quantities = None
        else:
            line = data.draw(st.sampled_from(lines))
            quantities = {line.pk: data.draw(st.integers(1, line.unshipped))}
        try:
            services.cancel_order(order=order, quantities=quantities, actor="sm")
        except DomainError as exc:
            assert exc.code == "nothing_to_do", exc.code

    @rule(data=st.data(), cents=st.integers(1, 2000))
    def refund_some(self, data, cents):
        order = self.pick(data, set(Order.Status.values) - {Order.Status.MERGED})
        if order is None:
            return
        captured = list(Payment.objects.filter(reference=order.payment_reference, status="captured"))
        if not captured:
            return
        p = data.draw(st.sampled_from(captured))
        amount = Decimal(cents) / 100
        try:
            payments.refund_payment(payment=p, amount=amount, key=f"sm{next(self.keys)}")
        except DomainError as exc:
            assert exc.code == "refund_exceeds_captured" and amount > p.net

    @rule(data=st.data(), cents=st.integers(1, 500))
    def refund_while_awaiting_payment(self, data, cents):
        """A goodwill refund on an order that holds captured money while it still awaits the rest (a paid
        order merged into one waiting for 3-D Secure or a transfer): completing the payment must still settle
        it. Aimed at, because the plain refund rule reaches this state only by luck (found so in CI, 3 Dec)."""
        waiting = [
            o
            for o in self.orders()
            if o.status == Order.Status.PENDING_PAYMENT
            and Payment.objects.filter(reference=o.payment_reference, status="captured").exists()
        ]
        if not waiting:
            return
        order = data.draw(st.sampled_from(waiting))
        p = Payment.objects.filter(reference=order.payment_reference, status="captured").first()
        amount = min(Decimal(cents) / 100, p.net)
        if amount > 0:
            payments.refund_payment(payment=p, amount=amount, key=f"sm{next(self.keys)}")

    @rule(data=st.data(), restock=st.booleans(), to_credit=st.booleans())
    def return_some(self, data, restock, to_credit):
        order = self.pick(
            data,
            {
                Order.Status.FULFILLED,
                Order.Status.DELIVERED,
                Order.Status.PARTIALLY_RETURNED,
                Order.Status.PARTIALLY_FULFILLED,
            },
        )
        if order is None:
            return
        lines = [x for x in order.lines.all() if x.fulfilled > x.returned]
        if not lines:
            return
        line = data.draw(st.sampled_from(lines))
        qty = data.draw(st.integers(1, line.fulfilled - line.returned))
        rma = services.request_return(
            order=order,
            lines=[(line.pk, qty, "sm")],
            refund_to="store_credit" if to_credit else "original",
            actor="sm",
        )
        services.decide_return(rma=rma, approve=True, actor="sm")
        services.receive_return(
            rma=rma,
            dispositions={line.pk: "restock" if restock else "write_off"},
            location_code=self.wh.code,
            actor="sm",
        )
        assert ReturnRequest.objects.get(pk=rma.pk).status == "received"

    @rule(data=st.data())
    def split(self, data):
        order = self.pick(data, {Order.Status.PAID})
        if order is None:
            return
        lines = [x for x in order.lines.all() if x.unshipped]
        if sum(x.unshipped for x in lines) < 2:
            return
        line = data.draw(st.sampled_from(lines))
        services.split_order(order=order, quantities={line.pk: 1}, actor="sm")

    @rule(data=st.data())
    def merge(self, data):
        candidates = [
            o
            for o in self.orders()
            if o.status in (Order.Status.PAID, Order.Status.PENDING_PAYMENT)
            and o.payment_reference == o.number
        ]
        if len(candidates) < 2:
            return
        chosen = data.draw(
            st.lists(st.sampled_from(candidates), min_size=2, max_size=3, unique_by=lambda o: o.pk)
        )
        try:
            services.merge_orders(orders=chosen, actor="sm")
        except DomainError as exc:
            assert exc.code == "not_mergeable", exc.code

    @rule(data=st.data(), country=st.sampled_from(["GB", "FR"]))
    def change_address(self, data, country):
        """FR is taxed at 5 % instead of 20 %: the order costs less and the difference is refunded."""
        order = self.pick(data, {Order.Status.PAID, Order.Status.PENDING_PAYMENT})
        if order is None:
            return
        try:
            services.change_address(order=order, address={**ADDRESS, "country": country}, actor="sm")
        except DomainError as exc:
            assert exc.code == "address_locked", exc.code

    @rule(i=st.integers(0, 1), qty=st.integers(1, 3))
    def receive_stock(self, i, qty):
        inventory.receive_stock(variant=self.variants[i], location=self.wh, quantity=qty, reference="po")

    @precondition(lambda self: True)
    @invariant()
    def books_balance(self):
        orders = self.orders()
        for order in orders:
            rows = Payment.objects.filter(reference=order.payment_reference)
            for p in rows:
                assert 0 <= p.refunded <= p.captured <= p.amount
            expected = sum((p.captured - p.refunded for p in rows), Decimal(0))
            assert services.paid(order) == expected
            for x in order.lines.all():
                assert x.fulfilled <= x.allocated <= x.quantity - x.cancelled, (order.status, x.__dict__)
                assert x.returned <= x.fulfilled
            # nobody ever pays more than the order (and the orders split off it) costs
            assert services.paid(order) <= services.family_total(order)
        for v in self.variants:
            held = OrderLine.objects.filter(order__channel=self.channel, variant=v).aggregate(
                a=Sum("allocated"), f=Sum("fulfilled")
            )
            level = StockLevel.objects.get(variant=v, location=self.wh)
            assert level.allocated == (held["a"] or 0) - (held["f"] or 0)
            assert level.reserved == 0

    def teardown(self):
        # The whole-book checks read every row every earlier program wrote in this test's transaction: after
        # each program, not after each step (per step they made the PostgreSQL run quadratic: ~7,500 scans).
        assert inventory.verify_ledger() == []
        assert credit.verify_credit_ledger() == []


@pytest.mark.django_db
def test_random_order_lifecycles_keep_payments_lines_and_stock_consistent():
    run_state_machine_as_test(OrderMachine, settings=search_settings("orders"))
