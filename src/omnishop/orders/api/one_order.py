"""One order by its number: read, timeline, cancel, address, split, fulfil, complete, request a return.
Registered last: `/{number}` would otherwise capture `/exceptions`, `/merge`, …."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Status

from omnishop.core.errors import PermissionDenied
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent

from .. import serialise, services
from ..schemas import (
    AddressChangeIn,
    CancelIn,
    OrderOut,
    ReturnIn,
    ReturnRequestedOut,
    SplitIn,
    TimelineOut,
)
from .access import (
    ERRORS,
    MANAGE,
    READ,
    SHOP,
    actor,
    line_quantities,
    order_view,
    router,
    visible_order,
)


@router.get("/{number}", response={200: OrderOut, **ERRORS}, auth=READ)
def get_order(request: HttpRequest, number: str):
    return order_view(request, visible_order(request, number))


@router.get("/{number}/timeline", response={200: TimelineOut, **ERRORS}, auth=READ)
def timeline(request: HttpRequest, number: str):
    order = visible_order(request, number)
    return {"order": order.number, "events": [serialise.event_out(e) for e in order.events.all()]}


@router.post("/{number}/cancel", response={200: OrderOut, **ERRORS}, auth=SHOP)
def cancel(request: HttpRequest, number: str, body: CancelIn):
    """Cancel the whole order or some units; held stock is released and what was paid for them refunded.
    Shoppers may cancel their own order as a whole, before anything shipped."""
    order = visible_order(request, number)
    if request.auth.kind == "shopper" and body.lines is not None:
        raise PermissionDenied("Shoppers cancel whole orders; ask the shop to cancel single items.")
    quantities = line_quantities(body.lines) if body.lines is not None else None
    return order_view(
        request,
        services.cancel_order(order=order, quantities=quantities, actor=actor(request), reason=body.reason),
    )


@router.post("/{number}/address", response={200: OrderOut, **ERRORS}, auth=SHOP)
def change_address(request: HttpRequest, number: str, body: AddressChangeIn):
    """Before anything shipped: new address, shipping and tax re-quoted; after → 409 address_locked."""
    order = visible_order(request, number)
    return order_view(
        request,
        services.change_address(order=order, address=body.shipping_address.dict(), actor=actor(request)),
    )


@router.post("/{number}/split", response={201: OrderOut, **ERRORS}, auth=MANAGE)
def split(request: HttpRequest, number: str, body: SplitIn):
    order = visible_order(request, number)
    child = services.split_order(order=order, quantities=line_quantities(body.lines), actor=actor(request))
    return Status(201, order_view(request, child))


@router.post("/{number}/fulfilments", response={201: OrderOut, **ERRORS}, auth=MANAGE)
def create_fulfilments(request: HttpRequest, number: str):
    """One pending fulfilment per stock location holding the order's units."""
    order = visible_order(request, number)
    services.create_fulfilments(order=order, actor=actor(request))
    return Status(201, order_view(request, services.get_order(number)))


@router.post("/{number}/complete", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def complete(request: HttpRequest, number: str):
    order = visible_order(request, number)
    return order_view(request, services.complete_order(order=order, actor=actor(request)))


@router.post("/{number}/returns", response={201: ReturnRequestedOut, **ERRORS}, auth=SHOP)
def request_return(
    request: HttpRequest, number: str, body: ReturnIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    order = visible_order(request, number)

    def build():
        rma = services.request_return(
            order=order,
            lines=[(x.line, x.quantity, x.reason) for x in body.lines],
            refund_to=body.refund_to,
            note=body.note,
            actor=actor(request),
        )
        return {"number": rma.number, "status": rma.status, "order": order.number, "refund_to": rma.refund_to}

    return idempotent(request, idempotency_key, 201, build, schema=ReturnRequestedOut)
