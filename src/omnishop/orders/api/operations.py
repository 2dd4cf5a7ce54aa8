"""Reading and operating orders: the list and search, the exception queue, backorders, merging, shipping."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query

from omnishop.core.errors import ValidationFailed
from omnishop.core.pagination import paginate
from omnishop.core.schemas import Id, Int32

from .. import serialise, services
from ..models import Order, OrderException
from ..schemas import (
    AllocatedOut,
    ExceptionPage,
    ExceptionResolveIn,
    FulfilmentShipIn,
    OrderMergeIn,
    OrderOut,
    OrderPage,
)
from .access import (
    ERRORS,
    MANAGE,
    ORDERINGS,
    READ,
    actor,
    order_view,
    router,
    visible_order,
)


@router.get("", response={200: OrderPage, **ERRORS}, auth=READ)
def list_orders(
    request: HttpRequest,
    status: str | None = None,
    channel: str | None = None,
    customer: Id | None = None,
    external_id: str | None = None,
    q: str | None = Query(None, max_length=200),
    sku: str | None = Query(None, max_length=100),
    ordering: str = "-created_at",
    cursor: str | None = None,
    limit: Int32 = Query(50),
):
    """A shopper sees their own orders, a channel key its channel's, staff every channel's. `q` finds orders
    by number (or its start), external id, e-mail, the customer's phone or every word of their name; `sku`
    those with a line of that SKU."""
    qs = services.visible_orders(request.auth)
    if q or sku:
        qs = services.search_orders(within=qs, text=q or "", sku=sku or "")
    if status:
        if status not in Order.Status.values:
            raise ValidationFailed(f"Unknown status '{status}'.", field="status")
        qs = qs.filter(status=status)
    if channel:
        qs = qs.filter(channel__code=channel)
    if customer is not None:
        qs = qs.filter(customer_id=customer)
    if external_id:
        qs = qs.filter(external_id=external_id)
    page = paginate(qs, cursor=cursor, limit=limit, ordering=ordering, allowed=ORDERINGS)
    return {"items": [serialise.order_summary(o) for o in page.items], "next_cursor": page.next_cursor}


@router.get("/exceptions", response={200: ExceptionPage, **ERRORS}, auth=MANAGE)
def list_exceptions(
    request: HttpRequest, open_only: bool = True, cursor: str | None = None, limit: Int32 = 50
):
    """The exception queue, oldest first."""
    qs = OrderException.objects.select_related("order", "order__channel")
    if request.auth.kind == "channel":
        qs = qs.filter(order__channel=request.auth.channel)
    if open_only:
        qs = qs.filter(resolved_at__isnull=True)
    page = paginate(qs, cursor=cursor, limit=limit, ordering="created_at", allowed=("created_at",))
    return {
        "items": [
            {
                "id": e.pk,
                "order": e.order.number,
                "reason": e.reason,
                "details": e.details,
                "resolution": e.resolution,
                "created_at": e.created_at,
                "resolved_at": e.resolved_at,
            }
            for e in page.items
        ],
        "next_cursor": page.next_cursor,
    }


@router.post("/exceptions/{exception_id}/resolve", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def resolve_exception(request: HttpRequest, exception_id: Id, body: ExceptionResolveIn):
    """Backorder, cancel the missing units (refunded), or substitute another SKU per line."""
    item = services.get_exception(exception_id)
    visible_order(request, item.order.number)
    order = services.resolve_exception(
        item=item,
        action=body.action,
        actor=actor(request),
        substitutes={s.line: s.sku for s in body.substitutes},
    )
    return order_view(request, order)


@router.post("/backorders/allocate", response={200: AllocatedOut, **ERRORS}, auth=MANAGE)
def allocate_backorders(request: HttpRequest):
    """Give received stock to waiting orders now (the periodic job does it every minute)."""
    channel = request.auth.channel if request.auth.kind == "channel" else None
    return {"allocated": services.allocate_backorders(channel=channel, actor=actor(request))}


@router.post("/merge", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def merge_orders(request: HttpRequest, body: OrderMergeIn):
    orders = [visible_order(request, n) for n in body.orders]
    return order_view(request, services.merge_orders(orders=orders, actor=actor(request)))


@router.post("/fulfilments/{fulfilment_id}/ship", response={200: OrderOut, **ERRORS}, auth=MANAGE)
def ship_fulfilment(request: HttpRequest, fulfilment_id: Id, body: FulfilmentShipIn):
    """The parcel left: sale movements written, lines fulfilled; carrier and tracking number recorded."""
    fulfilment = services.get_fulfilment(fulfilment_id)
    visible_order(request, fulfilment.order.number)
    services.ship_fulfilment(
        fulfilment=fulfilment,
        carrier=body.carrier,
        tracking_number=body.tracking_number,
        actor=actor(request),
    )
    return order_view(request, services.get_order(fulfilment.order.number))
