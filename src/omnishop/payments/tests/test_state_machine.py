"""Random sequences of payment operations and provider webhooks, the figures checked after every step.

A Hypothesis state machine starts card, 3-D Secure, transfer, store-credit and Stripe payments, confirms,
captures (fully, partly, too much, nothing), voids, refunds one payment or a whole reference with keys that
are retried and reused, lowers open payments, and delivers signed Stripe webhooks in any order — stale,
smaller, larger than the payment, and the same event again. After every step: 0 ≤ refunded ≤ captured ≤
amount for each payment; a reference's paid amount is Σ captured − refunded; captured and refunded never
shrink; a captured payment is never failed or voided afterwards; refunds recorded on a payment add up to its
refunded figure (payments not moved by webhooks); the store-credit ledger verifies.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from django.test import override_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from omnishop.channels.services import create_channel
from omnishop.core.errors import DomainError
from omnishop.customers.models import Customer
from omnishop.payments import credit, services
from omnishop.payments.models import Payment
from omnishop.testing import search_settings

from .conftest import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_OK,
    WHSEC,
    deliver,
    intent_event,
    refund_event,
    stripe_payment,
)

_run = itertools.count()
REFERENCES = ("A", "B")
CENTS = Decimal("0.01")
amounts = st.integers(min_value=1, max_value=4000).map(lambda c: Decimal(c) * CENTS)
odd_amounts = st.integers(min_value=-200, max_value=5000).map(lambda c: Decimal(c) * CENTS)
keys = st.sampled_from(["k1", "k2", "k3"])
INTENT_STATUSES = ["processing", "requires_capture", "succeeded", "requires_payment_method", "canceled"]


class PaymentMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.n = next(_run)
        self.channel = create_channel(code=f"pm-{self.n}", name="PM", kind="web", currency="GBP")
        self.customer = Customer.objects.create(email=f"pm{self.n}@example.com")
        self.seen: dict[int, tuple[Decimal, Decimal, bool]] = {}  # pk → captured, refunded, was captured
        self.intents: dict[str, int] = {}  # Stripe intent id → payment pk
        self.deliveries: list[tuple[bytes, dict]] = []
        self.events = itertools.count()
        self.reference_refunds: dict[tuple[str, str], Decimal] = {}  # what each (reference, key) refunded

    def ref(self, name: str) -> str:
        return f"{name}-{self.n}"

    def payments(self) -> list[Payment]:
        return list(Payment.objects.filter(channel=self.channel))

    def pick(self, data, **filters) -> Payment | None:
        candidates = list(Payment.objects.filter(channel=self.channel, **filters))
        return data.draw(st.sampled_from(candidates)) if candidates else None

    # -- taking money -----------------------------------------------------------------------------------

    @rule(reference=st.sampled_from(REFERENCES), amount=amounts, capture=st.booleans(),
          number=st.sampled_from([CARD_OK, CARD_OK, CARD_3DS, CARD_DECLINED]))  # fmt: skip
    def start_card(self, reference, amount, capture, number):
        try:
            services.start_payment(
                channel=self.channel,
                reference=self.ref(reference),
                provider="test_card",
                amount=amount,
                currency="GBP",
                token=number,
                capture=capture,
            )
        except DomainError as exc:
            assert (number, exc.code) == (CARD_DECLINED, "payment_declined")

    @rule(reference=st.sampled_from(REFERENCES), amount=amounts)
    def start_transfer(self, reference, amount):
        services.start_payment(
            channel=self.channel,
            reference=self.ref(reference),
            provider="manual",
            amount=amount,
            currency="GBP",
        )

    @rule(amount=amounts)
    def issue_credit(self, amount):
        credit.issue_credit(
            customer=self.customer, amount=amount, currency="GBP", key=f"gift-{next(self.events)}"
        )

    @rule(reference=st.sampled_from(REFERENCES), amount=amounts)
    def pay_with_credit(self, reference, amount):
        balance = credit.balance_of(customer=self.customer, currency="GBP")
        try:
            services.start_payment(
                channel=self.channel,
                reference=self.ref(reference),
                provider="store_credit",
                amount=amount,
                currency="GBP",
                customer=self.customer,
            )
        except DomainError as exc:
            assert (exc.code, amount > balance) == ("insufficient_funds", True)
        else:
            assert credit.balance_of(customer=self.customer, currency="GBP") == balance - amount

    @rule(amount=amounts)
    def start_stripe(self, amount):
        intent = f"pi_{self.n}_{len(self.intents)}"
        self.intents[intent] = stripe_payment(
            self.channel, str(amount), reference=self.ref("S"), intent=intent
        ).pk

    @rule(data=st.data())
    def confirm(self, data):
        p = self.pick(data, provider__in=["manual", "test_card"])
        if p is None:
            return
        try:
            after = services.confirm_payment(payment=p)
        except DomainError as exc:
            assert exc.code == "invalid_transition" and p.status not in ("pending", "requires_action")
        else:
            assert (after.status, after.captured) == ("captured", p.amount)

    @rule(data=st.data(), amount=st.one_of(st.none(), odd_amounts))
    def capture(self, data, amount):
        p = self.pick(data, provider="test_card")
        if p is None:
            return
        try:
            after = services.capture_payment(payment=p, amount=amount)
        except DomainError as exc:
            if p.status != "authorized":
                assert exc.code == "invalid_transition"
            elif amount is not None and amount <= 0:
                assert exc.code == "validation_error"
            else:
                assert exc.code == "capture_exceeds_authorized" and amount > p.amount
        else:
            assert (p.status, after.captured) == ("authorized", p.amount if amount is None else amount)

    @rule(data=st.data())
    def void(self, data):
        p = self.pick(data, provider__in=["manual", "test_card"])
        if p is None:
            return
        try:
            assert services.void_payment(payment=p).status == "voided"
        except DomainError as exc:
            assert exc.code == "invalid_transition" and p.status in ("captured", "voided", "failed")

    # -- giving money back ------------------------------------------------------------------------------

    @rule(data=st.data(), amount=odd_amounts, key=keys)
    def refund(self, data, amount, key):
        p = self.pick(data, provider__in=["manual", "test_card", "store_credit"])
        if p is None:
            return
        first = p.refunds.filter(key=key).first()
        before = p.refunded  # refund_payment refreshes the object it is given
        try:
            refund = services.refund_payment(payment=p, amount=amount, key=key)
        except DomainError as exc:
            if amount <= 0:
                assert exc.code == "validation_error"
            elif first is not None:
                assert (exc.code, first.amount != amount) == ("refund_key_reused", True)
            else:
                assert exc.code == "refund_exceeds_captured"
                assert p.status != "captured" or before + amount > p.captured
        else:
            refunded = Payment.objects.get(pk=p.pk).refunded
            if first is not None:  # a retry: the first refund, nothing more given back
                assert (refund.pk, refunded) == (first.pk, before)
            else:
                assert (refund.amount, refunded) == (amount, before + amount)

    @rule(reference=st.sampled_from(REFERENCES), amount=odd_amounts, key=keys)
    def refund_reference(self, reference, amount, key):
        reference = self.ref(reference)
        before = services.paid_amount(reference=reference)
        first = self.reference_refunds.get((reference, key))
        try:
            refunds = services.refund_reference(reference=reference, amount=amount, currency="GBP", key=key)
        except DomainError as exc:
            if amount <= 0:
                assert exc.code == "validation_error"
            elif first is not None:
                assert (exc.code, first != amount) == ("refund_key_reused", True)
            else:
                assert (exc.code, amount > before) == ("refund_exceeds_captured", True)
            assert services.paid_amount(reference=reference) == before
        else:
            assert sum(r.amount for r in refunds) == amount
            if first is None:
                self.reference_refunds[(reference, key)] = amount
                assert services.paid_amount(reference=reference) == before - amount
            else:
                assert (first, services.paid_amount(reference=reference)) == (amount, before)

    @rule(reference=st.sampled_from(REFERENCES), due=odd_amounts)
    def lower_open_payments(self, reference, due):
        services.lower_open_payments(reference=self.ref(reference), due=due)
        open_total = sum(
            p.amount
            for p in self.payments()
            if p.reference == self.ref(reference) and p.status in ("pending", "requires_action", "authorized")
        )
        assert open_total <= max(due, Decimal(0))

    # -- webhooks ---------------------------------------------------------------------------------------

    @precondition(lambda self: self.intents)
    @rule(data=st.data(), status=st.sampled_from(INTENT_STATUSES), received=st.integers(0, 4500))
    def intent_webhook(self, data, status, received):
        intent = data.draw(st.sampled_from(sorted(self.intents)))
        self.send(intent_event(status, received, intent=intent, event_id=f"evt_{self.n}_{next(self.events)}"))

    @precondition(lambda self: self.intents)
    @rule(data=st.data(), refunded=st.integers(0, 4500))
    def refund_webhook(self, data, refunded):
        intent = data.draw(st.sampled_from(sorted(self.intents)))
        self.send(refund_event(refunded, intent=intent, event_id=f"evt_{self.n}_{next(self.events)}"))

    @precondition(lambda self: self.deliveries)
    @rule(data=st.data())
    def redeliver(self, data):
        """Stripe sends an event again: nothing changes."""
        before = {p.pk: (p.status, p.captured, p.refunded) for p in self.payments()}
        assert deliver(data.draw(st.sampled_from(self.deliveries))) == []
        assert {p.pk: (p.status, p.captured, p.refunded) for p in self.payments()} == before

    def send(self, delivery):
        self.deliveries.append(delivery)
        deliver(delivery)

    # -- the books --------------------------------------------------------------------------------------

    @invariant()
    def the_books_hold(self):
        # One read of every payment (and its refunds) per step: the machine runs thousands of steps.
        payments = list(Payment.objects.filter(channel=self.channel).prefetch_related("refunds"))
        for p in payments:
            assert 0 <= p.refunded <= p.captured <= p.amount, p
            captured, refunded, was_captured = self.seen.get(p.pk, (Decimal(0), Decimal(0), False))
            assert p.captured >= captured and p.refunded >= refunded, p
            if was_captured:
                assert p.status == "captured", p
            if p.provider != "stripe":
                assert sum(r.amount for r in p.refunds.all()) == p.refunded
            self.seen[p.pk] = (p.captured, p.refunded, p.status == "captured")
        references = [self.ref(name) for name in (*REFERENCES, "S")]
        held = services.refundable_by_reference(references=set(references))
        for reference in references:
            rows = [p for p in payments if p.reference == reference]
            assert services.paid_amount(reference=reference) == sum((p.net for p in rows), Decimal(0))
            captured = [p.net for p in rows if p.status == "captured"]
            assert held.get(reference, Decimal(0)) == sum(captured, Decimal(0))
        assert credit.verify_credit_ledger() == []


@pytest.mark.django_db
def test_random_payment_histories_keep_the_figures_consistent():
    with override_settings(OMNISHOP_STRIPE_WEBHOOK_SECRET=WHSEC):
        run_state_machine_as_test(PaymentMachine, settings=search_settings("payments"))
