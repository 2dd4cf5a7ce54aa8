"""The orders desk's operations, one form each: create fulfilments, ship, mark delivered, refund, store
credit, cancel, change the address, split, merge, resolve an exception, add a note.

Each view parses its form and calls one service of the orders context (shipping's for the carrier list),
with the member of staff as the actor, so the result lands on the order's timeline. Where money or stock
moves the form has a confirmation step. Forms that move money carry an idempotency key from the moment
they are shown, so posting one twice acts once.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from omnishop.core.errors import DomainError
from omnishop.core.money import quantize
from omnishop.orders import services as orders
from omnishop.orders.models import Fulfilment, OrderException
from omnishop.shipping import services as shipping
from omnishop.shipping.models import Carrier

from ..forms import orders as forms
from .common import actor, staff_view
from .orders_common import (
    CHANGE,
    REFUND,
    STORE_CREDIT,
    VIEW,
    get_order,
    operation,
    order_url,
    refund_limit,
    renamed,
)

INDEXED = re.compile(r"^(?P<name>\w+)\[(?P<index>\d+)\](?:\.(?P<part>\w+))?$")


def by_index(keys: list[int], make: Callable[[int], str]) -> Callable[[str], str | None]:
    """`lines[1].quantity` → the form field of the second key (`line_<id>`); anything else → the form."""

    def rename(field: str) -> str | None:
        m = INDEXED.match(field)
        if m and int(m["index"]) < len(keys):
            return make(keys[int(m["index"])])
        return None

    return rename


def money(amount, currency: str) -> str:
    return f"{quantize(amount, currency)} {currency}"


@staff_view(VIEW, CHANGE)
@require_POST
def fulfil(request: HttpRequest, number: str) -> HttpResponse:
    """Open one pending fulfilment per stock location that holds the order's units (no stock moves yet)."""
    order = get_order(number)
    try:
        created = orders.create_fulfilments(order=order, actor=actor(request))
    except DomainError as exc:
        messages.error(request, f"{exc.message} ({exc.code})")
    else:
        if created:
            messages.success(
                request, _("%(count)s fulfilment(s) to pick and pack.") % {"count": len(created)}
            )
        else:
            messages.info(request, _("Nothing is waiting to be fulfilled."))
    return redirect(order_url(order))


def fulfilment_of(order, fulfilment_id: int) -> Fulfilment:
    return get_object_or_404(
        Fulfilment.objects.select_related("location", "order"), pk=fulfilment_id, order=order
    )


@staff_view(VIEW, CHANGE)
def ship(request: HttpRequest, number: str, fulfilment_id: int) -> HttpResponse:
    order = get_order(number)
    fulfilment = fulfilment_of(order, fulfilment_id)
    carriers = list(Carrier.objects.filter(is_active=True).order_by("name").values_list("code", "name"))
    form = forms.ShipForm(request.POST or None, carriers=carriers)
    if (
        request.method == "POST"
        and fulfilment.status != Fulfilment.Status.PENDING
        and form.is_valid()
        and fulfilment.tracking_number == form.cleaned_data["tracking_number"]
    ):
        # the same form posted again: the parcel left once, nothing more to do
        messages.info(request, _("This parcel was already shipped."))
        return redirect(order_url(order))

    def perform():
        data = form.cleaned_data
        carrier = shipping.get_carrier(data["carrier"])  # refuses a carrier not (or no longer) configured
        return orders.ship_fulfilment(
            fulfilment=fulfilment,
            carrier=carrier.code,
            tracking_number=data["tracking_number"],
            parcels=data["parcels"],
            actor=actor(request),
        )

    def summary() -> list[str]:
        data = form.cleaned_data
        units = sum(x.quantity for x in fulfilment.lines.all())
        return [
            _("Ship %(units)s unit(s) from %(location)s: the stock leaves the location.")
            % {"units": units, "location": fulfilment.location.name},
            _("Carrier %(carrier)s, tracking number %(tracking)s, %(parcels)s parcel(s).")
            % {
                "carrier": dict(carriers).get(data["carrier"]),
                "tracking": data["tracking_number"],
                "parcels": data["parcels"],
            },
        ]

    return operation(
        request,
        order,
        form,
        title=_("Ship fulfilment %(id)s of order %(number)s") % {"id": fulfilment.pk, "number": order.number},
        submit=_("Ship"),
        perform=perform,
        summary=summary,
        done=_("Shipped."),
    )


@staff_view(VIEW, CHANGE)
@require_POST
def deliver(request: HttpRequest, number: str, fulfilment_id: int) -> HttpResponse:
    order = get_order(number)
    fulfilment = fulfilment_of(order, fulfilment_id)
    if fulfilment.status != Fulfilment.Status.SHIPPED:
        messages.info(request, _("Only a shipped parcel can be marked delivered."))
        return redirect(order_url(order))
    try:
        orders.mark_delivered(fulfilment=fulfilment, actor=actor(request))
    except DomainError as exc:
        messages.error(request, f"{exc.message} ({exc.code})")
    else:
        messages.success(request, _("Marked delivered."))
    return redirect(order_url(order))


@staff_view(VIEW, REFUND)
def refund(request: HttpRequest, number: str) -> HttpResponse:
    order = get_order(number)
    form = forms.AmountForm(request.POST or None, currency=order.currency, limit=refund_limit(request))
    money_now = orders.money_of(order)

    def perform():
        return orders.refund_order(
            order=order,
            amount=form.cleaned_data["amount"],
            key=form.cleaned_data["token"],
            reason=form.cleaned_data["reason"],
            actor=actor(request),
        )

    def summary() -> list[str]:
        return [
            _("Refund %(amount)s to the original payment method.")
            % {"amount": money(form.cleaned_data["amount"], order.currency)},
            _("Paid so far %(paid)s; refundable %(refundable)s.")
            % {
                "paid": money(money_now["paid"], order.currency),
                "refundable": money(money_now["refundable"], order.currency),
            },
        ]

    return operation(
        request,
        order,
        form,
        title=_("Refund order %(number)s") % {"number": order.number},
        submit=_("Refund"),
        perform=perform,
        summary=summary,
        done=_("Refunded."),
        intro=_("Refundable now: %(amount)s.") % {"amount": money(money_now["refundable"], order.currency)},
    )


@staff_view(VIEW, STORE_CREDIT)
def store_credit(request: HttpRequest, number: str) -> HttpResponse:
    order = get_order(number)
    if order.customer_id is None:
        raise Http404(_("A guest order has no customer to give credit to."))
    form = forms.AmountForm(request.POST or None, currency=order.currency, limit=refund_limit(request))

    def perform():
        return orders.credit_order(
            order=order,
            amount=form.cleaned_data["amount"],
            key=form.cleaned_data["token"],
            reason=form.cleaned_data["reason"],
            actor=actor(request),
        )

    def summary() -> list[str]:
        return [
            _("Give %(customer)s %(amount)s of store credit; the payment stays as it is.")
            % {"customer": order.customer, "amount": money(form.cleaned_data["amount"], order.currency)}
        ]

    return operation(
        request,
        order,
        form,
        title=_("Store credit for order %(number)s") % {"number": order.number},
        submit=_("Give store credit"),
        perform=perform,
        summary=summary,
        done=_("Store credit given."),
    )


@staff_view(VIEW, CHANGE)
def cancel(request: HttpRequest, number: str) -> HttpResponse:
    order = get_order(number)
    form = forms.CancelForm(request.POST or None, lines=list(order.lines.all()))

    def perform():
        data = form.cleaned_data
        quantities = None if data["everything"] else form.quantities()
        call = lambda: orders.cancel_order(  # noqa: E731
            order=order, quantities=quantities, reason=data["reason"], actor=actor(request)
        )
        return renamed(call, by_index(list(quantities or {}), forms.line_field))()

    def summary() -> list[str]:
        if form.cleaned_data["everything"]:
            what = [_("Cancel every unshipped item of the order.")]
        else:
            units = {x.pk: x for x in form.lines}
            what = [
                _("Cancel %(count)s × %(sku)s.") % {"count": n, "sku": units[pk].sku}
                for pk, n in form.quantities().items()
            ]
        return [*what, _("Held stock is released and what was paid for the cancelled units is refunded.")]

    return operation(
        request,
        order,
        form,
        title=_("Cancel order %(number)s or some of its items") % {"number": order.number},
        submit=_("Cancel items"),
        perform=perform,
        summary=summary,
        done=_("Cancelled."),
    )


@staff_view(VIEW, CHANGE)
def address(request: HttpRequest, number: str) -> HttpResponse:
    order = get_order(number)
    form = forms.AddressForm(request.POST or None, initial=order.shipping_address or {})

    def perform():
        call = lambda: orders.change_address(  # noqa: E731
            order=order, address=form.address(), actor=actor(request)
        )
        return renamed(call, lambda f: f.rsplit(".", 1)[-1] if f.startswith("shipping_address.") else None)()

    def summary() -> list[str]:
        parts = [v for v in form.address().values() if v]
        return [
            _("Deliver to: %(address)s.") % {"address": ", ".join(parts)},
            _("Shipping and tax are quoted again; what the customer paid too much is refunded."),
        ]

    return operation(
        request,
        order,
        form,
        title=_("Change the delivery address of order %(number)s") % {"number": order.number},
        submit=_("Change address"),
        perform=perform,
        summary=summary,
        done=_("Address changed."),
    )


@staff_view(VIEW, CHANGE)
def split(request: HttpRequest, number: str) -> HttpResponse:
    order = get_order(number)
    form = forms.SplitForm(request.POST or None, lines=list(order.lines.all()))

    def perform():
        quantities = form.quantities()
        call = lambda: orders.split_order(order=order, quantities=quantities, actor=actor(request))  # noqa: E731
        return renamed(call, by_index(list(quantities), forms.line_field))()

    def summary() -> list[str]:
        units = {x.pk: x for x in form.lines}
        return [
            *(
                _("Move %(count)s × %(sku)s into a new order.") % {"count": n, "sku": units[pk].sku}
                for pk, n in form.quantities().items()
            ),
            _("The stock held for them moves with them; the new order shares this order's payments."),
        ]

    return operation(
        request,
        order,
        form,
        title=_("Split order %(number)s") % {"number": order.number},
        submit=_("Split"),
        perform=perform,
        summary=summary,
        done=_("Split into a new order."),
    )


@staff_view(VIEW, CHANGE)
def merge(request: HttpRequest, number: str) -> HttpResponse:
    order = get_order(number)
    candidates = list(orders.mergeable_with(order))
    form = forms.MergeForm(request.POST or None, candidates=candidates)
    chosen = {o.number: o for o in candidates}

    def perform():
        others = [chosen[n] for n in form.cleaned_data["orders"]]
        return orders.merge_orders(orders=[order, *others], actor=actor(request))

    def summary() -> list[str]:
        return [
            _("Merge %(numbers)s with %(number)s into the oldest of them.")
            % {"numbers": ", ".join(form.cleaned_data["orders"]), "number": order.number},
            _("Lines, held stock and payments move; shipping is quoted again and any difference refunded."),
        ]

    response = operation(
        request,
        order,
        form,
        title=_("Merge order %(number)s with other orders") % {"number": order.number},
        submit=_("Merge"),
        perform=perform,
        summary=summary,
        done=_("Orders merged."),
    )
    order.refresh_from_db(fields=["merged_into"])
    if response.status_code == 302 and order.merged_into_id:
        return redirect(order_url(order.merged_into))
    return response


@staff_view(VIEW, CHANGE)
def resolve(request: HttpRequest, number: str, exception_id: int) -> HttpResponse:
    order = get_order(number)
    item = get_object_or_404(OrderException.objects.select_related("order"), pk=exception_id, order=order)
    if item.resolved_at is not None:
        messages.info(request, _("This exception is already resolved."))
        return redirect(order_url(order))
    form = forms.ResolveForm(request.POST or None, lines=list(order.lines.all()))

    def perform():
        substitutes = form.substitutes() if form.cleaned_data["action"] == "substitute" else {}
        call = lambda: orders.resolve_exception(  # noqa: E731
            item=item, action=form.cleaned_data["action"], substitutes=substitutes, actor=actor(request)
        )
        return renamed(call, by_index(list(substitutes), forms.substitute_field))()

    def summary() -> list[str]:
        action = form.cleaned_data["action"]
        lines = [str(dict(forms.RESOLUTIONS)[action])]
        if action == "substitute":
            units = {x.pk: x for x in form.lines}
            lines += [
                _("%(old)s is replaced by %(new)s.") % {"old": units[pk].sku, "new": sku}
                for pk, sku in form.substitutes().items()
            ]
        return lines

    return operation(
        request,
        order,
        form,
        title=_("Resolve the exception of order %(number)s") % {"number": order.number},
        submit=_("Resolve"),
        perform=perform,
        summary=summary,
        done=_("Exception resolved."),
        intro=_("Exception: %(reason)s.") % {"reason": item.get_reason_display()},
    )


@staff_view(VIEW, CHANGE)
def note(request: HttpRequest, number: str) -> HttpResponse:
    order = get_order(number)
    form = forms.NoteForm(request.POST or None)

    def perform():
        return orders.add_note(
            order=order, text=form.cleaned_data["text"], key=form.cleaned_data["token"], actor=actor(request)
        )

    return operation(
        request,
        order,
        form,
        title=_("Add a note to order %(number)s") % {"number": order.number},
        submit=_("Add note"),
        perform=perform,
        done=_("Note added."),
    )
