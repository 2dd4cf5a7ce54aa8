"""Money given back on an order by staff, outside a cancel or a return: a refund to the original payment
method, or store credit for the customer instead. Each takes the caller's idempotency key, so a form posted
twice gives back once and writes one timeline entry.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from omnishop.core.errors import ValidationFailed
from omnishop.core.money import quantize
from omnishop.payments import credit
from omnishop.payments import services as payments
from omnishop.payments.models import Refund, StoreCreditEntry

from ..errors import CreditExceedsPaid
from ..models import Order
from ..states import event
from .common import lock, paid


def _amount(amount: Decimal, currency: str) -> Decimal:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValidationFailed("The amount is a decimal number.", field="amount")
    value = quantize(amount, currency)
    if value <= 0:
        raise ValidationFailed("The amount must be positive.", field="amount")
    return value


def _key(key: str) -> str:
    if not key or len(key) > 80:
        raise ValidationFailed("An idempotency key of 1 to 80 characters is needed.", field="key")
    return key


def refund_order(*, order: Order, amount: Decimal, key: str, actor: str, reason: str = "") -> list[Refund]:
    """Refund `amount` to the order's original payment methods (newest payment first, store credit last);
    above what is refundable → refund_exceeds_captured. The same key refunds once."""
    amount = _amount(amount, order.currency)
    refund_key = f"desk-refund:{_key(key)}"
    with transaction.atomic():
        order = lock(order)
        already = Refund.objects.filter(
            payment__reference=order.payment_reference, key__startswith=f"{refund_key}:"
        ).exists()
        refunds = payments.refund_reference(
            reference=order.payment_reference,
            amount=amount,
            currency=order.currency,
            key=refund_key,
            reason=reason or "refund by staff",
        )
        if not already:  # a replay returns the first call's refunds and writes no second entry
            event(
                order,
                "refunded",
                actor=actor,
                message=reason,
                after={
                    "amount": str(amount),
                    "currency": order.currency,
                    "refunds": [r.pk for r in refunds],
                    "to": "original",
                },
            )
    return refunds


def credited_on(order: Order) -> Decimal:
    """Store credit issued against the order so far (by staff or by its returns)."""
    if order.customer_id is None:
        return Decimal(0)  # a guest order has no credit account
    entries = StoreCreditEntry.objects.filter(
        kind=StoreCreditEntry.Kind.ISSUE, account__customer_id=order.customer_id, reference=order.number
    )
    return sum((e.amount for e in entries), Decimal(0))


def credit_order(
    *, order: Order, amount: Decimal, key: str, actor: str, reason: str = ""
) -> StoreCreditEntry:
    """Give the order's customer store credit instead of money back (the payment stays captured); at most
    what was paid for the order less the credit already given against it. The same key credits once."""
    amount = _amount(amount, order.currency)
    credit_key = f"desk-credit:{_key(key)}"
    if order.customer_id is None:
        raise ValidationFailed("Store credit needs a known customer; this is a guest order.", field="amount")
    with transaction.atomic():
        order = lock(order)
        customer_id = order.customer_id
        assert customer_id is not None  # checked above; the lock re-read cannot change the customer
        existing = StoreCreditEntry.objects.filter(
            account__customer_id=customer_id, account__currency=order.currency, key=credit_key
        ).first()
        if existing is not None:
            if existing.amount != amount:
                raise ValidationFailed(
                    "This form was already used for another amount; open it again.", field="key"
                )
            return existing
        room = quantize(paid(order) - credited_on(order), order.currency)
        if amount > room:
            raise CreditExceedsPaid(
                f"At most {max(room, Decimal(0))} {order.currency} can still be given as credit for this order.",
                field="amount",
            )
        entry = credit.issue_credit(
            customer=order.customer,
            amount=amount,
            currency=order.currency,
            reference=order.number,
            key=credit_key,
        )
        event(
            order,
            "store_credit_issued",
            actor=actor,
            message=reason,
            after={
                "amount": str(amount),
                "currency": order.currency,
                "entry": entry.pk,
                "to": "store_credit",
            },
        )
    return entry
