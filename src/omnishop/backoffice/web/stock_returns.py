"""Returns on the stock desk: the list by status, and a return's page where it is approved or rejected,
received line by line as restock or write-off (which refunds as the return asks), or exchanged."""

from __future__ import annotations

from decimal import Decimal

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from omnishop.backoffice.kit import money
from omnishop.core.errors import NotFound
from omnishop.orders import services as orders
from omnishop.orders.models import ReturnRequest
from omnishop.orders.services.returns import line_value

from ..forms.stock import ExchangeForm, ReceiveReturnForm, ReturnDecisionForm
from .common import actor, confirmed, desk, staff_view
from .stock_common import CHANGE_ORDERS, VIEW_RETURNS, run


@staff_view(VIEW_RETURNS)
def return_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    returns = ReturnRequest.objects.select_related("order").order_by("-pk")
    if status in ReturnRequest.Status.values:
        returns = returns.filter(status=status)
    else:
        status = ""
    return desk(
        request,
        "backoffice/stock/return_list.html",
        {"returns": returns[:200], "status": status, "statuses": ReturnRequest.Status.choices},
        title=_("Returns"),
    )


def _return(number: str) -> ReturnRequest:
    try:
        return orders.get_return(number)
    except NotFound:
        raise Http404(number) from None


def _lines(rma: ReturnRequest):
    return list(rma.lines.select_related("order_line", "order_line__order", "order_line__variant"))


def _page(request: HttpRequest, rma: ReturnRequest, status: int = 200, **forms) -> HttpResponse:
    lines = _lines(rma)
    value = sum((line_value(rl.order_line, rl.quantity) for rl in lines), Decimal(0))
    can_change = request.user.has_perm(CHANGE_ORDERS)
    context = {
        "rma": rma,
        "order": rma.order,
        "lines": lines,
        "value": money(value, rma.order.currency),
        "refund_amount": money(rma.refund_amount, rma.order.currency),
        "can_change": can_change,
        "exchange_orders": list(rma.exchange_orders.all()),
    }
    if can_change and rma.status == ReturnRequest.Status.REQUESTED:
        context["decision_form"] = forms.get("decision_form") or ReturnDecisionForm()
    if can_change and rma.status == ReturnRequest.Status.APPROVED:
        context["receive_form"] = forms.get("receive_form") or ReceiveReturnForm(return_lines=lines)
    exchangeable = (ReturnRequest.Status.APPROVED, ReturnRequest.Status.RECEIVED)
    if (
        can_change
        and rma.refund_to == ReturnRequest.RefundTo.EXCHANGE
        and rma.status in exchangeable
        and not context["exchange_orders"]
    ):
        context["exchange_form"] = forms.get("exchange_form") or ExchangeForm()
    # A refused form the return's new state no longer offers (decided twice, received twice): its reason
    # is shown above the page instead.
    context["errors"] = [
        error
        for name in ("decision_form", "receive_form", "exchange_form")
        if forms.get(name) is not None and context.get(name) is not forms[name]
        for errors in forms[name].errors.values()
        for error in errors
    ]
    context["summary"] = forms.get("summary")
    context["confirming"] = forms.get("confirming")
    return desk(
        request,
        "backoffice/stock/return_page.html",
        context,
        title=_("Return %(number)s") % {"number": rma.number},
        status=status,
    )


@staff_view(VIEW_RETURNS)
def return_page(request: HttpRequest, number: str) -> HttpResponse:
    return _page(request, _return(number))


def _back(rma: ReturnRequest) -> HttpResponse:
    return redirect(reverse("backoffice:return", args=[rma.number]))


@staff_view(VIEW_RETURNS, CHANGE_ORDERS)
def decide(request: HttpRequest, number: str) -> HttpResponse:
    rma = _return(number)
    if request.method != "POST":
        return _back(rma)
    form = ReturnDecisionForm(request.POST)
    if form.is_valid():
        approve = form.cleaned_data["decision"] == "approve"
        done = _("Return approved.") if approve else _("Return rejected.")
        call = lambda: orders.decide_return(  # noqa: E731
            rma=rma, approve=approve, actor=actor(request), note=form.cleaned_data["note"]
        )
        if run(request, form, call, done=done) is not None:
            return _back(rma)
    return _page(request, rma, status=400, decision_form=form)


@staff_view(VIEW_RETURNS, CHANGE_ORDERS)
def receive(request: HttpRequest, number: str) -> HttpResponse:
    """Restock or write off each line; the refund follows (stock and money move: confirmed first)."""
    rma = _return(number)
    if request.method != "POST":
        return _back(rma)
    lines = _lines(rma)
    form = ReceiveReturnForm(request.POST, return_lines=lines)
    if not form.is_valid():
        return _page(request, rma, status=400, receive_form=form)
    dispositions = form.dispositions()
    location = form.cleaned_data["location"]
    if not confirmed(request):
        summary = []
        for rl in lines:
            if dispositions[rl.order_line_id] == "restock":
                summary.append(
                    _("Restock %(qty)s × %(sku)s at %(loc)s (on hand goes up by %(qty)s).")
                    % {"qty": rl.quantity, "sku": rl.order_line.sku, "loc": location.code}
                )
            else:
                summary.append(
                    _("Write off %(qty)s × %(sku)s (never back in stock).")
                    % {"qty": rl.quantity, "sku": rl.order_line.sku}
                )
        summary.append(_refund_line(rma, lines))
        return _page(request, rma, receive_form=form, summary=summary, confirming="receive")
    call = lambda: orders.receive_return(  # noqa: E731
        rma=rma,
        dispositions=dispositions,
        location_code=location.code if location else None,
        actor=actor(request),
    )
    if run(request, form, call, done=_("Return received.")) is not None:
        return _back(rma)
    return _page(request, rma, status=400, receive_form=form)


def _refund_line(rma: ReturnRequest, lines) -> str:
    value = money(
        sum((line_value(rl.order_line, rl.quantity) for rl in lines), Decimal(0)), rma.order.currency
    )
    if rma.refund_to == ReturnRequest.RefundTo.ORIGINAL:
        return _("Refund up to %(value)s to the original payment method.") % {"value": value}
    if rma.refund_to == ReturnRequest.RefundTo.STORE_CREDIT:
        return _("Issue %(value)s of store credit.") % {"value": value}
    return _("No refund: %(value)s pays for the exchange order.") % {"value": value}


@staff_view(VIEW_RETURNS, CHANGE_ORDERS)
def exchange(request: HttpRequest, number: str) -> HttpResponse:
    """A new order for the replacement items, paid by the return's value (money moves: confirmed first).
    A second post finds the exchange order already placed (place_exchange returns it)."""
    rma = _return(number)
    if request.method != "POST":
        return _back(rma)
    form = ExchangeForm(request.POST)
    if not form.is_valid():
        return _page(request, rma, status=400, exchange_form=form)
    lines = {sku: qty for sku, qty, _cost in form.cleaned_data["lines"]}
    if not confirmed(request):
        summary = [_("New order: %(qty)s × %(sku)s") % {"qty": q, "sku": s} for s, q in lines.items()]
        value = sum((line_value(rl.order_line, rl.quantity) for rl in _lines(rma)), Decimal(0))
        summary.append(
            _(
                "The return's value, %(value)s, pays for it; a surplus becomes store credit (a refund for a guest)."
            )
            % {"value": money(value, rma.order.currency)}
        )
        return _page(request, rma, exchange_form=form, summary=summary, confirming="exchange")
    call = lambda: orders.place_exchange(rma=rma, lines=lines, actor=actor(request))  # noqa: E731
    new = run(request, form, call, done=_("Exchange order placed."))
    if new is not None:
        return _back(rma)
    return _page(request, rma, status=400, exchange_form=form)
