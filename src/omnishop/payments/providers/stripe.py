"""Stripe adapter on the official SDK: PaymentIntents for card payments, Refunds, signed webhooks.

Keys come from settings (OMNISHOP_STRIPE_SECRET_KEY, OMNISHOP_STRIPE_WEBHOOK_SECRET). Amounts go to Stripe in minor units.
Webhooks are verified with `stripe.WebhookSignature.verify_header` (HMAC-SHA256 over timestamp + raw body, with
a 5-minute tolerance); `payment_intent.succeeded`, `payment_intent.payment_failed`,
`payment_intent.canceled`, `payment_intent.amount_capturable_updated` and `charge.refunded` are applied.

What a failed call means decides what is kept. A card error is a decline. An error Stripe answered with a 4xx
(bad request, bad key, rate limit, idempotency conflict) means it did not act: nothing was charged. A broken
connection or a 5xx after the request left means it may have acted: `PaymentOutcomeUnknown`, and the payment
is settled later by looking the intent up by its metadata (`find`). Every money-moving call carries an
idempotency key, so the SDK's own retries (OMNISHOP_STRIPE_NETWORK_RETRIES) never charge twice.
OMNISHOP_STRIPE_API_BASE points the SDK at another server speaking Stripe's API (stripe-mock, the tests' fake).
"""

from __future__ import annotations

import json
from decimal import Decimal

import stripe
from django.conf import settings

from omnishop.core.money import minor_units

from ..errors import (
    BadWebhookSignature,
    InsufficientFunds,
    PaymentDeclined,
    PaymentOutcomeUnknown,
    ProviderUnavailable,
)
from .base import Provider, ProviderResult, WebhookUpdate

_STATUS = {
    "requires_payment_method": "failed",
    "requires_confirmation": "requires_action",
    "requires_action": "requires_action",
    "processing": "pending",
    "requires_capture": "authorized",
    "succeeded": "captured",
    "canceled": "voided",
}


def _decline_code(exc: stripe.CardError) -> str:
    error = getattr(exc, "error", None)
    return str(getattr(error, "decline_code", "") or "") if error is not None else ""


def to_minor(amount: Decimal, currency: str) -> int:
    return int(amount.scaleb(minor_units(currency)))


def from_minor(value: int, currency: str) -> Decimal:
    return Decimal(value).scaleb(-minor_units(currency))


class StripeProvider(Provider):
    code = "stripe"
    synchronous = False
    in_process = False

    def _key(self) -> str:
        key = getattr(settings, "OMNISHOP_STRIPE_SECRET_KEY", "")
        if not key:
            raise ProviderUnavailable("Stripe is not configured (OMNISHOP_STRIPE_SECRET_KEY).")
        return key

    def _call(self, fn, *args, moves_money: bool = True, **params):
        """One SDK call. `moves_money`: a failure whose outcome is unknown may have charged, captured,
        refunded or cancelled — the caller must not assume it did not happen."""
        key = self._key()
        stripe.api_base = getattr(settings, "OMNISHOP_STRIPE_API_BASE", "https://api.stripe.com")
        stripe.max_network_retries = getattr(settings, "OMNISHOP_STRIPE_NETWORK_RETRIES", 2)
        try:
            result = fn(*args, api_key=key, **params)
            return result.to_dict() if hasattr(result, "to_dict") else result
        except stripe.CardError as exc:
            declined = InsufficientFunds if _decline_code(exc) == "insufficient_funds" else PaymentDeclined
            raise declined(exc.user_message or "The card was declined.", field="payment.token") from None
        except stripe.StripeError as exc:
            status = getattr(exc, "http_status", None)
            unknown = isinstance(exc, stripe.APIConnectionError) or status is None or status >= 500
            if moves_money and unknown:
                raise PaymentOutcomeUnknown(f"Stripe did not answer: {exc.user_message or exc}") from None
            raise ProviderUnavailable(f"Stripe: {exc.user_message or exc}") from None

    def authorize(self, *, payment, token: str, capture: bool) -> ProviderResult:
        intent = self._call(
            stripe.PaymentIntent.create,
            amount=to_minor(payment.amount, payment.currency),
            currency=payment.currency.lower(),
            payment_method=token,
            confirm=True,
            capture_method="automatic" if capture else "manual",
            metadata={"reference": payment.reference, "payment": str(payment.pk)},
            automatic_payment_methods={"enabled": True, "allow_redirects": "never"},
            idempotency_key=f"omnishop-payment-{payment.pk}",
        )
        status = _STATUS.get(intent["status"], "pending")
        return ProviderResult(
            status=status,
            external_id=intent["id"],
            client_secret=intent.get("client_secret") or "",
            method_label="card (Stripe)",
            captured=from_minor(intent.get("amount_received") or 0, payment.currency),
        )

    def capture(self, *, payment, amount: Decimal) -> ProviderResult:
        intent = self._call(
            stripe.PaymentIntent.capture,
            payment.external_id,
            amount_to_capture=to_minor(amount, payment.currency),
        )
        return ProviderResult(
            status="captured", captured=from_minor(intent.get("amount_received") or 0, payment.currency)
        )

    def confirm(self, *, payment) -> ProviderResult:
        intent = self._call(stripe.PaymentIntent.retrieve, payment.external_id, moves_money=False)
        return ProviderResult(
            status=_STATUS.get(intent["status"], "pending"),
            captured=from_minor(intent.get("amount_received") or 0, payment.currency),
        )

    def find(self, *, payment) -> ProviderResult | None:
        """The intent created for this payment row, if Stripe has one: looked up by the `payment` metadata
        that `authorize` sets (Stripe's search lags writes by up to a minute; callers wait that long)."""
        found = self._call(
            stripe.PaymentIntent.search,
            moves_money=False,
            query=f"metadata['payment']:'{int(payment.pk)}'",
            limit=1,
        )
        data = found.get("data") or []
        if not data:
            return None
        intent = data[0]
        return ProviderResult(
            status=_STATUS.get(intent["status"], "pending"),
            external_id=intent["id"],
            captured=from_minor(intent.get("amount_received") or 0, payment.currency),
        )

    def void(self, *, payment) -> ProviderResult:
        self._call(stripe.PaymentIntent.cancel, payment.external_id)
        return ProviderResult(status="voided")

    def refund(self, *, payment, amount: Decimal, key: str) -> ProviderResult:
        refund = self._call(
            stripe.Refund.create,
            payment_intent=payment.external_id,
            amount=to_minor(amount, payment.currency),
            idempotency_key=f"omnishop-refund-{payment.pk}-{key}",
        )
        return ProviderResult(status="succeeded" if refund["status"] == "succeeded" else "pending")

    def parse_webhook(self, *, body: bytes, headers) -> list[WebhookUpdate]:
        secret = getattr(settings, "OMNISHOP_STRIPE_WEBHOOK_SECRET", "")
        if not secret:
            raise BadWebhookSignature("Stripe webhooks are not configured (OMNISHOP_STRIPE_WEBHOOK_SECRET).")
        try:
            stripe.WebhookSignature.verify_header(
                body.decode("utf-8"), headers.get("Stripe-Signature") or "", secret, tolerance=300
            )
            event = json.loads(body)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise BadWebhookSignature(f"Stripe signature check failed: {exc}.") from None
        obj = event["data"]["object"]
        kind = event["type"]
        if kind.startswith("payment_intent."):
            currency = obj["currency"].upper()
            return [
                WebhookUpdate(
                    event_id=event["id"],
                    kind=kind,
                    external_id=obj["id"],
                    status=_STATUS.get(obj["status"]),
                    captured=from_minor(obj.get("amount_received") or 0, currency),
                    extra={"payment": (obj.get("metadata") or {}).get("payment", "")},
                )
            ]
        if kind == "charge.refunded" and obj.get("payment_intent"):
            currency = obj["currency"].upper()
            return [
                WebhookUpdate(
                    event_id=event["id"],
                    kind=kind,
                    external_id=obj["payment_intent"],
                    refunded=from_minor(obj.get("amount_refunded") or 0, currency),
                )
            ]
        return [WebhookUpdate(event_id=event["id"], kind=kind, external_id="")]
