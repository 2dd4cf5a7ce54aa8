"""Moving and checking stock on the stock desk: transfers between locations (request → dispatch → receive,
or cancel before it leaves) and cycle counts (start, count, review the differences, post or cancel)."""

from __future__ import annotations

import re

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from omnishop.core.errors import DomainError
from omnishop.inventory import services as inventory
from omnishop.inventory.models import CycleCount, StockLevel, Transfer

from ..forms.stock import CountSheetForm, StartCountForm, TransferForm
from .common import actor, confirmed, denied, desk, staff_view
from .stock_common import (
    ADD_TRANSFER,
    CHANGE_TRANSFER,
    MOVE_STOCK,
    VIEW_COUNTS,
    VIEW_TRANSFERS,
    once,
    refuse,
    run,
)

# --- transfers ----------------------------------------------------------------------------------------


@staff_view(VIEW_TRANSFERS)
def transfer_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    transfers = Transfer.objects.select_related("source", "destination").order_by("-pk")
    if status in Transfer.Status.values:
        transfers = transfers.filter(status=status)
    else:
        status = ""
    return desk(
        request,
        "backoffice/stock/transfer_list.html",
        {
            "transfers": transfers[:200],
            "status": status,
            "statuses": Transfer.Status.choices,
            "can_add": request.user.has_perm(ADD_TRANSFER),
        },
        title=_("Transfers"),
    )


@staff_view(VIEW_TRANSFERS, ADD_TRANSFER)
def transfer_new(request: HttpRequest) -> HttpResponse:
    """Ask for stock to move; nothing moves until it is dispatched, so no confirmation step here."""
    form = TransferForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def call():
            return inventory.request_transfer(
                source=data["source"],
                destination=data["destination"],
                lines=[inventory.SkuQuantity(sku, qty) for sku, qty, _cost in data["lines"]],
                note=data["note"],
                actor=actor(request),
            )

        pk = once(request, form, "transfer", call, done=_("Transfer requested."))
        if pk is not None:
            return redirect(reverse("backoffice:stock-transfer", args=[pk]))
    status = 400 if form.is_bound else 200
    return desk(
        request, "backoffice/stock/transfer_new.html", {"form": form}, title=_("New transfer"), status=status
    )


TRANSFER_ACTIONS = {
    # action: (status it acts on, service, message, moves stock)
    "dispatch": (
        Transfer.Status.REQUESTED,
        inventory.dispatch_transfer,
        gettext_lazy("Transfer dispatched."),
        True,
    ),
    "receive": (
        Transfer.Status.IN_TRANSIT,
        inventory.receive_transfer,
        gettext_lazy("Transfer received."),
        True,
    ),
    "cancel": (Transfer.Status.REQUESTED, None, gettext_lazy("Transfer cancelled."), False),
}


@staff_view(VIEW_TRANSFERS)
def transfer_page(request: HttpRequest, pk: int) -> HttpResponse:
    transfer = get_object_or_404(Transfer.objects.select_related("source", "destination"), pk=pk)
    lines = list(transfer.lines.select_related("variant"))
    summary, confirming, errors = None, None, []
    if request.method == "POST":
        if not request.user.has_perm(CHANGE_TRANSFER):
            raise denied()
        action = request.POST.get("action", "")
        if action not in TRANSFER_ACTIONS:
            errors.append(_("Unknown action."))
        elif transfer.status != TRANSFER_ACTIONS[action][0]:
            # A second post of the same button (double click, back and resubmit) is refused cleanly.
            errors.append(
                _("The transfer is %(status)s; nothing was done.") % {"status": transfer.get_status_display()}
            )
        elif TRANSFER_ACTIONS[action][3] and not confirmed(request):
            confirming = action
            at = transfer.source if action == "dispatch" else transfer.destination
            sign = "−" if action == "dispatch" else "+"
            summary = [
                _("%(sign)s%(qty)s × %(sku)s on hand at %(loc)s")
                % {"sign": sign, "qty": x.quantity, "sku": x.variant.sku, "loc": at.code}
                for x in lines
            ]
        else:
            _state, service, done, _moves = TRANSFER_ACTIONS[action]
            try:
                if service is None:
                    inventory.cancel_transfer(transfer=transfer)
                else:
                    service(transfer=transfer, actor=actor(request))
            except DomainError as exc:
                errors.append(f"{exc.message} ({exc.code})")
            else:
                messages.success(request, done)
                return redirect(reverse("backoffice:stock-transfer", args=[transfer.pk]))
    return desk(
        request,
        "backoffice/stock/transfer_page.html",
        {
            "transfer": transfer,
            "lines": lines,
            "summary": summary,
            "confirming": confirming,
            "errors": errors,
            "can_change": request.user.has_perm(CHANGE_TRANSFER),
        },
        title=_("Transfer %(pk)s") % {"pk": transfer.pk},
        status=400 if errors else 200,
    )


# --- cycle counts -------------------------------------------------------------------------------------


@staff_view(VIEW_COUNTS)
def count_list(request: HttpRequest) -> HttpResponse:
    form = StartCountForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm(MOVE_STOCK):
            raise denied()
        if form.is_valid():
            # One open count per location: a second post of the same form is refused (count_in_progress).
            call = lambda: inventory.start_count(  # noqa: E731
                location=form.cleaned_data["location"], actor=actor(request)
            )
            count = run(request, form, call, done=_("Count started."))
            if count is not None:
                return redirect(reverse("backoffice:stock-count", args=[count.pk]))
    counts = CycleCount.objects.select_related("location").order_by("-pk")[:200]
    return desk(
        request,
        "backoffice/stock/count_list.html",
        {"form": form, "counts": counts, "can_move": request.user.has_perm(MOVE_STOCK)},
        title=_("Cycle counts"),
        status=400 if form.is_bound and form.errors else 200,
    )


@staff_view(VIEW_COUNTS)
def count_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The count sheet: enter what is on the shelf, review expected against counted, then post it."""
    count = get_object_or_404(CycleCount.objects.select_related("location"), pk=pk)
    levels = (
        StockLevel.objects.filter(location=count.location).select_related("variant").order_by("variant__sku")
    )
    is_open = count.status == CycleCount.Status.OPEN
    form = CountSheetForm(request.POST or None, levels=levels if is_open else ())
    review, errors, status = None, [], 200
    if request.method == "POST":
        if not request.user.has_perm(MOVE_STOCK):
            raise denied()
        if request.POST.get("action") == "cancel":
            if run(request, form, lambda: inventory.cancel_count(count=count), done=_("Count cancelled.")):
                return redirect(reverse("backoffice:stock-count", args=[count.pk]))
            errors = form.non_field_errors()
            status = 400
        elif not is_open:
            errors = [
                _("This count is %(status)s; nothing was done.") % {"status": count.get_status_display()}
            ]
            status = 400
        elif form.is_valid():
            lines = [inventory.SkuQuantity(sku, n) for sku, n in form.counted()]
            if not confirmed(request):
                review = run_review(request, form, count, lines)
            else:
                try:
                    inventory.complete_count(count=count, lines=lines, actor=actor(request))
                except DomainError as exc:
                    refuse_on_sheet(form, lines, exc)
                else:
                    messages.success(request, _("Count posted; the differences are on the ledger."))
                    return redirect(reverse("backoffice:stock-count", args=[count.pk]))
        if form.is_bound and form.errors:
            status = 400
    posted = (
        list(count.lines.select_related("variant")) if count.status == CycleCount.Status.COMPLETED else []
    )
    return desk(
        request,
        "backoffice/stock/count_page.html",
        {
            "count": count,
            "form": form,
            "is_open": is_open,
            "review": review,
            "differences": [r for r in review or [] if r.difference],
            "errors": errors,
            "posted": posted,
            "can_move": request.user.has_perm(MOVE_STOCK),
        },
        title=_("Count of %(location)s") % {"location": count.location.name},
        status=status,
    )


def run_review(request: HttpRequest, form, count: CycleCount, lines):
    """The differences the count would post, or None with the reason on the form."""
    try:
        return inventory.review_count(count=count, lines=lines)
    except DomainError as exc:
        refuse_on_sheet(form, lines, exc)
        return None


def refuse_on_sheet(form: CountSheetForm, lines, exc: DomainError) -> None:
    """A refusal naming a line of the sheet ('lines[2].quantity') goes next to that SKU's field."""
    match = re.fullmatch(r"lines\[(\d+)\].*", exc.field or "")
    if match and int(match.group(1)) < len(lines):
        sku = lines[int(match.group(1))].sku
        field = next((name for name, s in form.skus.items() if s == sku), "extra")
        form.add_error(field, f"{exc.message} ({exc.code})")
    else:
        refuse(form, exc)
