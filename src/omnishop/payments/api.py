"""Payments API: provider webhooks, payment actions (confirm, capture, void, refund), store credit, saved methods."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.http import HttpRequest
from ninja import Router, Status

from omnishop.auth import channel_key, shopper, staff
from omnishop.core.errors import ValidationFailed
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent
from omnishop.core.money import parse_amount, quantize, validate_currency
from omnishop.core.schemas import ERRORS as COMMON_ERRORS
from omnishop.core.schemas import Id, error_schema

from . import credit, services
from .errors import PaymentNotFound
from .models import Payment, Refund, StoreCreditAccount
from .schemas import (
    AmountIn,
    CreditBalancesOut,
    CreditIn,
    CreditIssuedOut,
    MethodIn,
    PaymentListOut,
    PaymentMethodOut,
    PaymentOut,
    RefundIn,
    RefundOut,
    WebhookAppliedOut,
)

router = Router(tags=["payments"])
ERRORS = {**COMMON_ERRORS, 402: error_schema(402), 502: error_schema(502)}
MANAGE = [channel_key("orders:write"), staff("payments.change_payment")]
READ = [channel_key("orders:read"), staff("payments.view_payment")]


def payment_out(p: Payment) -> dict:
    c = p.currency
    return {
        "id": p.pk,
        "reference": p.reference,
        "channel": p.channel.code,
        "provider": p.provider,
        "status": p.status,
        "currency": c,
        "amount": str(quantize(p.amount, c)),
        "captured": str(quantize(p.captured, c)),
        "refunded": str(quantize(p.refunded, c)),
        "method": p.method_label,
        "failure_code": p.failure_code,
        "created_at": p.created_at,
    }


def _visible(request: HttpRequest, payment_id: int) -> Payment:
    payment = services.get_payment(payment_id)
    if not request.auth.can_see_channel(payment.channel):
        raise PaymentNotFound(f"No payment {payment_id}.", field="id")
    return payment


@router.post("/webhooks/{provider}", response={200: WebhookAppliedOut, **ERRORS}, auth=None)
def webhook(request: HttpRequest, provider: str):
    """Provider events (Stripe: `Stripe-Signature`); verified over the raw body; repeats change nothing."""
    changed = services.handle_webhook(provider=provider, body=request.body, headers=request.headers)
    return {"applied": len(changed)}


@router.get("", response={200: PaymentListOut, **ERRORS}, auth=READ)
def list_payments(request: HttpRequest, reference: str):
    qs = Payment.objects.select_related("channel").filter(reference=reference)
    if request.auth.kind == "channel":
        qs = qs.filter(channel=request.auth.channel)
    return {"items": [payment_out(p) for p in qs]}


@router.post("/{payment_id}/confirm", response={200: PaymentOut, **ERRORS}, auth=MANAGE)
def confirm(request: HttpRequest, payment_id: Id):
    """The bank transfer arrived / the shopper completed 3-D Secure: capture it."""
    return payment_out(services.confirm_payment(payment=_visible(request, payment_id)))


@router.post("/{payment_id}/capture", response={200: PaymentOut, **ERRORS}, auth=MANAGE)
def capture(request: HttpRequest, payment_id: Id, body: AmountIn):
    payment = _visible(request, payment_id)
    amount = parse_amount(body.amount, payment.currency) if body.amount is not None else None
    return payment_out(services.capture_payment(payment=payment, amount=amount))


@router.post("/{payment_id}/void", response={200: PaymentOut, **ERRORS}, auth=MANAGE)
def void(request: HttpRequest, payment_id: Id):
    return payment_out(services.void_payment(payment=_visible(request, payment_id)))


@router.post("/{payment_id}/refunds", response={201: RefundOut, **ERRORS}, auth=MANAGE)
def refund(
    request: HttpRequest, payment_id: Id, body: RefundIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    """Partial or full refund; above what is captured and not yet refunded → 409 refund_exceeds_captured."""
    payment = _visible(request, payment_id)
    amount = parse_amount(body.amount, payment.currency)

    def build():
        r: Refund = services.refund_payment(
            payment=payment,
            amount=amount,
            key=f"api:{idempotency_key or uuid.uuid4().hex}",
            reason=body.reason,
        )
        return {
            "id": r.pk,
            "payment": payment.pk,
            "amount": str(quantize(r.amount, payment.currency)),
            "status": r.status,
        }

    return idempotent(request, idempotency_key, 201, build, schema=RefundOut)


@router.post(
    "/store-credit", response={201: CreditIssuedOut, **ERRORS}, auth=[staff("payments.add_storecreditentry")]
)
def issue_store_credit(request: HttpRequest, body: CreditIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    """Give a customer credit (gift card, goodwill)."""
    from omnishop.customers.services import get_customer

    if not idempotency_key:
        raise ValidationFailed(
            "Send an Idempotency-Key: it makes a retried issue count once.", field="Idempotency-Key"
        )
    currency = validate_currency(body.currency)
    amount = parse_amount(body.amount, currency)
    customer = get_customer(body.customer)

    def build():
        entry = credit.issue_credit(
            customer=customer,
            amount=amount,
            currency=currency,
            reference=body.reference,
            key=f"api:{idempotency_key}",
        )
        return {
            "customer": customer.pk,
            "currency": currency,
            "amount": str(quantize(entry.amount, currency)),
            "balance": str(quantize(credit.balance_of(customer=customer, currency=currency), currency)),
        }

    return idempotent(request, idempotency_key, 201, build, schema=CreditIssuedOut)


@router.get("/store-credit/me", response={200: CreditBalancesOut, **ERRORS}, auth=[shopper()])
def my_store_credit(request: HttpRequest):
    accounts = StoreCreditAccount.objects.filter(customer=request.auth.customer)
    return {
        "balances": [
            {"currency": a.currency, "balance": str(quantize(a.balance, a.currency))} for a in accounts
        ]
    }


@router.post("/methods", response={201: PaymentMethodOut, **ERRORS}, auth=[shopper()])
def save_method(request: HttpRequest, body: MethodIn):
    """Save a provider token (never a card number) for one-click buying."""
    if body.provider == "test_card":
        digits = body.token.replace(" ", "")
        if len(digits) != 16 or not digits.isdigit():
            raise ValidationFailed("A test card number has 16 digits.", field="token")
    m = services.save_payment_method(
        customer=request.auth.customer,
        provider=body.provider,
        token=body.token,
        label=body.label,
        is_default=body.is_default,
    )
    return Status(201, {"id": m.pk, "provider": m.provider, "label": m.label, "is_default": m.is_default})


__all__ = ["Decimal", "router"]
