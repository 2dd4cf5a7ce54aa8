"""Purchasing on the stock desk: replenishment suggestions turned into draft purchase orders, orders typed
in by a buyer, a draft's quantities edited, sent, received in part or in full (with the delivery's extra
charge), or cancelled — every line shown at its unit cost and its landed unit cost."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from omnishop.backoffice.kit import money, unit_money
from omnishop.catalog.models import SupplierOffer
from omnishop.core.errors import DomainError
from omnishop.inventory import services as inventory
from omnishop.inventory.models import PurchaseOrder, PurchaseOrderReceipt

from ..forms.stock import DraftQuantitiesForm, PurchaseOrderForm, ReceivePurchaseOrderForm, ReplenishForm
from .common import actor, confirmed, denied, desk, staff_view
from .stock_common import ADD_PO, CHANGE_PO, VIEW_COST, VIEW_PO, once, refuse, run


@staff_view(VIEW_PO)
def order_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    orders = PurchaseOrder.objects.select_related("supplier", "location").order_by("-pk")
    if status in PurchaseOrder.Status.values:
        orders = orders.filter(status=status)
    else:
        status = ""
    return desk(
        request,
        "backoffice/stock/po_list.html",
        {
            "orders": orders[:200],
            "status": status,
            "statuses": PurchaseOrder.Status.choices,
            "can_add": request.user.has_perm(ADD_PO),
        },
        title=_("Purchase orders"),
    )


@staff_view(VIEW_PO)
def suggestions(request: HttpRequest) -> HttpResponse:
    """What to reorder now (from the ledger's sales); POST turns every suggestion into draft orders, one
    per supplier and location — running it twice does not order twice (drafts count as on order)."""
    form = ReplenishForm(request.POST if request.method == "POST" else (request.GET or None))
    rows, status = None, 200
    if request.method == "POST":
        if not request.user.has_perm(ADD_PO):
            raise denied()
        if form.is_valid():
            call = lambda: inventory.create_replenishment_orders(  # noqa: E731
                location=form.cleaned_data["location"], actor=actor(request)
            )
            created = run(request, form, call, done=_("Draft purchase orders created."))
            if created is not None:
                if not created:
                    messages.info(request, _("Nothing is under its reorder point; no order was drafted."))
                return redirect(reverse("backoffice:purchase_orders") + "?status=draft")
        status = 400
    elif form.is_valid() or not form.is_bound:
        location = form.cleaned_data.get("location") if form.is_bound else None
        try:
            rows = inventory.suggest_replenishment(location=location)
        except DomainError as exc:
            refuse(form, exc)
            status = 400
    return desk(
        request,
        "backoffice/stock/suggestions.html",
        {
            "form": form,
            "rows": [
                {
                    "s": s,
                    "cost": unit_money(s.unit_cost, s.currency),
                    "landed": unit_money(s.landed_unit_cost, s.currency),
                    "total": money(s.unit_cost * s.quantity, s.currency),
                }
                for s in rows or []
            ],
            "can_add": request.user.has_perm(ADD_PO),
            "show_costs": request.user.has_perm(VIEW_COST),
        },
        title=_("Replenishment suggestions"),
        status=status,
    )


@staff_view(VIEW_PO, ADD_PO)
def order_new(request: HttpRequest) -> HttpResponse:
    """A draft typed in by a buyer; the unit cost defaults to the supplier's offer."""
    form = PurchaseOrderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def call():
            return inventory.create_purchase_order(
                supplier=data["supplier"],
                location=data["location"],
                lines=[inventory.OrderLine(sku, qty, cost) for sku, qty, cost in data["lines"]],
                note=data["note"],
                actor=actor(request),
            )

        pk = once(request, form, "purchase_order", call, done=_("Draft purchase order created."))
        if pk is not None:
            return redirect(reverse("backoffice:purchase_order", args=[pk]))
    return desk(
        request,
        "backoffice/stock/po_new.html",
        {"form": form},
        title=_("New purchase order"),
        status=400 if form.is_bound else 200,
    )


def _landing(offer: SupplierOffer | None) -> str:
    """'freight 0.30 GBP a unit, duty 10 %' — what the offer lands on top of its cost ('' if nothing)."""
    if offer is None or not (offer.freight_per_unit or offer.duty_percent):
        return ""
    return _("freight %(freight)s a unit, duty %(duty)s %%") % {
        "freight": unit_money(offer.freight_per_unit, offer.currency),
        "duty": f"{Decimal(offer.duty_percent).normalize():f}",
    }


def _lines(order: PurchaseOrder):
    lines = list(order.lines.select_related("variant").prefetch_related("receipts"))
    offers = {
        o.variant_id: o
        for o in SupplierOffer.objects.filter(
            supplier_id=order.supplier_id, variant_id__in=[x.variant_id for x in lines]
        )
    }
    return [
        {
            "line": x,
            "open": max(0, x.quantity - x.received),
            "unit_cost": unit_money(x.unit_cost, order.currency),
            "landed_unit_cost": unit_money(x.landed_unit_cost, order.currency),
            "total": money(x.unit_cost * x.quantity, order.currency),
            "landed_total": money(x.landed_unit_cost * x.quantity, order.currency),
            "offer": offers.get(x.variant_id),
            "offer_landing": _landing(offers.get(x.variant_id)),
            "receipts": [
                {
                    "receipt": r,
                    "extra_charge": money(r.extra_charge, order.currency) if r.extra_charge else "—",
                    "landed_unit_cost": unit_money(r.landed_unit_cost, order.currency),
                }
                for r in x.receipts.all()
            ],
        }
        for x in lines
    ]


@staff_view(VIEW_PO)
def order_page(request: HttpRequest, pk: int) -> HttpResponse:
    """A purchase order: its lines (ordered, received, cost); what its state allows."""
    order = get_object_or_404(PurchaseOrder.objects.select_related("supplier", "location"), pk=pk)
    return _order_page(request, order)


def _order_page(request: HttpRequest, order: PurchaseOrder, status: int = 200, **extra) -> HttpResponse:
    lines = _lines(order)
    can_change = request.user.has_perm(CHANGE_PO)
    show_costs = request.user.has_perm(VIEW_COST)
    context = {
        "show_costs": show_costs,
        "order": order,
        "lines": lines,
        "total": money(
            sum((x["line"].unit_cost * x["line"].quantity for x in lines), Decimal(0)), order.currency
        ),
        "landed_total": money(
            sum((x["line"].landed_unit_cost * x["line"].quantity for x in lines), Decimal(0)), order.currency
        ),
        "receipts": sorted(
            ((x["line"], r) for x in lines for r in x["receipts"]), key=lambda pair: pair[1]["receipt"].pk
        ),
        "can_change": can_change,
        "errors": list(extra.get("errors", [])),
        "summary": extra.get("summary"),
        "confirming": extra.get("confirming"),
    }
    if can_change and order.status == PurchaseOrder.Status.DRAFT:
        context["edit_form"] = extra.get("edit_form") or DraftQuantitiesForm(lines=[x["line"] for x in lines])
    receivable = (PurchaseOrder.Status.SENT, PurchaseOrder.Status.PARTIALLY_RECEIVED)
    if can_change and order.status in receivable:
        open_lines = [x["line"] for x in lines if x["open"]]
        context["receive_form"] = extra.get("receive_form") or ReceivePurchaseOrderForm(
            lines=open_lines, currency=order.currency, with_costs=show_costs
        )
    # A refused form the order's state no longer offers (received while a draft, edited once sent): its
    # reason is shown above the page instead.
    context["errors"] += [
        error
        for name in ("edit_form", "receive_form")
        if extra.get(name) is not None and context.get(name) is not extra[name]
        for errors in extra[name].errors.values()
        for error in errors
    ]
    context["can_send"] = can_change and order.status == PurchaseOrder.Status.DRAFT
    context["can_cancel"] = can_change and order.status in (
        PurchaseOrder.Status.DRAFT,
        PurchaseOrder.Status.SENT,
    )
    return desk(
        request,
        "backoffice/stock/po_page.html",
        context,
        title=_("Purchase order %(number)s") % {"number": order.number},
        status=status,
    )


def _back(order: PurchaseOrder) -> HttpResponse:
    return redirect(reverse("backoffice:purchase_order", args=[order.pk]))


@staff_view(VIEW_PO, CHANGE_PO)
def order_edit(request: HttpRequest, pk: int) -> HttpResponse:
    order = get_object_or_404(PurchaseOrder.objects.select_related("supplier", "location"), pk=pk)
    if request.method != "POST":
        return _back(order)
    form = DraftQuantitiesForm(request.POST, lines=list(order.lines.select_related("variant")))
    if form.is_valid():
        call = lambda: inventory.change_draft_quantities(order=order, quantities=form.quantities())  # noqa: E731
        if run(request, form, call, done=_("Quantities saved.")) is not None:
            return _back(order)
    order.refresh_from_db()
    return _order_page(request, order, status=400, edit_form=form)


@staff_view(VIEW_PO, CHANGE_PO)
def order_act(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a draft to the supplier, or cancel an order with nothing received. A repeated post finds the
    order already in its new state and is refused by the service's state check."""
    order = get_object_or_404(PurchaseOrder.objects.select_related("supplier", "location"), pk=pk)
    if request.method != "POST":
        return _back(order)
    action = request.POST.get("action")
    services = {"send": inventory.send_purchase_order, "cancel": inventory.cancel_purchase_order}
    if action not in services:
        return _order_page(request, order, status=400, errors=[_("Unknown action.")])
    try:
        services[action](order=order)
    except DomainError as exc:
        return _order_page(request, order, status=400, errors=[f"{exc.message} ({exc.code})"])
    messages.success(
        request, _("Purchase order sent.") if action == "send" else _("Purchase order cancelled.")
    )
    return _back(order)


@staff_view(VIEW_PO, CHANGE_PO)
def order_receive(request: HttpRequest, pk: int) -> HttpResponse:
    """Book a delivery, in part or in full (stock moves: confirmed first). The page's token keys every
    receipt line, so a second post of the same delivery books nothing (receive_purchase_order's keys)."""
    order = get_object_or_404(PurchaseOrder.objects.select_related("supplier", "location"), pk=pk)
    if request.method != "POST":
        return _back(order)
    # Every line parses (not only the open ones), so a repeated post still reads the same delivery.
    show_costs = request.user.has_perm(VIEW_COST)
    form = ReceivePurchaseOrderForm(
        request.POST,
        lines=list(order.lines.select_related("variant")),
        currency=order.currency,
        with_costs=show_costs,
    )
    if not form.is_valid():
        return _order_page(request, order, status=400, receive_form=form)
    received = form.received()
    extra_charge = form.cleaned_data.get("extra_charge")
    if not confirmed(request):
        landed = {x.variant.sku: x.landed_unit_cost for x in order.lines.select_related("variant")}
        summary = [
            _("Receive %(qty)s × %(sku)s at %(loc)s (on hand goes up by %(qty)s), landed at %(cost)s a unit.")
            % {
                "qty": qty,
                "sku": sku,
                "loc": order.location.code,
                "cost": unit_money(landed[sku], order.currency),
            }
            if show_costs
            else _("Receive %(qty)s × %(sku)s at %(loc)s (on hand goes up by %(qty)s).")
            % {"qty": qty, "sku": sku, "loc": order.location.code}
            for sku, qty in received
        ]
        if extra_charge:
            summary.append(
                _("Spread an extra charge of %(charge)s over these lines by value.")
                % {"charge": money(extra_charge, order.currency)}
            )
        return _order_page(request, order, receive_form=form, summary=summary, confirming="receive")
    key = f"desk:{form.cleaned_data['token']}"
    if PurchaseOrderReceipt.objects.filter(line__purchase_order=order, key=key).exists():
        messages.info(request, _("This delivery was already booked; nothing was booked twice."))
        return _back(order)
    call = lambda: inventory.receive_purchase_order(  # noqa: E731
        order=order,
        lines=[inventory.ReceiptLine(sku, qty, key) for sku, qty in received],
        extra_charge=extra_charge,
        actor=actor(request),
    )
    if run(request, form, call, done=_("Delivery received.")) is not None:
        return _back(order)
    order.refresh_from_db()
    return _order_page(request, order, status=400, receive_form=form)
