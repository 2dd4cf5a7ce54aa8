"""What a payment change means for its order (called by the payments context after every change)."""

from __future__ import annotations

from omnishop.payments.models import Payment

from ..models import Order, OrderException
from ..states import event, transition
from .common import family_total, settled
from .listeners import order_paid


def payment_changed(payment: Payment) -> None:
    orders = list(
        Order.objects.select_related("channel")
        .filter(payment_reference=payment.reference)
        .exclude(status=Order.Status.MERGED)
    )
    for order in orders:
        event(
            order,
            "payment",
            actor=f"provider:{payment.provider}",
            after={
                "payment": payment.pk,
                "status": payment.status,
                "captured": str(payment.captured),
                "refunded": str(payment.refunded),
            },
        )
        if order.status == Order.Status.PENDING_PAYMENT and family_total(order) > 0 and settled(order):
            transition(
                order, Order.Status.PAID, actor=f"provider:{payment.provider}", message="Payment captured."
            )
            order_paid(order)
        elif order.status == Order.Status.PENDING_PAYMENT and payment.status == Payment.Status.FAILED:
            OrderException.objects.create(
                order=order,
                reason=OrderException.Reason.PAYMENT_FAILED,
                details={"payment": payment.pk, "failure_code": payment.failure_code},
            )
            transition(
                order, Order.Status.ON_HOLD, actor=f"provider:{payment.provider}", message="Payment failed."
            )
