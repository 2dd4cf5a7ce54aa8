"""Taking money: charging, declines, 3-D Secure and transfers, capture and void, with the amounts and the
statuses a shop sees afterwards and what listeners (the orders context) are told."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import override_settings

from omnishop.core.errors import InvalidTransition, ValidationFailed
from omnishop.payments import services
from omnishop.payments.errors import (
    CaptureExceedsAuthorized,
    InsufficientFunds,
    InvalidPaymentToken,
    PaymentDeclined,
    PaymentNotFound,
)
from omnishop.payments.models import Payment

from .conftest import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_NO_FUNDS,
    CARD_OK,
    WHSEC,
    card,
    deliver,
    intent_event,
    stripe_payment,
    transfer,
)

pytestmark = pytest.mark.django_db


def test_a_card_charged_at_once_is_captured_in_full_and_listeners_hear_of_it(web_channel, told):
    p = card(web_channel, "19.999")
    assert (p.status, p.amount, p.captured, p.refunded) == ("captured", Decimal("20.00"), Decimal("20.00"), 0)
    assert p.method_label == "card •••• 4242" and p.external_id.startswith("tc_")
    stored = Payment.objects.get(pk=p.pk)
    assert (stored.status, stored.captured, stored.external_id) == ("captured", Decimal("20"), p.external_id)
    assert told == [(p.pk, "captured", Decimal("20.00"), 0)]
    assert services.paid_amount(reference="ORD-1") == Decimal("20.00")


def test_a_checkout_that_notifies_later_is_not_announced_twice(web_channel, told):
    services.start_payment(
        channel=web_channel,
        reference="ORD-1",
        provider="test_card",
        amount=Decimal("5"),
        currency="GBP",
        token="4242424242424242",
        notify=False,
    )
    assert told == []


def test_a_declined_card_is_kept_on_record_as_failed(web_channel, told):
    with pytest.raises(PaymentDeclined) as declined:
        card(web_channel, number=CARD_DECLINED)
    assert (declined.value.code, declined.value.field) == ("payment_declined", "payment.token")
    p = Payment.objects.get()
    assert (p.status, p.failure_code, p.captured) == ("failed", "card_declined", 0)
    assert told == []
    assert services.paid_amount(reference="ORD-1") == 0


def test_a_card_without_funds_says_insufficient_funds(web_channel):
    with pytest.raises(InsufficientFunds) as refused:
        card(web_channel, number=CARD_NO_FUNDS)
    assert (refused.value.code, refused.value.field) == ("insufficient_funds", "payment.token")
    assert Payment.objects.get().failure_code == "insufficient_funds"


def test_a_malformed_card_number_leaves_a_failed_attempt_not_a_pending_one(web_channel):
    with pytest.raises(InvalidPaymentToken):
        card(web_channel, number="1234")
    p = Payment.objects.get()
    assert (p.status, p.failure_code) == ("failed", "invalid_payment_token")


def test_a_negative_charge_is_refused_before_anything_is_written(web_channel):
    with pytest.raises(ValidationFailed) as refused:
        card(web_channel, "-0.01")
    assert refused.value.field == "amount"
    assert not Payment.objects.exists()


def test_a_free_order_may_record_a_zero_payment(web_channel):
    p = transfer(web_channel, "0")
    assert (p.status, p.amount) == ("pending", 0)


def test_a_bank_transfer_waits_until_staff_confirm_the_money_came(web_channel, told):
    p = transfer(web_channel, "30.00")
    assert (p.status, p.method_label, p.captured) == ("pending", "bank transfer", 0)
    assert services.paid_amount(reference="ORD-1") == 0
    p = services.confirm_payment(payment=p)
    assert (p.status, p.captured) == ("captured", Decimal("30.00"))
    assert services.paid_amount(reference="ORD-1") == Decimal("30.00")
    assert told == [(p.pk, "pending", 0, 0), (p.pk, "captured", Decimal("30.00"), 0)]


def test_a_3ds_card_is_captured_once_the_shopper_confirms(web_channel):
    p = card(web_channel, "12.00", number=CARD_3DS)
    assert p.status == "requires_action" and p.client_secret.startswith(p.external_id)
    p = services.confirm_payment(payment=p)
    assert (p.status, p.captured) == ("captured", Decimal("12.00"))


def test_a_payment_confirmed_twice_is_refused_the_second_time(web_channel):
    p = services.confirm_payment(payment=transfer(web_channel))
    with pytest.raises(InvalidTransition) as refused:
        services.confirm_payment(payment=p)
    assert (refused.value.field, refused.value.details) == ("payment", {"current": "captured"})


def test_an_authorisation_captured_in_full_when_no_amount_is_given(web_channel):
    p = card(web_channel, "40.00", capture=False)
    assert (p.status, p.captured) == ("authorized", 0)
    assert services.paid_amount(reference="ORD-1") == 0
    p = services.capture_payment(payment=p)
    assert (p.status, p.captured) == ("captured", Decimal("40.00"))
    assert Payment.objects.get(pk=p.pk).captured == Decimal("40.00")


def test_an_authorisation_captured_exactly_in_full_is_allowed(web_channel):
    p = services.capture_payment(payment=card(web_channel, "40.00", capture=False), amount=Decimal("40.00"))
    assert p.captured == Decimal("40.00")


def test_a_capture_above_the_authorisation_names_what_was_authorised(web_channel):
    p = services.get_payment(card(web_channel, "40.00", capture=False).pk)  # as the API loads it
    with pytest.raises(CaptureExceedsAuthorized) as refused:
        services.capture_payment(payment=p, amount=Decimal("40.01"))
    assert (refused.value.field, refused.value.details) == ("amount", {"authorized": "40.00"})
    assert Payment.objects.get(pk=p.pk).status == "authorized"


@pytest.mark.parametrize("amount", ["0", "-5.00", "0.004"])
def test_a_zero_or_negative_capture_is_refused(web_channel, amount):
    p = card(web_channel, "40.00", capture=False)
    with pytest.raises(ValidationFailed) as refused:
        services.capture_payment(payment=p, amount=Decimal(amount))
    assert (refused.value.code, refused.value.field) == ("validation_error", "amount")
    assert Payment.objects.get(pk=p.pk).status == "authorized"


def test_a_capture_amount_must_be_a_decimal(web_channel):
    p = card(web_channel, "40.00", capture=False)
    with pytest.raises(ValidationFailed) as refused:
        services.capture_payment(payment=p, amount=12.5)
    assert refused.value.field == "amount"


def test_a_captured_payment_cannot_be_captured_again(web_channel):
    p = services.capture_payment(payment=card(web_channel, "40.00", capture=False), amount=Decimal("10"))
    with pytest.raises(InvalidTransition) as refused:
        services.capture_payment(payment=p, amount=Decimal("10"))
    assert (refused.value.field, refused.value.details) == ("payment", {"current": "captured"})
    assert Payment.objects.get(pk=p.pk).captured == Decimal("10")


@pytest.mark.parametrize("number", ["4242424242424242", CARD_3DS])
def test_an_open_card_payment_can_be_voided(web_channel, told, number):
    p = card(web_channel, capture=False, number=number)
    p = services.void_payment(payment=p)
    assert p.status == "voided" and Payment.objects.get(pk=p.pk).status == "voided"
    assert told[-1] == (p.pk, "voided", 0, 0)


def test_a_transfer_still_awaited_can_be_voided(web_channel):
    assert services.void_payment(payment=transfer(web_channel)).status == "voided"


def test_a_captured_or_voided_payment_cannot_be_voided(web_channel):
    captured = card(web_channel)
    voided = services.void_payment(payment=transfer(web_channel))
    for p in (captured, voided):
        with pytest.raises(InvalidTransition) as refused:
            services.void_payment(payment=p)
        assert (refused.value.field, refused.value.details) == ("payment", {"current": p.status})
    assert Payment.objects.get(pk=captured.pk).status == "captured"


def test_a_voided_payment_cannot_be_captured_or_confirmed(web_channel):
    p = services.void_payment(payment=card(web_channel, capture=False))
    with pytest.raises(InvalidTransition) as refused:
        services.capture_payment(payment=p)
    assert (refused.value.field, refused.value.details) == ("payment", {"current": "voided"})
    with pytest.raises(InvalidTransition) as refused:
        services.confirm_payment(payment=p)
    assert (refused.value.field, refused.value.details) == ("payment", {"current": "voided"})


def test_money_taken_elsewhere_counts_as_paid(web_channel, shopper):
    p = services.record_external_payment(
        channel=web_channel,
        reference="M-1",
        amount=Decimal("15.005"),
        currency="GBP",
        label="x" * 80,
        customer=shopper,
    )
    assert Payment.objects.get(pk=p.pk).customer == shopper
    assert Payment.objects.get(pk=p.pk).currency == "GBP"
    assert (p.provider, p.status, p.amount, p.captured) == (
        "manual",
        "captured",
        Decimal("15.01"),
        Decimal("15.01"),
    )
    assert p.method_label == "x" * 60
    assert services.paid_amount(reference="M-1") == Decimal("15.01")
    with pytest.raises(ValidationFailed) as refused:
        services.record_external_payment(
            channel=web_channel, reference="M-1", amount=Decimal("-1"), currency="GBP", label="till"
        )
    assert refused.value.field == "payment.amount"


def test_an_attempt_declined_inside_a_rolled_back_checkout_is_kept(web_channel, shopper):
    p = services.record_failed_attempt(
        customer=shopper,
        channel=web_channel,
        reference="ORD-9",
        provider="test_card",
        amount=Decimal("9.999"),
        currency="GBP",
        failure_code="card_declined",
    )
    stored = Payment.objects.get(pk=p.pk)
    assert (stored.status, stored.amount, stored.failure_code) == (
        "failed",
        Decimal("10.00"),
        "card_declined",
    )
    assert (stored.currency, stored.reference, stored.provider, stored.customer, stored.channel) == (
        "GBP",
        "ORD-9",
        "test_card",
        shopper,
        web_channel,
    )


def test_a_payment_is_found_by_id_and_a_missing_one_is_not_found(web_channel, django_assert_num_queries):
    p = card(web_channel)
    with django_assert_num_queries(1):  # the API shows the payment's channel: one query, not two
        assert services.get_payment(p.pk).channel == web_channel
    with pytest.raises(PaymentNotFound) as missing:
        services.get_payment(p.pk + 1)
    assert (missing.value.code, missing.value.field) == ("payment_not_found", "id")


def test_merged_orders_count_each_others_payments(web_channel, django_assert_num_queries):
    card(web_channel, "10", reference="A")
    card(web_channel, "5", reference="B")
    assert services.move_payments(from_reference="B", to_reference="A") == 1
    assert services.paid_amount(reference="A") == Decimal("15")
    assert services.paid_amount(reference="B") == 0
    with django_assert_num_queries(2):  # the payments and all their refunds, not one query per payment
        listed = services.payments_for(reference="A")
        assert [(p.amount, list(p.refunds.all())) for p in listed] == [
            (Decimal("10"), []),
            (Decimal("5"), []),
        ]


def test_amounts_taken_elsewhere_or_declined_are_rounded_to_the_currency(web_channel):
    external = services.record_external_payment(
        channel=web_channel, reference="J-1", amount=Decimal("1000.4"), currency="JPY", label="till"
    )
    declined = services.record_failed_attempt(
        channel=web_channel,
        reference="J-1",
        provider="test_card",
        amount=Decimal("99.5"),
        currency="JPY",
        failure_code="card_declined",
    )
    assert (external.amount, declined.amount) == (Decimal("1000"), Decimal("100"))


def test_an_order_paid_in_full_by_a_voucher_elsewhere_records_a_zero_payment(web_channel):
    p = services.record_external_payment(
        channel=web_channel, reference="M-0", amount=Decimal("0"), currency="GBP", label="voucher"
    )
    assert (p.status, p.captured) == ("captured", 0)
    tip = services.record_external_payment(
        channel=web_channel, reference="M-0", amount=Decimal("0.50"), currency="GBP", label="till"
    )
    assert tip.captured == Decimal("0.50")


def test_captures_in_a_currency_without_minor_units_are_whole_units(web_channel):
    p = services.start_payment(
        channel=web_channel,
        reference="J-1",
        provider="test_card",
        amount=Decimal("1000"),
        currency="JPY",
        token="4242424242424242",
        capture=False,
    )
    with pytest.raises(CaptureExceedsAuthorized) as refused:
        services.capture_payment(payment=services.get_payment(p.pk), amount=Decimal("1000.5"))
    assert refused.value.details == {"authorized": "1000"}
    with pytest.raises(ValidationFailed):  # rounds to nothing
        services.capture_payment(payment=p, amount=Decimal("0.4"))
    assert services.capture_payment(payment=p, amount=Decimal("1000.4")).captured == Decimal("1000")


def test_a_zero_transfer_confirmed_is_captured(web_channel):
    p = services.confirm_payment(payment=transfer(web_channel, "0"))
    assert (p.status, p.captured) == ("captured", 0)


def test_finance_sees_authorised_payments_still_to_capture_oldest_first(
    web_channel, django_assert_num_queries
):
    waiting = [card(web_channel, "10.00", capture=False, reference=f"ORD-{i}") for i in range(26)]
    card(web_channel, "10.00", reference="ORD-PAID")
    transfer(web_channel, reference="ORD-TRANSFER")
    services.void_payment(payment=card(web_channel, "10.00", capture=False, reference="ORD-VOID"))
    with django_assert_num_queries(1):
        listed = services.payments_to_capture()
        channels = {p.channel.code for p in listed}
    assert listed == waiting[:25] and channels == {web_channel.code}
    assert services.payments_to_capture(limit=2) == waiting[:2]


def test_finance_sees_failed_payments_most_recently_failed_first(web_channel, django_assert_num_queries):
    late = stripe_payment(web_channel, intent="pi_late")
    declined = [
        services.record_failed_attempt(
            channel=web_channel,
            reference=f"ORD-{i}",
            provider="test_card",
            amount=Decimal("10"),
            currency="GBP",
            failure_code="card_declined",
        )
        for i in range(25)
    ]
    card(web_channel, "10.00", capture=False)
    with override_settings(OMNISHOP_STRIPE_WEBHOOK_SECRET=WHSEC):
        deliver(intent_event("requires_payment_method", intent="pi_late"))
    with django_assert_num_queries(1):
        listed = services.failed_payments()
        channels = {p.channel.code for p in listed}
    assert listed == [late, *declined[::-1][:24]] and channels == {web_channel.code}
    assert services.failed_payments(limit=2) == [late, declined[-1]]


def test_what_a_reference_has_paid_in_ignores_refunds_and_is_zero_without_payments(web_channel):
    assert services.captured_amount(reference="ORD-1") == services.paid_amount(reference="ORD-1") == 0
    p = card(web_channel, "30.00")
    card(web_channel, "5.00", capture=False)
    services.refund_payment(payment=p, amount=Decimal("10.00"), key="r")
    assert services.captured_amount(reference="ORD-1") == Decimal("30.00")
    assert services.paid_amount(reference="ORD-1") == Decimal("20.00")


def test_a_card_charge_in_yen_is_rounded_to_whole_yen(web_channel):
    p = services.start_payment(
        channel=web_channel,
        reference="J-1",
        provider="test_card",
        amount=Decimal("1000.5"),
        currency="JPY",
        token=CARD_OK,
    )
    stored = Payment.objects.get(pk=p.pk)
    assert (str(p.amount), str(p.captured)) == ("1001", "1001")
    assert (stored.amount, stored.captured) == (Decimal("1001"), Decimal("1001"))
