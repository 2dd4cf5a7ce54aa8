"""Stock on the stock desk: find a SKU and see it across every location and channel, receive units, adjust
them with a reason, and the open low-stock alerts."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from omnishop.backoffice.kit import unit_money
from omnishop.catalog.models import Variant
from omnishop.channels.models import Channel
from omnishop.inventory import services as inventory
from omnishop.inventory.models import LowStockAlert, StockLevel, StockMovement

from ..forms.stock import AdjustStockForm, ReceiveStockForm, SkuSearchForm
from ..forms.stock import locations as active_locations
from .common import actor, confirmed, denied, desk, staff_view
from .stock_common import MOVE_STOCK, VIEW_ALERTS, VIEW_COST, VIEW_PO, VIEW_STOCK, once


@staff_view(VIEW_STOCK)
def overview(request: HttpRequest) -> HttpResponse:
    """Where to start: find a SKU, the locations with their totals, and what needs attention."""
    form = SkuSearchForm(request.GET or None)
    if form.is_bound and form.is_valid():
        sku = form.cleaned_data["sku"].strip()
        if Variant.objects.filter(sku=sku).exists():
            return redirect(reverse("backoffice:stock-sku", args=[sku]))
        form.add_error("sku", _("No variant with SKU %(sku)s.") % {"sku": sku})
    totals = (
        active_locations()
        .annotate(
            skus=Count("stock_levels", filter=Q(stock_levels__on_hand__gt=0)),
            on_hand=Sum("stock_levels__on_hand"),
            committed=Sum("stock_levels__allocated") + Sum("stock_levels__reserved"),
        )
        .order_by("code")
    )
    return desk(
        request,
        "backoffice/stock/overview.html",
        {
            "form": form,
            "locations": totals,
            "open_alerts": LowStockAlert.objects.filter(resolved_at__isnull=True).count(),
            "can_move": request.user.has_perm(MOVE_STOCK),
        },
        title=_("Stock"),
        status=400 if form.is_bound and form.errors else 200,
    )


@staff_view(VIEW_STOCK)
def sku_page(request: HttpRequest, sku: str) -> HttpResponse:
    """One SKU everywhere: on hand, allocated, reserved and free per location; what each channel may sell."""
    variant = Variant.objects.select_related("product").filter(sku=sku).first()
    if variant is None:
        raise Http404(sku)
    all_levels = list(StockLevel.objects.filter(variant=variant).select_related("location"))
    levels = {s.location_id: s for s in all_levels}
    rows = [{"location": x, "level": levels.pop(x.pk, None)} for x in active_locations()]
    rows += [{"location": s.location, "level": s} for s in levels.values()]  # inactive locations with stock
    show_costs = request.user.has_perm(VIEW_COST)
    if show_costs:
        valuations = inventory.valuations_of((variant.pk, row["location"].pk) for row in rows)
        for row in rows:
            valuation = valuations.get((variant.pk, row["location"].pk))
            row["average_cost"] = unit_money(valuation.average_cost, valuation.currency) if valuation else "—"
    channels = list(Channel.objects.filter(is_active=True).order_by("code"))
    availability = [inventory.availability_of(channel=c, variant=variant) for c in channels]
    movements = StockMovement.objects.filter(variant=variant).select_related("location").order_by("-id")
    totals = {
        "on_hand": sum(s.on_hand for s in all_levels),
        "allocated": sum(s.allocated for s in all_levels),
        "reserved": sum(s.reserved for s in all_levels),
        "free": sum(s.free for s in all_levels),
    }
    return desk(
        request,
        "backoffice/stock/sku.html",
        {
            "variant": variant,
            "rows": rows,
            "totals": totals,
            "channels": list(zip(channels, availability, strict=True)),
            "movements": movements[:20],
            "can_move": request.user.has_perm(MOVE_STOCK),
            "show_costs": show_costs,
        },
        title=_("Stock of %(sku)s") % {"sku": variant.sku},
    )


def _variant(form) -> Variant | None:
    sku = form.cleaned_data["sku"].strip()
    variant = Variant.objects.filter(sku=sku).first()
    if variant is None:
        form.add_error("sku", _("No variant with SKU %(sku)s.") % {"sku": sku})
    return variant


def _movement_form(
    request: HttpRequest, form_class, *, operation: str, template: str, title: str, describe, book, done: str
):
    """GET a blank form; POST checks it and shows the confirmation; POST confirm=yes books it once."""
    initial = {k: request.GET[k] for k in ("sku", "location") if k in request.GET}
    form = form_class(request.POST or None, initial=initial)
    summary = None
    status = 200
    if request.method == "POST":
        variant = _variant(form) if form.is_valid() else None
        if variant is not None:
            if not confirmed(request):
                summary = describe(form.cleaned_data, variant)
            else:
                pk = once(request, form, operation, lambda: book(form.cleaned_data, variant), done=done)
                if pk is not None:
                    return redirect(reverse("backoffice:stock-sku", args=[variant.sku]))
        if summary is None:
            status = 400
    return desk(request, template, {"form": form, "summary": summary}, title=title, status=status)


@staff_view(VIEW_STOCK, MOVE_STOCK)
def receive(request: HttpRequest) -> HttpResponse:
    """Goods in without a purchase order (opening stock, found stock): a receipt on the ledger."""

    def describe(data, variant):
        level = StockLevel.objects.filter(variant=variant, location=data["location"]).first()
        before = level.on_hand if level else 0
        return [
            _("Receive %(qty)s × %(sku)s at %(loc)s: on hand %(before)s → %(after)s.")
            % {
                "qty": data["quantity"],
                "sku": variant.sku,
                "loc": data["location"].code,
                "before": before,
                "after": before + data["quantity"],
            }
        ]

    def book(data, variant):
        return inventory.receive_stock(
            variant=variant,
            location=data["location"],
            quantity=data["quantity"],
            reference_type="receipt",
            reference=data["reference"],
            note=data["note"],
            actor=actor(request),
        )

    return _movement_form(
        request,
        ReceiveStockForm,
        operation="stock.receive",
        template="backoffice/stock/receive.html",
        title=_("Receive stock"),
        describe=describe,
        book=book,
        done=_("Stock received."),
    )


@staff_view(VIEW_STOCK, MOVE_STOCK)
def adjust(request: HttpRequest) -> HttpResponse:
    """Correct on hand with a reason (found, damaged, lost, …); only free units can be removed."""

    def describe(data, variant):
        level = StockLevel.objects.filter(variant=variant, location=data["location"]).first()
        before = level.on_hand if level else 0
        return [
            _("Adjust %(sku)s at %(loc)s by %(delta)+d (%(reason)s): on hand %(before)s → %(after)s.")
            % {
                "sku": variant.sku,
                "loc": data["location"].code,
                "delta": data["delta"],
                "reason": _(inventory.ADJUSTMENT_REASONS[data["reason_code"]]),
                "before": before,
                "after": before + data["delta"],
            }
        ]

    def book(data, variant):
        return inventory.adjust_stock(
            variant=variant,
            location=data["location"],
            delta=data["delta"],
            reason_code=data["reason_code"],
            note=data["note"],
            actor=actor(request),
        )

    return _movement_form(
        request,
        AdjustStockForm,
        operation="stock.adjust",
        template="backoffice/stock/adjust.html",
        title=_("Adjust stock"),
        describe=describe,
        book=book,
        done=_("Stock adjusted."),
    )


@staff_view(VIEW_ALERTS)
def alerts(request: HttpRequest) -> HttpResponse:
    """Open low-stock alerts: free stock fell under the reorder point replenishment computed. Recomputing
    the reorder points (what the replenishment suggestions do, so the same permission) opens an alert for
    every level already under its new point."""
    if request.method == "POST":
        if not request.user.has_perm(VIEW_PO):
            raise denied()
        inventory.suggest_replenishment()  # the default window and service level: nothing to refuse
        messages.success(request, _("Reorder points recomputed from the last 28 days of sales."))
        return redirect(reverse("backoffice:stock-alerts"))
    open_alerts = (
        LowStockAlert.objects.filter(resolved_at__isnull=True)
        .select_related("variant", "location")
        .order_by("location__code", "variant__sku")
    )
    return desk(request, "backoffice/stock/alerts.html", {"alerts": open_alerts[:500]}, title=_("Low stock"))
