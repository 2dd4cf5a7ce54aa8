"""Stripe adapter on the official SDK: PaymentIntents for card payments, Refunds, signed webhooks.

Keys come from settings (OMNISHOP_STRIPE_SECRET_KEY, OMNISHOP_STRIPE_WEBHOOK_SECRET). Amounts go to Stripe in minor units.
Webhooks are verified with `stripe.WebhookSignature.verify_header` (HMAC-SHA256 over timestamp + raw body, with
a 5-minute tolerance); `payment_intent.succeeded`, `payment_intent.payment_failed`,
`payment_intent.canceled`, `payment_intent.amount_capturable_updated` and `charge.refunded` are applied.
"""

from __future__ import annotations

import json
from decimal import Decimal

import stripe
from django.conf import settings

from omnishop.core.money import minor_units

from ..errors import BadWebhookSignature, PaymentDeclined, ProviderUnavailable
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

    def _call(self, fn, **params):
        try:
            result = fn(api_key=self._key(), **params)
            return result.to_dict() if hasattr(result, "to_dict") else result
        except stripe.CardError as exc:
            raise PaymentDeclined(
                exc.user_message or "The card was declined.", field="payment.token"
            ) from None
        except stripe.StripeError as exc:
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
            intent=payment.external_id,
            amount_to_capture=to_minor(amount, payment.currency),
        )
        return ProviderResult(
            status="captured", captured=from_minor(intent.get("amount_received") or 0, payment.currency)
        )

    def confirm(self, *, payment) -> ProviderResult:
        intent = self._call(stripe.PaymentIntent.retrieve, id=payment.external_id)
        return ProviderResult(
            status=_STATUS.get(intent["status"], "pending"),
            captured=from_minor(intent.get("amount_received") or 0, payment.currency),
        )

    def void(self, *, payment) -> ProviderResult:
        self._call(stripe.PaymentIntent.cancel, intent=payment.external_id)
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
