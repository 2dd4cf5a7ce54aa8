"""Reading orders: who may see which, and the orders section of the customer 360 view."""

from __future__ import annotations

from django.db.models import QuerySet

from omnishop.core.money import quantize

from ..models import Order


def visible_orders(principal) -> QuerySet:
    """Staff see every order, a channel key its channel's, a shopper their own customer's."""
    qs = Order.objects.select_related("channel")
    if principal.kind == "staff":
        return qs
    if principal.kind == "channel":
        return qs.filter(channel=principal.channel)
    return qs.filter(customer=principal.customer)


def orders_for_customer(*, customer, channel=None) -> list[dict]:
    """The customer's orders from every channel (only `channel`'s when given), newest first, JSON-ready."""
    qs = Order.objects.filter(customer=customer).select_related("channel").order_by("-created_at", "-pk")
    if channel is not None:
        qs = qs.filter(channel=channel)
    return [
        {
            "number": o.number,
            "channel": o.channel.code,
            "status": o.status,
            "total": str(quantize(o.total, o.currency)),
            "currency": o.currency,
            "created_at": o.created_at.isoformat().replace("+00:00", "Z"),
        }
        for o in qs[:100]
    ]
