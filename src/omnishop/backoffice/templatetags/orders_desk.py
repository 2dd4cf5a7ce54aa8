"""Template filters of the orders desk."""

from __future__ import annotations

from django import template

from omnishop.backoffice.kit import money as show_money

register = template.Library()


@register.filter
def money(amount, currency: str) -> str:
    """{{ order.total|money:order.currency }} → '12.50 GBP' (the currency's minor units)."""
    return show_money(amount, currency)
