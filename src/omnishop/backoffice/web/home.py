"""The role landing: /admin/ops/ opens the desk of the signed-in member of staff's role (backoffice/roles.py).

The warehouse sees what to pick, pack and ship per location; the merchandiser listings, prices and low stock
on sale; finance payments to capture, failed captures and refunds (those above the refund limit apart);
customer service the exception queue and recent returns. The store manager and the analyst are sent to the
dashboard. `?desk=<name>` opens another desk the user's permissions allow (a manager looking at the
warehouse). Every list comes from a service query, a bounded number of queries per page.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from omnishop.catalog import services as catalog
from omnishop.inventory import services as inventory
from omnishop.orders import services as orders
from omnishop.payments import services as payments

from .. import roles
from .common import desk, staff_view

NAV: list[tuple[str, str, str]] = [(_("Home"), "home", "")]

LIMIT = 25


@dataclass(frozen=True)
class Panel:
    key: str
    label: str
    permissions: tuple[str, ...]  # needed to open it (what its lists show)


PANELS: dict[str, Panel] = {
    p.key: p
    for p in (
        Panel("warehouse", _("Warehouse"), ("orders.view_order",)),
        Panel("service", _("Customer service"), ("orders.view_order", "orders.view_returnrequest")),
        Panel(
            "merchandising",
            _("Merchandising"),
            ("catalog.view_channellisting", "inventory.view_lowstockalert"),
        ),
        Panel("finance", _("Finance"), ("payments.view_payment", "payments.view_refund")),
    )
}


def refund_limit() -> Decimal:
    """Refunds above this (in the payment's currency) need finance (`payments.change_refund`)."""
    return Decimal(str(getattr(settings, "OMNISHOP_REFUND_LIMIT", "500")))


def _ops_path(tail: str) -> str:
    # Desks built in other modules, linked by path so this page does not depend on their url names.
    return reverse("backoffice:home") + tail


def landing(user, held: list[roles.Role]) -> str | None:
    """Where /admin/ops/ takes this user: their first role's desk; a superuser without a role the dashboard."""
    if held:
        return held[0].desk
    return "dashboard" if user.is_superuser else None


def _warehouse() -> dict:
    return {"locations": orders.warehouse_worklist(limit=LIMIT)}


def _service() -> dict:
    return {
        "exceptions": orders.open_exceptions(limit=LIMIT),
        "returns": orders.recent_returns(limit=LIMIT),
    }


def _merchandising() -> dict:
    return {
        "listings": catalog.recently_changed_listings(limit=LIMIT),
        "unpublished": catalog.unpublished_products(limit=LIMIT),
        "low_stock": inventory.low_stock_on_sale(limit=LIMIT),
    }


def _finance() -> dict:
    limit = refund_limit()
    to_capture = payments.payments_to_capture(limit=LIMIT)
    failed = payments.failed_payments(limit=LIMIT)
    refunds = payments.recent_refunds(limit=LIMIT)
    large = payments.recent_refunds(limit=LIMIT, above=limit)
    references = {p.reference for p in to_capture + failed} | {r.payment.reference for r in refunds + large}
    numbers = orders.order_numbers_by_payment_reference(references)
    for payment in to_capture + failed:
        payment.order_number = numbers.get(payment.reference)
    for refund in refunds + large:
        refund.order_number = numbers.get(refund.payment.reference)
    return {
        "to_capture": to_capture,
        "failed": failed,
        "refund_limit": limit,
        "refund_sections": [
            (
                _("Refunds above the limit (%(limit)s)") % {"limit": limit},
                large,
                _("No refund above the limit."),
                "h-large",
            ),
            (_("Recent refunds"), refunds, _("No refund yet."), "h-refunds"),
        ],
    }


BUILD = {"warehouse": _warehouse, "service": _service, "merchandising": _merchandising, "finance": _finance}


@staff_view()
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    held = roles.roles_of(user)
    chosen = request.GET.get("desk")
    if chosen is None:
        chosen = landing(user, held)
        if chosen == "dashboard":
            return redirect(_ops_path("dashboard/"))
    panels = [p for p in PANELS.values() if user.has_perms(p.permissions)]
    if chosen is not None:
        panel = PANELS.get(chosen)
        if panel is None:
            raise Http404("No such desk.")
        if not user.has_perms(panel.permissions):
            raise PermissionDenied("Your role does not allow this.")
    context = {
        "panel": chosen,
        "panels": panels,
        "held": held,
        "orders_path": _ops_path("orders/"),
        "dashboard_path": _ops_path("dashboard/"),
    }
    if chosen is not None:
        context.update(BUILD[chosen]())
    title = PANELS[chosen].label if chosen else _("Back-office")
    return desk(request, "backoffice/home/home.html", context, title=title)


urlpatterns = [path("", home, name="home")]
