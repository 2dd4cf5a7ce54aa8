"""Replenishment suggestions and purchase orders (draft → sent → partially received → received / cancelled)."""

from __future__ import annotations

import dataclasses

from django.http import HttpRequest

from omnishop.auth import staff
from omnishop.catalog.models import Supplier
from omnishop.core.errors import NotFound, ValidationFailed
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent
from omnishop.core.pagination import paginate
from omnishop.core.schemas import ERRORS, Fraction, Id, Int32

from .. import services
from ..models import PurchaseOrder
from ..schemas import (
    PurchaseOrderIn,
    PurchaseOrderOut,
    PurchaseOrderPage,
    ReceiveIn,
    ReplenishIn,
    SuggestionOut,
)
from .common import actor, router

VIEW = [staff("inventory.view_purchaseorder")]
CHANGE = [staff("inventory.change_purchaseorder")]
ADD = [staff("inventory.add_purchaseorder")]


def order_out(po: PurchaseOrder, *, costs: bool = True) -> dict:
    """`costs`: False for a caller without inventory.view_cost (the warehouse) — every cost is null."""
    return {
        "id": po.pk,
        "number": po.number,
        "supplier": po.supplier.code,
        "location": po.location.code,
        "status": po.status,
        "currency": po.currency,
        "note": po.note,
        "created_at": po.created_at,
        "sent_at": po.sent_at,
        "closed_at": po.closed_at,
        "lines": [
            {
                "sku": x.variant.sku,
                "quantity": x.quantity,
                "received": x.received,
                "unit_cost": x.unit_cost if costs else None,
                "landed_unit_cost": x.landed_unit_cost if costs else None,
                "receipts": [
                    {
                        "key": r.key,
                        "quantity": r.quantity,
                        "extra_charge": r.extra_charge if costs else None,
                        "landed_unit_cost": r.landed_unit_cost if costs else None,
                        "created_at": r.created_at,
                    }
                    for r in x.receipts.all()
                ],
            }
            for x in po.lines.select_related("variant").prefetch_related("receipts")
        ],
    }


def _costs(request: HttpRequest) -> bool:
    """Unit, landed and average costs are the buyers' data: the warehouse receives without them."""
    return request.auth.user.has_perm("inventory.view_cost")


def _order(pk: int) -> PurchaseOrder:
    po = PurchaseOrder.objects.select_related("supplier", "location").filter(pk=pk).first()
    if po is None:
        raise NotFound(f"No purchase order {pk}.", field="id")
    return po


@router.get("/replenishment/suggestions", response={200: list[SuggestionOut], **ERRORS}, auth=VIEW)
def suggestions(
    request: HttpRequest, location: str | None = None, window_days: Int32 = 28, service_level: Fraction = 0.95
):
    """What to reorder now, from sales velocity over the window, lead time and safety stock."""
    where = services.location_by_code(location) if location else None
    found = services.suggest_replenishment(
        location=where, window_days=window_days, service_level=service_level
    )
    if _costs(request):
        return found
    return [dataclasses.replace(s, unit_cost=None, landed_unit_cost=None) for s in found]


@router.post("/replenishment/run", response={201: list[PurchaseOrderOut], **ERRORS}, auth=ADD)
def run_replenishment(request: HttpRequest, body: ReplenishIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    """Create draft purchase orders for the suggestions, one per supplier and location."""

    def build():
        where = services.location_by_code(body.location) if body.location else None
        orders = services.create_replenishment_orders(
            location=where,
            window_days=body.window_days,
            service_level=body.service_level,
            actor=actor(request),
        )
        return [order_out(_order(o.pk), costs=_costs(request)) for o in orders]

    return idempotent(request, idempotency_key, 201, build, schema=list[PurchaseOrderOut])


@router.get("/purchase-orders", response={200: PurchaseOrderPage, **ERRORS}, auth=VIEW)
def list_orders(
    request: HttpRequest,
    status: str | None = None,
    supplier: str | None = None,
    location: str | None = None,
    cursor: str | None = None,
    limit: Int32 = 50,
    ordering: str = "-id",
):
    qs = PurchaseOrder.objects.select_related("supplier", "location")
    for value, lookup in ((status, "status"), (supplier, "supplier__code"), (location, "location__code")):
        if value:
            qs = qs.filter(**{lookup: value})
    page = paginate(qs, cursor=cursor, limit=limit, ordering=ordering, allowed=("id", "created_at"))
    return {
        "items": [order_out(o, costs=_costs(request)) for o in page.items],
        "next_cursor": page.next_cursor,
    }


@router.post("/purchase-orders", response={201: PurchaseOrderOut, **ERRORS}, auth=ADD)
def create_order(request: HttpRequest, body: PurchaseOrderIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    def build():
        supplier = Supplier.objects.filter(code=body.supplier).first()
        if supplier is None:
            raise ValidationFailed(f"No supplier '{body.supplier}'.", field="supplier")
        order = services.create_purchase_order(
            supplier=supplier,
            location=services.location_by_code(body.location),
            lines=[services.OrderLine(x.sku, x.quantity, x.unit_cost) for x in body.lines],
            note=body.note,
            actor=actor(request),
        )
        return order_out(_order(order.pk), costs=_costs(request))

    return idempotent(request, idempotency_key, 201, build, schema=PurchaseOrderOut)


@router.get("/purchase-orders/{int:order_id}", response={200: PurchaseOrderOut, **ERRORS}, auth=VIEW)
def get_order(request: HttpRequest, order_id: Id):
    return order_out(_order(order_id), costs=_costs(request))


@router.post("/purchase-orders/{int:order_id}/send", response={200: PurchaseOrderOut, **ERRORS}, auth=CHANGE)
def send_order(request: HttpRequest, order_id: Id):
    return order_out(services.send_purchase_order(order=_order(order_id)), costs=_costs(request))


@router.post(
    "/purchase-orders/{int:order_id}/cancel", response={200: PurchaseOrderOut, **ERRORS}, auth=CHANGE
)
def cancel_order(request: HttpRequest, order_id: Id):
    return order_out(services.cancel_purchase_order(order=_order(order_id)), costs=_costs(request))


@router.post(
    "/purchase-orders/{int:order_id}/receive", response={200: PurchaseOrderOut, **ERRORS}, auth=CHANGE
)
def receive_order(request: HttpRequest, order_id: Id, body: ReceiveIn):
    """Book delivered goods; each line's key makes a repeated delivery note a no-op."""
    order = services.receive_purchase_order(
        order=_order(order_id),
        lines=[services.ReceiptLine(x.sku, x.quantity, x.key) for x in body.lines],
        allow_over_receipt=body.allow_over_receipt,
        extra_charge=body.extra_charge,
        actor=actor(request),
    )
    return order_out(_order(order.pk), costs=_costs(request))
