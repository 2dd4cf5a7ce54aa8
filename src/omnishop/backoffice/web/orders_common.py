"""What the orders desk's pages share: its permissions, the order URLs, and an operation's form flow.

Permissions are the ones the APIs ask for, so a role means the same on the desk as over the API:
- VIEW (`orders.view_order`): find orders and open the order page (orders API READ);
- CHANGE (`orders.change_order`): every operation on an order (orders API MANAGE);
- REFUND (`payments.change_payment`): refund to the original payment method (payments API MANAGE);
- REFUND_ABOVE_LIMIT (`payments.change_refund`, the finance role's): a refund or credit above
  `settings.OMNISHOP_REFUND_LIMIT` in the order's currency;
- STORE_CREDIT (`payments.add_storecreditentry`): give store credit (payments API /store-credit).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from omnishop.core.errors import DomainError
from omnishop.orders import services as orders
from omnishop.orders.models import Order

from .common import attempt, confirmed, desk

VIEW = "orders.view_order"
CHANGE = "orders.change_order"
REFUND = "payments.change_payment"
REFUND_ABOVE_LIMIT = "payments.change_refund"
STORE_CREDIT = "payments.add_storecreditentry"


def order_url(order: Order) -> str:
    return reverse("backoffice:order", args=[order.number])


def customer_url(customer_id: int) -> str:
    """The people desk's customer page (built by another desk: the literal path until its name exists)."""
    try:
        return reverse("backoffice:customer", args=[customer_id])
    except NoReverseMatch:
        return f"/admin/ops/customers/{customer_id}/"


def refund_limit(request: HttpRequest) -> Decimal | None:
    """The largest amount this member of staff may give back at once (None: no limit, the finance role)."""
    if request.user.has_perm(REFUND_ABOVE_LIMIT):
        return None
    return Decimal(settings.OMNISHOP_REFUND_LIMIT)


def get_order(number: str) -> Order:
    try:
        return orders.get_order(number)
    except DomainError:
        raise Http404(_("No such order.")) from None


def renamed(call: Callable[[], object], rename: Callable[[str], str | None]) -> Callable[[], object]:
    """The service's field names (`lines[0].quantity`) as the form's (`line_12`), so errors sit beside them."""

    def run():
        try:
            return call()
        except DomainError as exc:
            exc.field = rename(exc.field or "")
            raise

    return run


def operation(
    request: HttpRequest,
    order: Order,
    form,
    *,
    title: str,
    submit: str,
    perform: Callable[[], object],
    done: str,
    summary: Callable[[], list[str]] | None = None,
    intro: str = "",
) -> HttpResponse:
    """One operation's page: GET shows the form; a valid POST shows the confirmation step first when
    `summary` is given (money or stock moves), then runs the service and returns to the order page. A
    refusal (invalid field or DomainError) shows the form again with the reason beside the field."""
    confirm = None
    if request.method == "POST" and form.is_valid():
        if summary is not None and not confirmed(request):
            confirm = summary()
        elif attempt(request, form, perform, done=done) is not None:
            return redirect(order_url(order))
    return desk(
        request,
        "backoffice/orders/operation.html",
        {
            "order": order,
            "order_url": order_url(order),
            "form": form,
            "confirm": confirm,
            "submit": submit,
            "intro": intro,
        },
        title=title,
        status=200,
    )
