"""Giving money back: one payment or across a reference's payments, with keys that make retries safe."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from omnishop.core.errors import ValidationFailed
from omnishop.payments import credit, services
from omnishop.payments.errors import RefundExceedsCaptured, RefundKeyReused
from omnishop.payments.models import Payment, Refund
from omnishop.payments.services import SettledPayment, SettledRefund

from .conftest import CARD_OK, card, transfer

pytestmark = pytest.mark.django_db
PAST = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def test_a_refund_gives_back_part_of_a_captured_payment(web_channel, told):
    p = card(web_channel, "50.00")
    refund = services.refund_payment(payment=p, amount=Decimal("12.345"), key="r1", reason="r" * 250)
    assert (refund.amount, refund.status, refund.key) == (Decimal("12.35"), "succeeded", "r1")
    stored = Refund.objects.get()
    assert (stored.status, stored.reason, stored.payment_id) == ("succeeded", "r" * 200, p.pk)
    assert Payment.objects.get(pk=p.pk).refunded == Decimal("12.35")
    assert services.paid_amount(reference="ORD-1") == Decimal("37.65")
    assert told[-1] == (p.pk, "captured", Decimal("50.00"), Decimal("12.35"))


def test_the_whole_captured_amount_can_be_refunded_but_not_a_penny_more(web_channel):
    p = card(web_channel, "50.00")
    services.refund_payment(payment=p, amount=Decimal("20.00"), key="a")
    with pytest.raises(RefundExceedsCaptured) as refused:
        services.refund_payment(payment=p, amount=Decimal("30.01"), key="b")
    assert (refused.value.field, refused.value.details) == (
        "amount",
        {"refundable": "30.00", "requested": "30.01"},
    )
    services.refund_payment(payment=p, amount=Decimal("30.00"), key="c")
    assert services.paid_amount(reference="ORD-1") == 0


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-1.00"), Decimal("0.001")])
def test_a_zero_or_negative_refund_is_refused(web_channel, amount):
    p = card(web_channel)
    with pytest.raises(ValidationFailed) as refused:
        services.refund_payment(payment=p, amount=amount, key="r")
    assert refused.value.field == "amount"
    with pytest.raises(ValidationFailed) as refused:
        services.refund_reference(reference="ORD-1", amount=amount, currency="GBP", key="r")
    assert refused.value.field == "amount"
    assert not Refund.objects.exists()


def test_a_payment_not_captured_yet_cannot_be_refunded(web_channel):
    p = transfer(web_channel)
    with pytest.raises(RefundExceedsCaptured) as refused:
        services.refund_payment(payment=p, amount=Decimal("1"), key="r")
    assert refused.value.details["refundable"] == "0.00"
    assert not Refund.objects.exists()


def test_a_retried_refund_returns_the_first_one_and_refunds_once(web_channel, told):
    p = card(web_channel, "50.00")
    first = services.refund_payment(payment=p, amount=Decimal("10.00"), key="r1")
    assert Refund.objects.get().reason == ""
    again = services.refund_payment(payment=p, amount=Decimal("10"), key="r1")
    assert again.pk == first.pk
    assert Payment.objects.get(pk=p.pk).refunded == Decimal("10.00")
    assert len(told) == 2  # the charge and the one refund


def test_a_refund_key_reused_for_another_amount_is_refused_not_swallowed(web_channel):
    p = card(web_channel, "50.00")
    services.refund_payment(payment=p, amount=Decimal("10.00"), key="r1")
    with pytest.raises(RefundKeyReused) as refused:
        services.refund_payment(payment=p, amount=Decimal("10.01"), key="r1")
    assert (refused.value.code, refused.value.status) == ("refund_key_reused", 409)
    assert (refused.value.field, refused.value.details) == ("key", {"amount": "10.00"})
    assert Payment.objects.get(pk=p.pk).refunded == Decimal("10.00")


def test_the_same_key_on_two_payments_refunds_each(web_channel):
    a, b = card(web_channel, "10"), card(web_channel, "10")
    services.refund_payment(payment=a, amount=Decimal("4"), key="k")
    services.refund_payment(payment=b, amount=Decimal("4"), key="k")
    assert services.paid_amount(reference="ORD-1") == Decimal("12")


def test_a_refund_on_store_credit_goes_back_to_the_balance(web_channel, shopper):
    credit.issue_credit(customer=shopper, amount=Decimal("20"), currency="GBP", key="gift")
    p = services.start_payment(
        channel=web_channel,
        reference="ORD-1",
        provider="store_credit",
        amount=Decimal("15"),
        currency="GBP",
        customer=shopper,
    )
    assert credit.balance_of(customer=shopper, currency="GBP") == Decimal("5")
    services.refund_payment(payment=p, amount=Decimal("6"), key="r")
    services.refund_payment(payment=p, amount=Decimal("6"), key="r")
    assert credit.balance_of(customer=shopper, currency="GBP") == Decimal("11")
    assert credit.verify_credit_ledger() == []


def test_a_reference_is_refunded_newest_payment_first_and_store_credit_last(web_channel, shopper):
    credit.issue_credit(customer=shopper, amount=Decimal("100"), currency="GBP", key="gift")
    stored = services.start_payment(
        channel=web_channel,
        reference="R",
        provider="store_credit",
        amount=Decimal("10"),
        currency="GBP",
        customer=shopper,
    )
    older = card(web_channel, "20", reference="R")
    newer = card(web_channel, "5", reference="R")
    refunds = services.refund_reference(reference="R", amount=Decimal("27"), currency="GBP", key="k")
    assert [(r.payment_id, r.amount, r.key) for r in refunds] == [
        (newer.pk, Decimal("5"), f"k:{newer.pk}"),
        (older.pk, Decimal("20"), f"k:{older.pk}"),
        (stored.pk, Decimal("2"), f"k:{stored.pk}"),
    ]
    assert credit.balance_of(customer=shopper, currency="GBP") == Decimal("92")
    assert services.paid_amount(reference="R") == Decimal("8")


def test_a_reference_refund_skips_what_is_already_refunded_and_open_payments(web_channel):
    a = card(web_channel, "20", reference="R")
    b = card(web_channel, "10", reference="R")
    transfer(web_channel, "99", reference="R")
    services.refund_payment(payment=b, amount=Decimal("10"), key="full")
    refunds = services.refund_reference(reference="R", amount=Decimal("20"), currency="GBP", key="k")
    assert [(r.payment_id, r.amount) for r in refunds] == [(a.pk, Decimal("20"))]
    assert services.paid_amount(reference="R") == 0


def test_the_same_key_on_two_references_refunds_each_of_them(web_channel):
    """A refund key is a retry guard within its reference: "return-1" on order A is no replay of
    "return-1" on order B, even for the same amount."""
    a = card(web_channel, "10", reference="A")
    b = card(web_channel, "10", reference="B")
    first = services.refund_reference(reference="A", amount=Decimal("4"), currency="GBP", key="return-1")
    second = services.refund_reference(reference="B", amount=Decimal("4"), currency="GBP", key="return-1")
    assert [(r.payment_id, r.amount) for r in first] == [(a.pk, Decimal("4"))]
    assert [(r.payment_id, r.amount) for r in second] == [(b.pk, Decimal("4"))]
    assert (services.paid_amount(reference="A"), services.paid_amount(reference="B")) == (6, 6)


def test_a_reference_refund_stops_once_the_amount_is_given_back(web_channel):
    a = card(web_channel, "20", reference="R")
    b = card(web_channel, "10", reference="R")
    refunds = services.refund_reference(reference="R", amount=Decimal("10"), currency="GBP", key="k")
    assert [(r.payment_id, r.amount) for r in refunds] == [(b.pk, Decimal("10"))]
    assert Payment.objects.get(pk=a.pk).refunded == 0


def test_a_reference_refund_above_what_was_paid_names_what_is_refundable(web_channel):
    card(web_channel, "20", reference="R")
    with pytest.raises(RefundExceedsCaptured) as refused:
        services.refund_reference(reference="R", amount=Decimal("20.01"), currency="GBP", key="k")
    assert (refused.value.field, refused.value.details) == ("amount", {"refundable": "20.00"})
    assert not Refund.objects.exists()


def test_a_retried_reference_refund_returns_the_first_refunds(web_channel):
    card(web_channel, "20", reference="R")
    card(web_channel, "10", reference="R")
    first = services.refund_reference(reference="R", amount=Decimal("25"), currency="GBP", key="k")
    assert {r.reason for r in Refund.objects.all()} == {""}
    again = services.refund_reference(reference="R", amount=Decimal("25.00"), currency="GBP", key="k")
    assert sorted(r.pk for r in again) == sorted(r.pk for r in first)
    assert services.paid_amount(reference="R") == Decimal("5")
    with pytest.raises(RefundKeyReused) as refused:
        services.refund_reference(reference="R", amount=Decimal("5"), currency="GBP", key="k")
    assert refused.value.field == "key"
    assert services.paid_amount(reference="R") == Decimal("5")


def test_a_reference_refund_key_that_extends_another_key_is_a_new_refund(web_channel):
    # Idempotency-Keys are the client's: "a" and "a:1" are two refunds, not a replay of each other.
    card(web_channel, "20", reference="R")
    services.refund_reference(reference="R", amount=Decimal("5"), currency="GBP", key="api:a:1")
    second = services.refund_reference(reference="R", amount=Decimal("5"), currency="GBP", key="api:a")
    assert [r.key for r in second] == [f"api:a:{Payment.objects.get().pk}"]
    assert services.paid_amount(reference="R") == Decimal("10")


def test_settled_payments_taken_at_the_same_moment_are_refunded_last_written_first(web_channel):
    at = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    services.record_settled_payments(
        channel=web_channel,
        payments=[
            SettledPayment(reference="R", currency="GBP", amount=Decimal(a), at=at) for a in ("6", "4")
        ],
        label="paid on amazon",
    )
    first, second = Payment.objects.filter(reference="R").order_by("pk")
    refunds = services.refund_reference(reference="R", amount=Decimal("5"), currency="GBP", key="k")
    assert [(r.payment_id, r.amount) for r in refunds] == [
        (second.pk, Decimal("4")),
        (first.pk, Decimal("1")),
    ]


def test_a_reference_refund_is_rounded_to_the_currency(web_channel):
    services.record_external_payment(
        channel=web_channel, reference="J", amount=Decimal("1000"), currency="JPY", label="till"
    )
    refunds = services.refund_reference(reference="J", amount=Decimal("100.4"), currency="JPY", key="k")
    assert [r.amount for r in refunds] == [Decimal("100")]
    again = services.refund_reference(reference="J", amount=Decimal("100.4"), currency="JPY", key="k")
    assert [r.pk for r in again] == [r.pk for r in refunds]


def test_a_reference_refund_starts_with_the_payment_taken_last_not_the_one_written_last(web_channel):
    services.record_settled_payments(
        channel=web_channel,
        payments=[
            SettledPayment(
                reference="R", currency="GBP", amount=Decimal("6"), at=datetime(2024, 3, 2, tzinfo=UTC)
            ),
            SettledPayment(
                reference="R", currency="GBP", amount=Decimal("4"), at=datetime(2024, 3, 1, tzinfo=UTC)
            ),
        ],
        label="paid on amazon",
    )
    taken_last, taken_first = Payment.objects.filter(reference="R").order_by("pk")
    refunds = services.refund_reference(reference="R", amount=Decimal("7"), currency="GBP", key="k")
    assert [(r.payment_id, r.amount) for r in refunds] == [
        (taken_last.pk, Decimal("6")),
        (taken_first.pk, Decimal("1")),
    ]


def test_finance_sees_refunds_newest_first_and_those_above_a_limit(web_channel, django_assert_num_queries):
    p = card(web_channel, "50.00")
    smaller = services.refund_payment(payment=p, amount=Decimal("4.00"), key="a")
    larger = services.refund_payment(payment=p, amount=Decimal("20.00"), key="b")
    services.record_settled_payments(
        channel=web_channel,
        payments=[SettledPayment(reference="H-1", currency="GBP", amount=Decimal("30"), at=PAST)],
        label="paid on amazon",
    )
    services.record_settled_refunds(
        refunds=[SettledRefund(reference="H-1", amount=Decimal("25"), key="cn", reason="", at=PAST)]
    )
    imported = Refund.objects.get(key="cn")
    with django_assert_num_queries(1):
        listed = services.recent_refunds()
        channels = {r.payment.channel.code for r in listed}
    assert listed == [larger, smaller, imported] and channels == {web_channel.code}
    assert services.recent_refunds(above=Decimal("4.00")) == [larger, imported]
    assert services.recent_refunds(above=Decimal("20.00"), limit=1) == [imported]
    assert services.recent_refunds(limit=1) == [larger]


def test_finance_sees_the_25_newest_refunds_by_default(web_channel):
    p = card(web_channel, "50.00")
    refunds = [services.refund_payment(payment=p, amount=Decimal("1"), key=f"r{i}") for i in range(26)]
    assert services.recent_refunds() == refunds[::-1][:25]


def test_refund_errors_name_amounts_in_the_currency_of_the_payment(make_channel):
    tokyo = make_channel("tokyo", "web", "JPY")
    p = services.start_payment(
        channel=tokyo,
        reference="R",
        provider="test_card",
        amount=Decimal("5000"),
        currency="JPY",
        token=CARD_OK,
    )
    services.refund_payment(payment=p, amount=Decimal("1000"), key="a")
    with pytest.raises(RefundKeyReused) as reused:
        services.refund_payment(payment=p, amount=Decimal("2000"), key="a")
    assert reused.value.details == {"amount": "1000"}
    with pytest.raises(RefundExceedsCaptured) as refused:
        services.refund_payment(payment=p, amount=Decimal("4001"), key="b")
    assert refused.value.details == {"refundable": "4000", "requested": "4001"}
    with pytest.raises(RefundExceedsCaptured) as refused:
        services.refund_reference(reference="R", amount=Decimal("4001"), currency="JPY", key="c")
    assert (refused.value.field, refused.value.details) == ("amount", {"refundable": "4000"})


def test_each_refund_of_a_store_credit_payment_goes_back_to_the_balance(web_channel, shopper):
    credit.issue_credit(customer=shopper, amount=Decimal("20"), currency="GBP", key="gift")
    p = services.start_payment(
        channel=web_channel,
        reference="ORD-1",
        provider="store_credit",
        amount=Decimal("15"),
        currency="GBP",
        customer=shopper,
    )
    services.refund_payment(payment=p, amount=Decimal("4"), key="a")
    services.refund_payment(payment=p, amount=Decimal("6"), key="b")
    assert credit.balance_of(customer=shopper, currency="GBP") == Decimal("15")
    assert credit.verify_credit_ledger() == []


def test_store_credit_is_refunded_last_even_when_it_was_taken_last(web_channel, shopper):
    credit.issue_credit(customer=shopper, amount=Decimal("100"), currency="GBP", key="gift")
    paid_by_card = card(web_channel, "20", reference="R")
    stored = services.start_payment(
        channel=web_channel,
        reference="R",
        provider="store_credit",
        amount=Decimal("10"),
        currency="GBP",
        customer=shopper,
    )
    refunds = services.refund_reference(reference="R", amount=Decimal("25"), currency="GBP", key="k")
    assert [(r.payment_id, r.amount) for r in refunds] == [
        (paid_by_card.pk, Decimal("20")),
        (stored.pk, Decimal("5")),
    ]
    assert credit.balance_of(customer=shopper, currency="GBP") == Decimal("95")
