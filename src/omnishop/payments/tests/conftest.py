"""Small helpers for payment tests: a shopper, test-card payments through the services, and Stripe webhooks
signed the way Stripe signs them (HMAC-SHA256 over `timestamp.body` with the endpoint secret)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from decimal import Decimal

import orjson
import pytest

from omnishop.customers.models import Customer
from omnishop.payments import services
from omnishop.payments.models import Payment

WHSEC = "whsec_test_0123456789abcdef"
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_NO_FUNDS = "4000000000009995"
CARD_3DS = "4000002500003155"

_events = itertools.count(1)


@pytest.fixture
def shopper(db):
    return Customer.objects.create(email="ada@example.com")


def card(channel, amount="50.00", *, capture=True, number=CARD_OK, reference="ORD-1", customer=None):
    return services.start_payment(
        channel=channel,
        reference=reference,
        provider="test_card",
        amount=Decimal(amount),
        currency="GBP",
        token=number,
        capture=capture,
        customer=customer,
    )


def transfer(channel, amount="50.00", *, reference="ORD-1"):
    return services.start_payment(
        channel=channel, reference=reference, provider="manual", amount=Decimal(amount), currency="GBP"
    )


def stripe_payment(channel, amount="25.00", *, reference="ORD-S", intent="pi_123") -> Payment:
    """The row start_payment leaves once Stripe answered `requires_action` for a PaymentIntent (the adapter
    itself needs the network, so the row is written as it would have been)."""
    return Payment.objects.create(
        reference=reference,
        channel=channel,
        provider="stripe",
        status="requires_action",
        currency="GBP",
        amount=Decimal(amount),
        external_id=intent,
    )


def stripe_signature(body: bytes, secret: str = WHSEC, at: int | None = None) -> str:
    ts = str(at or int(time.time()))
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def intent_event(
    status: str, received: int = 0, *, intent="pi_123", kind=None, event_id=None, currency="gbp"
) -> tuple[bytes, dict]:
    """A signed `payment_intent.*` delivery: Stripe's intent status and amount_received in minor units."""
    kind = kind or {
        "succeeded": "payment_intent.succeeded",
        "requires_payment_method": "payment_intent.payment_failed",
        "canceled": "payment_intent.canceled",
        "requires_capture": "payment_intent.amount_capturable_updated",
    }.get(status, "payment_intent.processing")
    obj = {
        "id": intent,
        "object": "payment_intent",
        "status": status,
        "amount_received": received,
        "currency": currency,
    }
    return _signed(event_id or f"evt_{next(_events)}", kind, obj)


def refund_event(refunded: int, *, intent="pi_123", event_id=None, currency="gbp") -> tuple[bytes, dict]:
    """A signed `charge.refunded` delivery: amount_refunded is the charge's total refunded so far."""
    obj = {
        "id": f"ch_{intent}",
        "object": "charge",
        "payment_intent": intent,
        "amount_refunded": refunded,
        "currency": currency,
    }
    return _signed(event_id or f"evt_{next(_events)}", "charge.refunded", obj)


def _signed(event_id: str, kind: str, obj: dict) -> tuple[bytes, dict]:
    body = orjson.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": obj}})
    return body, {"Stripe-Signature": stripe_signature(body)}


def deliver(delivery: tuple[bytes, dict]) -> list[Payment]:
    body, headers = delivery
    return services.handle_webhook(provider="stripe", body=body, headers=headers)


@pytest.fixture
def told():
    """What listeners are told: every payment change, in order, as (id, status, captured, refunded)."""
    seen: list[tuple] = []

    def listener(payment: Payment) -> None:
        seen.append((payment.pk, payment.status, payment.captured, payment.refunded))

    services.on_payment_changed(listener)
    yield seen
    services.LISTENERS.remove(listener)
