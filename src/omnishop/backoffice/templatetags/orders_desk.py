"""Template filters of the orders desk."""

from __future__ import annotations

from django import template

from omnishop.backoffice.kit import money as show_money

register = template.Library()


@register.filter
def money(amount, currency: str) -> str:
    """{{ order.total|money:order.currency }} → '12.50 GBP' (the currency's minor units)."""
    return show_money(amount, currency)


@register.filter
def order_status(value: str) -> str:
    """{{ row.status|order_status }} → the order status's label in the staff's language ('paid' → 'Paid, …')."""
    from omnishop.orders.models import Order

    try:
        return str(Order.Status(value).label)
    except ValueError:
        return value


@register.filter
def tracking_status(value: str) -> str:
    """{{ f.tracking_status|tracking_status }} → the carrier's last tracking status as a label."""
    from omnishop.shipping.models import TrackingEvent

    try:
        return str(TrackingEvent.Status(value).label)
    except ValueError:
        return value
