"""Payments: partial capture and refunds, refund limits, store credit ledger, Stripe webhooks signed locally."""

from __future__ import annotations

import hashlib
import hmac
import time
from decimal import Decimal

import orjson
import pytest
from django.test import override_settings

from omnishop.payments import credit, services
from omnishop.payments.errors import (
    BadWebhookSignature,
    CaptureExceedsAuthorized,
    InsufficientFunds,
    RefundExceedsCaptured,
    UnknownProvider,
)
from omnishop.payments.models import Payment, WebhookDelivery

pytestmark = pytest.mark.django_db
WHSEC = "whsec_test_0123456789abcdef"


def card(channel, amount="50.00", capture=False, number="4242424242424242", reference="ORD-1"):
    return services.start_payment(
        channel=channel,
        reference=reference,
        provider="test_card",
        amount=Decimal(amount),
        currency="GBP",
        token=number,
        capture=capture,
    )


def test_partial_capture_then_partial_refunds_keep_paid_equal_captured_minus_refunded(web_channel):
    p = card(web_channel)
    assert p.status == "authorized" and services.paid_amount(reference="ORD-1") == 0
    p = services.capture_payment(payment=p, amount=Decimal("30.00"))
    assert (p.status, p.captured) == ("captured", Decimal("30.00"))
    services.refund_payment(payment=p, amount=Decimal("10.00"), key="r1")
    services.refund_payment(payment=p, amount=Decimal("10.00"), key="r1")  # retried: counted once
    services.refund_payment(payment=p, amount=Decimal("5.00"), key="r2")
    p.refresh_from_db()
    assert services.paid_amount(reference="ORD-1") == p.captured - p.refunded == Decimal("15.00")
    with pytest.raises(RefundExceedsCaptured):
        services.refund_payment(payment=p, amount=Decimal("15.01"), key="r3")
    p.refresh_from_db()
    assert p.refunded == Decimal("15.00")


def test_capture_above_the_authorisation_is_refused(web_channel):
    p = card(web_channel)
    with pytest.raises(CaptureExceedsAuthorized):
        services.capture_payment(payment=p, amount=Decimal("50.01"))


def test_refund_across_payments_of_a_reference_never_exceeds_what_was_paid(web_channel):
    card(web_channel, amount="20.00", capture=True, reference="R")
    card(web_channel, amount="5.00", capture=True, reference="R")
    services.refund_reference(reference="R", amount=Decimal("22.00"), currency="GBP", key="k")
    assert services.paid_amount(reference="R") == Decimal("3.00")
    with pytest.raises(RefundExceedsCaptured):
        services.refund_reference(reference="R", amount=Decimal("3.01"), currency="GBP", key="k2")


def test_unknown_provider_is_a_validation_error(web_channel):
    with pytest.raises(UnknownProvider):
        services.start_payment(
            channel=web_channel, reference="X", provider="paypal", amount=Decimal("1"), currency="GBP"
        )


def test_store_credit_cannot_go_negative_and_its_ledger_balances(web_channel):
    from omnishop.customers.models import Customer

    c = Customer.objects.create(email="c@example.com")
    credit.issue_credit(customer=c, amount=Decimal("10.00"), currency="GBP", key="gift")
    credit.issue_credit(customer=c, amount=Decimal("10.00"), currency="GBP", key="gift")  # same key: once
    services.start_payment(
        channel=web_channel,
        reference="S1",
        provider="store_credit",
        amount=Decimal("7.50"),
        currency="GBP",
        customer=c,
    )
    with pytest.raises(InsufficientFunds):
        services.start_payment(
            channel=web_channel,
            reference="S2",
            provider="store_credit",
            amount=Decimal("2.51"),
            currency="GBP",
            customer=c,
        )
    assert credit.balance_of(customer=c, currency="GBP") == Decimal("2.50")
    assert credit.verify_credit_ledger() == []


def stripe_event(event_id: str, kind: str, obj: dict) -> bytes:
    return orjson.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": obj}})


def stripe_signature(body: bytes, secret: str = WHSEC, at: int | None = None) -> str:
    ts = str(at or int(time.time()))
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def stripe_payment(channel, amount="25.00") -> Payment:
    return Payment.objects.create(
        reference="ORD-S",
        channel=channel,
        provider="stripe",
        status="requires_action",
        currency="GBP",
        amount=Decimal(amount),
        external_id="pi_123",
    )


@override_settings(OMNISHOP_STRIPE_WEBHOOK_SECRET=WHSEC)
def test_stripe_webhook_delivered_ten_times_has_one_effect(web_channel, api):
    stripe_payment(web_channel)
    body = stripe_event(
        "evt_1",
        "payment_intent.succeeded",
        {
            "id": "pi_123",
            "object": "payment_intent",
            "status": "succeeded",
            "amount_received": 2500,
            "currency": "gbp",
        },
    )
    for _ in range(10):
        response = api.post(
            "/payments/webhooks/stripe", raw=body, headers={"Stripe-Signature": stripe_signature(body)}
        )
        assert response.status_code == 200, response.content
    p = Payment.objects.get()
    assert (p.status, p.captured) == ("captured", Decimal("25.00"))
    assert WebhookDelivery.objects.count() == 1
    refund = stripe_event(
        "evt_2",
        "charge.refunded",
        {
            "id": "ch_1",
            "object": "charge",
            "payment_intent": "pi_123",
            "amount_refunded": 1000,
            "currency": "gbp",
        },
    )
    for _ in range(3):
        api.post(
            "/payments/webhooks/stripe", raw=refund, headers={"Stripe-Signature": stripe_signature(refund)}
        )
    assert services.paid_amount(reference="ORD-S") == Decimal("15.00")


@override_settings(OMNISHOP_STRIPE_WEBHOOK_SECRET=WHSEC)
def test_stripe_webhook_with_a_bad_signature_or_stale_timestamp_is_refused(web_channel, api):
    stripe_payment(web_channel)
    body = stripe_event(
        "evt_9",
        "payment_intent.succeeded",
        {
            "id": "pi_123",
            "object": "payment_intent",
            "status": "succeeded",
            "amount_received": 2500,
            "currency": "gbp",
        },
    )
    forged = api.post(
        "/payments/webhooks/stripe",
        raw=body,
        headers={"Stripe-Signature": stripe_signature(body, secret="whsec_wrong")},
    )
    stale = api.post(
        "/payments/webhooks/stripe",
        raw=body,
        headers={"Stripe-Signature": stripe_signature(body, at=int(time.time()) - 3600)},
    )
    unsigned = api.post("/payments/webhooks/stripe", raw=body)
    for response in (forged, stale, unsigned):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "bad_signature"
    assert Payment.objects.get().status == "requires_action"
    assert WebhookDelivery.objects.count() == 0


def test_stripe_adapter_is_off_without_keys(web_channel):
    with pytest.raises(BadWebhookSignature):
        services.handle_webhook(provider="stripe", body=b"{}", headers={})
