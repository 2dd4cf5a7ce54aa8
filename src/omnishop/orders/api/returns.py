"""Returns: approve, reject, receive, exchange."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Status

from omnishop.core.errors import ValidationFailed

from .. import services
from ..schemas import (
    ExchangeIn,
    OrderOut,
    ReturnDecisionIn,
    ReturnReceiveIn,
)
from .access import (
    ERRORS,
    MANAGE,
    actor,
    order_view,
    router,
    visible_order,
)


@router.post("/returns/{number}/approve", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def approve_return(request: HttpRequest, number: str, body: ReturnDecisionIn | None = None):
    """The body (a note) is optional: an empty body approves without one."""
    rma = services.get_return(number)
    visible_order(request, rma.order.number)
    note = body.note if body else ""
    services.decide_return(rma=rma, approve=True, actor=actor(request), note=note)
    return order_view(request, services.get_order(rma.order.number))


@router.post("/returns/{number}/reject", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def reject_return(request: HttpRequest, number: str, body: ReturnDecisionIn | None = None):
    """The body (a note) is optional: an empty body rejects without one."""
    rma = services.get_return(number)
    visible_order(request, rma.order.number)
    note = body.note if body else ""
    services.decide_return(rma=rma, approve=False, actor=actor(request), note=note)
    return order_view(request, services.get_order(rma.order.number))


@router.post("/returns/{number}/receive", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def receive_return(request: HttpRequest, number: str, body: ReturnReceiveIn):
    """Restock (into `location`) or write off each line, then refund to the method the return names."""
    rma = services.get_return(number)
    visible_order(request, rma.order.number)
    services.receive_return(
        rma=rma,
        dispositions={x.line: x.disposition for x in body.lines},
        location_code=body.location,
        actor=actor(request),
    )
    return order_view(request, services.get_order(rma.order.number))


@router.post("/returns/{number}/exchange", response={201: OrderOut, **ERRORS}, auth=MANAGE)
def exchange(request: HttpRequest, number: str, body: ExchangeIn):
    """A new order for the replacement items, paid by the value of the return (refund_to: exchange)."""
    rma = services.get_return(number)
    visible_order(request, rma.order.number)
    lines: dict[str, int] = {}
    for i, x in enumerate(body.lines):
        if x.sku in lines:
            raise ValidationFailed(f"SKU '{x.sku}' appears twice.", field=f"lines[{i}].sku")
        lines[x.sku] = x.quantity
    new = services.place_exchange(rma=rma, lines=lines, actor=actor(request))
    return Status(201, order_view(request, new))
