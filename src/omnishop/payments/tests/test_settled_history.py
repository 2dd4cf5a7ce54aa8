"""Money of imported past orders: settled payments and credit notes written in bulk, restated when an order is
re-imported, and what each reference still holds."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from omnishop.core.errors import ValidationFailed
from omnishop.payments import services
from omnishop.payments.models import Payment, Refund
from omnishop.payments.services import SettledPayment, SettledRefund

from .conftest import card

pytestmark = pytest.mark.django_db
AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def settle(channel, *pairs, label="paid on amazon", customer=None):
    services.record_settled_payments(
        channel=channel,
        payments=[
            SettledPayment(reference=r, currency="GBP", amount=Decimal(a), at=AT, customer_id=customer)
            for r, a in pairs
        ],
        label=label,
    )


def note(reference, amount, key="cn-1", reason="credit note"):
    return SettledRefund(reference=reference, amount=Decimal(amount), key=key, reason=reason, at=AT)


def test_settled_payments_are_captured_history_paid_in_full(web_channel, shopper, told):
    settle(web_channel, ("H-1", "19.995"), ("H-2", "5"), label="p" * 70, customer=shopper.pk)
    p = Payment.objects.get(reference="H-1")
    assert (p.provider, p.status, p.amount, p.captured, p.refunded) == (
        "manual",
        "captured",
        Decimal("20.00"),
        Decimal("20.00"),
        0,
    )
    assert (p.method_label, p.created_at, p.updated_at, p.customer_id) == ("p" * 60, AT, AT, shopper.pk)
    assert (p.channel_id, p.currency, p.external_id, p.client_secret, p.failure_code) == (
        web_channel.pk,
        "GBP",
        "",
        "",
        "",
    )
    assert services.paid_amount(reference="H-2") == Decimal("5")
    assert told == []  # history, not a new sale


def test_a_settled_order_paid_nothing_gets_no_payment_and_a_negative_one_is_refused(web_channel):
    settle(web_channel, ("H-0", "0"), ("H-1", "5"))
    assert list(Payment.objects.values_list("reference", flat=True)) == ["H-1"]
    Payment.objects.all().delete()
    with pytest.raises(ValidationFailed) as refused:
        settle(web_channel, ("H-1", "3"), ("H-2", "-0.01"))
    assert refused.value.field == "amount"
    assert not Payment.objects.exists()


def test_a_reimported_order_restates_its_settled_payment(web_channel):
    settle(web_channel, ("H-1", "20"))
    card(web_channel, "7", reference="H-1")
    services.restate_settled_payment(reference="H-1", amount=Decimal("24.005"), currency="GBP")
    assert services.paid_amount(reference="H-1") == Decimal("31.01")
    manual = Payment.objects.get(reference="H-1", provider="manual")
    assert (manual.amount, manual.captured) == (Decimal("24.01"), Decimal("24.01"))


def test_a_settled_payment_with_a_refund_is_not_restated(web_channel):
    settle(web_channel, ("H-1", "20"))
    services.record_settled_refunds(refunds=[note("H-1", "5")])
    with pytest.raises(ValidationFailed) as refused:
        services.restate_settled_payment(reference="H-1", amount=Decimal("30"), currency="GBP")
    assert refused.value.field == "reference"
    assert services.paid_amount(reference="H-1") == Decimal("15")


def test_restating_to_nothing_when_nothing_was_settled_is_fine(web_channel):
    services.restate_settled_payment(reference="H-9", amount=Decimal("0"), currency="GBP")
    with pytest.raises(ValidationFailed):
        services.restate_settled_payment(reference="H-9", amount=Decimal("0.01"), currency="GBP")


def test_a_credit_note_refunds_its_settled_payment_once(web_channel):
    settle(web_channel, ("H-1", "20"), ("H-2", "10"))
    done = services.record_settled_refunds(
        refunds=[note("H-1", "4.004", reason="r" * 250), note("H-2", "1", key="k" * 130)]
    )
    assert done == {("H-1", "cn-1"): Decimal("4.00"), ("H-2", "k" * 130): Decimal("1.00")}
    refund = Refund.objects.get(payment__reference="H-1")
    assert (refund.amount, refund.status, refund.key, refund.reason) == (
        Decimal("4"),
        "succeeded",
        "cn-1",
        "r" * 200,
    )
    assert (refund.external_id, refund.created_at) == ("", AT)
    assert Refund.objects.get(payment__reference="H-2").key == "k" * 120
    again = services.record_settled_refunds(refunds=[note("H-1", "4")])
    assert again == {}
    assert services.paid_amount(reference="H-1") == Decimal("16")


def test_one_import_naming_a_credit_note_twice_refunds_it_once(web_channel):
    settle(web_channel, ("H-1", "20"))
    done = services.record_settled_refunds(refunds=[note("H-1", "4"), note("H-1", "4")])
    assert done == {("H-1", "cn-1"): Decimal("4")}
    assert services.paid_amount(reference="H-1") == Decimal("16")


def test_credit_notes_never_refund_more_than_the_payment_holds(web_channel):
    settle(web_channel, ("H-1", "20"))
    done = services.record_settled_refunds(
        refunds=[note("H-1", "15", key="a"), note("H-1", "15", key="b"), note("H-1", "1", key="c")]
    )
    assert done == {("H-1", "a"): Decimal("15"), ("H-1", "b"): Decimal("5")}
    assert services.paid_amount(reference="H-1") == 0
    p = Payment.objects.get()
    assert (p.captured, p.refunded) == (Decimal("20"), Decimal("20"))


def test_credit_notes_touch_only_settled_payments(web_channel):
    card(web_channel, "20", reference="C-1")
    assert services.record_settled_refunds(refunds=[note("C-1", "5"), note("NOPE", "5")]) == {}
    assert services.record_settled_refunds(refunds=[]) == {}
    assert not Refund.objects.exists()


def test_a_credit_note_refunds_the_newest_settled_payment_of_its_order(web_channel):
    settle(web_channel, ("H-1", "20"))
    settle(web_channel, ("H-1", "8"))
    services.record_settled_refunds(refunds=[note("H-1", "10")])
    assert list(Payment.objects.filter(reference="H-1").values_list("refunded", flat=True)) == [
        0,
        Decimal("8"),
    ]


def test_what_each_reference_still_holds_counts_captured_payments_only(
    web_channel, django_assert_num_queries
):
    settle(web_channel, ("H-1", "20"), ("H-2", "10.10"))
    card(web_channel, "5.05", reference="H-1")
    card(web_channel, "99", reference="H-1", capture=False)
    services.record_settled_refunds(refunds=[note("H-1", "0.10"), note("H-2", "10.10")])
    card(web_channel, "7", reference="NOT-ASKED")
    card(web_channel, "8", reference="ONLY-OPEN", capture=False)
    with django_assert_num_queries(1):  # many references, one query
        held = services.refundable_by_reference(references={"H-1", "H-2", "H-3", "ONLY-OPEN"})
    assert held == {"H-1": Decimal("24.95"), "H-2": Decimal("0")}
    assert str(held["H-1"].quantize(Decimal("0.01"))) == "24.95"


def test_what_references_hold_is_found_for_more_than_one_batch_of_them(web_channel):
    refs = [f"B-{i}" for i in range(5001)]
    settle(web_channel, *[(r, "1") for r in refs])
    held = services.refundable_by_reference(references=set(refs))
    assert len(held) == 5001 and set(held.values()) == {Decimal("1")}


def test_what_a_reference_holds_is_exact_to_the_penny(web_channel):
    # Found by the payments state machine: SQLite sums decimals as floats, 18.35 − 17.65 = 0.700000000000003.
    p = card(web_channel, "18.35", reference="R")
    services.refund_payment(payment=p, amount=Decimal("17.65"), key="r")
    assert services.refundable_by_reference(references={"R"}) == {"R": Decimal("0.70")}


def test_restating_one_order_leaves_the_other_settled_orders_alone(web_channel):
    settle(web_channel, ("H-1", "20"), ("H-2", "10"))
    services.restate_settled_payment(reference="H-1", amount=Decimal("25"), currency="GBP")
    assert services.paid_amount(reference="H-2") == Decimal("10")


def test_a_restated_total_is_rounded_to_the_currency(web_channel):
    services.record_settled_payments(
        channel=web_channel,
        payments=[SettledPayment(reference="J-1", currency="JPY", amount=Decimal("1000.4"), at=AT)],
        label="paid on rakuten",
    )
    assert services.paid_amount(reference="J-1") == Decimal("1000")
    services.restate_settled_payment(reference="J-1", amount=Decimal("1200.4"), currency="JPY")
    assert services.paid_amount(reference="J-1") == Decimal("1200")


def test_credit_notes_after_one_that_does_nothing_still_apply(web_channel):
    settle(web_channel, ("H-1", "20"), ("H-2", "10"))
    done = services.record_settled_refunds(
        refunds=[
            note("NOPE", "5", key="a"),
            note("H-1", "20", key="b"),
            note("H-1", "1", key="c"),  # nothing left on H-1
            note("H-1", "20", key="b"),  # the same note again
            note("H-2", "3", key="d"),
        ]
    )
    assert done == {("H-1", "b"): Decimal("20"), ("H-2", "d"): Decimal("3")}
    assert services.paid_amount(reference="H-2") == Decimal("7")


def test_one_credit_note_may_refund_the_settled_payments_of_several_orders(web_channel):
    settle(web_channel, ("H-1", "20"), ("H-2", "10"))
    services.record_settled_refunds(refunds=[note("H-1", "5", key="cn-7")])
    done = services.record_settled_refunds(refunds=[note("H-2", "5", key="cn-7")])
    assert done == {("H-2", "cn-7"): Decimal("5")}
    assert services.paid_amount(reference="H-2") == Decimal("5")


def test_a_credit_note_goes_to_the_latest_settled_payment_not_the_last_written(web_channel):
    later = datetime(2024, 3, 2, tzinfo=UTC)
    services.record_settled_payments(
        channel=web_channel,
        payments=[SettledPayment(reference="H-1", currency="GBP", amount=Decimal("20"), at=later)],
        label="paid",
    )
    settle(web_channel, ("H-1", "8"))  # written afterwards, taken earlier (AT)
    services.record_settled_refunds(refunds=[note("H-1", "10")])
    assert list(Payment.objects.filter(reference="H-1").values_list("amount", "refunded")) == [
        (Decimal("8"), 0),
        (Decimal("20"), Decimal("10")),
    ]


def test_a_credit_note_skips_a_transfer_still_awaited(web_channel):
    settle(web_channel, ("H-1", "20"))
    services.start_payment(
        channel=web_channel, reference="H-1", provider="manual", amount=Decimal("9"), currency="GBP"
    )
    assert services.record_settled_refunds(refunds=[note("H-1", "4")]) == {("H-1", "cn-1"): Decimal("4")}
    assert services.paid_amount(reference="H-1") == Decimal("16")


def test_credit_notes_are_rounded_to_the_currency(web_channel):
    services.record_settled_payments(
        channel=web_channel,
        payments=[SettledPayment(reference="J-1", currency="JPY", amount=Decimal("1000"), at=AT)],
        label="paid on rakuten",
    )
    assert services.record_settled_refunds(refunds=[note("J-1", "100.4")]) == {
        ("J-1", "cn-1"): Decimal("100")
    }
