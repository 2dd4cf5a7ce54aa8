"""The orders desk's reading pages: the order search and the order page (lines, money, parcels, returns,
exceptions, the split/merge family and the timeline with who did what)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from omnishop.channels.models import Channel
from omnishop.core.errors import DomainError
from omnishop.orders import services as orders
from omnishop.orders.models import Fulfilment, Order
from omnishop.orders.services.changes import CANCELLABLE

from ..forms.orders import OrderSearchForm
from .common import desk, staff_view
from .orders_common import CHANGE, REFUND, STORE_CREDIT, VIEW, customer_url, order_url

PAGE_SIZE = 50


@staff_view(VIEW)
def order_list(request: HttpRequest) -> HttpResponse:
    channels = list(Channel.objects.order_by("code").values_list("code", "name"))
    form = OrderSearchForm(request.GET or None, channels=channels)
    page = None
    if not form.is_bound or form.is_valid():
        criteria = form.cleaned_data if form.is_bound else {}
        qs = orders.search_orders(
            text=criteria.get("q") or "",
            sku=criteria.get("sku") or "",
            status=criteria.get("status") or "",
            channel=criteria.get("channel") or "",
            placed_from=criteria.get("placed_from"),
            placed_to=criteria.get("placed_to"),
        )
        page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return desk(
        request,
        "backoffice/orders/list.html",
        {"form": form, "page": page, "query": query.urlencode()},
        title=_("Orders"),
    )


def staff_names(actors: set[str]) -> dict[str, str]:
    """'staff:12' → the member of staff's name, for every staff actor of a timeline in one query."""
    ids = {int(a.split(":", 1)[1]) for a in actors if a.startswith("staff:") and a[6:].isdigit()}
    users = get_user_model().objects.filter(pk__in=ids)
    return {f"staff:{u.pk}": u.get_full_name() or u.get_username() for u in users}


def event_detail(kind: str, after) -> str:
    """The part of an event's after-state worth a glance on the timeline (the message says the rest)."""
    after = after if isinstance(after, dict) else {}
    if kind == "status_changed" and after.get("status"):
        return f"→ {after['status']}"
    if kind in ("refunded", "store_credit_issued") and after.get("amount"):
        return f"{after['amount']} {after.get('currency', '')}".strip()
    if kind == "split" and after.get("child"):
        return f"→ {after['child']}"
    if kind == "merged" and after.get("merged"):
        return "← " + ", ".join(after["merged"])
    return ""


@staff_view(VIEW)
def order_page(request: HttpRequest, number: str) -> HttpResponse:
    try:
        order = orders.order_for_desk(number)
    except DomainError:
        raise Http404(_("No such order.")) from None
    events = list(order.events.all())
    names = staff_names({e.actor for e in events})
    timeline = [
        {"event": e, "actor": names.get(e.actor, e.actor), "detail": event_detail(e.kind, e.after)}
        for e in reversed(events)
    ]
    user = request.user
    may_change = user.has_perm(CHANGE)
    fulfilments = list(order.fulfilments.all())
    return desk(
        request,
        "backoffice/orders/order.html",
        {
            "order": order,
            "lines": list(order.lines.all()),
            "money": orders.money_of(order),
            "fulfilments": fulfilments,
            "returns": list(order.returns.all()),
            "exceptions": list(order.exceptions.all()),
            "children": list(order.children.all()),
            "merged_from": list(Order.objects.filter(merged_into=order).only("number", "status")),
            "timeline": timeline,
            "customer_url": customer_url(order.customer_id) if order.customer_id else "",
            "may_change": may_change,
            "may_refund": user.has_perm(REFUND),
            "may_credit": user.has_perm(STORE_CREDIT) and order.customer_id is not None,
            "may_fulfil": may_change
            and order.status in (Order.Status.PAID, Order.Status.PARTIALLY_FULFILLED)
            and not any(f.status == Fulfilment.Status.PENDING for f in fulfilments),
            "may_cancel": may_change and order.status in CANCELLABLE,
            "is_open": order.status
            in (Order.Status.PENDING_PAYMENT, Order.Status.PAID, Order.Status.ON_HOLD),
            "order_url": order_url(order),
        },
        title=_("Order %(number)s") % {"number": order.number},
    )
