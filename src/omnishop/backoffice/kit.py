"""Building blocks every context's admin.py shares: money display, read-only screens, service actions.

Admin screens never write business rows themselves; they show them and run services. These helpers make
that the easy path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from django.contrib import admin, messages

from omnishop.core.errors import DomainError
from omnishop.core.money import minor_units, quantize, quantize_unit_cost


def money(amount: Decimal | None, currency: str) -> str:
    """'12.50 GBP': an amount shown with its currency's minor units, '—' when there is none."""
    if amount is None:
        return "—"
    return f"{quantize(Decimal(amount), currency)} {currency}"


def unit_money(amount: Decimal | None, currency: str) -> str:
    """A unit cost to its 4 places without the trailing zeros past the currency's minor units: '2.45 GBP',
    '14.738 GBP', '2.8625 GBP' — a landed or average cost rounded to pence would hide what it is made of."""
    if amount is None:
        return "—"
    amount = quantize_unit_cost(Decimal(amount))
    places = max(minor_units(currency), -int(amount.normalize().as_tuple().exponent))
    return f"{amount.quantize(Decimal(1).scaleb(-places))} {currency}"


def run_each(model_admin, request, items: Iterable, call: Callable, *, label: Callable, done: str) -> int:
    """Apply a service to each selected row; a DomainError becomes an error message, never a 500."""
    count = 0
    for item in items:
        try:
            call(item)
            count += 1
        except DomainError as exc:
            model_admin.message_user(request, f"{label(item)}: {exc.message} ({exc.code})", messages.ERROR)
    if count:
        model_admin.message_user(request, f"{done}: {count}.", messages.SUCCESS)
    return count


class ReadOnlyAdmin(admin.ModelAdmin):
    """Audit and ledger rows, and rows only services may write: view, search and filter, never edit."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields  # inlines, unlike model admins, still build form fields without change permission

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
