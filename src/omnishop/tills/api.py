"""Tills API (/api/v1/tills): register a till, upload queued sales, download prices and stock by cursor.

A till calls with its channel's API key and its own device id (`X-Till-Device`); a till of another
channel, or the right till from another device, is not found. Protocol: docs/pos-protocol.md.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from ninja import Header, Query, Router, Status

from omnishop.auth import channel_key
from omnishop.core.errors import DomainError
from omnishop.core.money import quantize
from omnishop.core.schemas import ERRORS
from omnishop.customers.normalise import optional_email

from . import services
from .schemas import (
    TillIn,
    TillOut,
    TillPricePage,
    TillSalesBatchIn,
    TillSalesBatchOut,
    TillStockPage,
)

router = Router(tags=["tills"])

DEVICE = Header(..., alias="X-Till-Device", max_length=100, description="The till's device id.")


def _till_out(till) -> dict:
    return {
        "id": till.public_id,
        "device_id": till.device_id,
        "name": till.name,
        "channel": till.channel.code,
        "location": till.location.code,
        "currency": till.channel.currency,
    }


@router.post("", response={200: TillOut, 201: TillOut, **ERRORS}, auth=channel_key("orders:write"))
def register_till(request: HttpRequest, body: TillIn):
    till, created = services.register_till(
        channel=request.auth.channel, device_id=body.device_id, location_code=body.location, name=body.name
    )
    return Status(201 if created else 200, _till_out(till))


@router.get("/{till}", response={200: TillOut, **ERRORS}, auth=channel_key("orders:write"))
def get_till(request: HttpRequest, till: str, device: str = DEVICE):
    return _till_out(services.get_till(channel=request.auth.channel, public_id=till, device_id=device))


def _sale(body) -> services.Sale:
    customer = body.customer
    return services.Sale(
        id=body.id,
        sold_at=body.sold_at,
        currency=body.currency,
        lines=[services.SaleLine(x.sku, x.quantity, x.unit_price) for x in body.lines],
        payments=[services.SalePayment(p.method, p.amount) for p in body.payments],
        customer_email=optional_email(customer.email, field="customer.email")
        if customer and customer.email
        else "",
        customer_phone=customer.phone if customer else "",
    )


@router.post(
    "/{till}/sales:batch", response={200: TillSalesBatchOut, **ERRORS}, auth=channel_key("orders:write")
)
def upload_sales(request: HttpRequest, till: str, body: TillSalesBatchIn, device: str = DEVICE):
    """Queued sales, each recorded on its own: per-sale results, never all or nothing."""
    found = services.get_till(channel=request.auth.channel, public_id=till, device_id=device)
    sales, rejected = [], {}
    for i, raw in enumerate(body.sales):
        try:
            sales.append(_sale(raw))
        except DomainError as error:
            rejected[i] = services.SaleResult(sale_id=raw.id, outcome="rejected", error=error)
    recorded = iter(services.record_sales(till=found, sales=sales, sent_at=body.sent_at))
    results = [rejected[i] if i in rejected else next(recorded) for i in range(len(body.sales))]
    return {"server_time": timezone.now(), "results": [_result_out(r) for r in results]}


def _result_out(result: services.SaleResult) -> dict:
    return {
        "id": result.sale_id,
        "outcome": result.outcome,
        "order": result.order_number,
        "exception": {"kind": result.exception, "details": result.exception_details}
        if result.exception
        else None,
        "error": {
            "code": result.error.code,
            "message": result.error.message,
            "field": result.error.field,
            "details": result.error.details,
        }
        if result.error
        else None,
    }


LIMIT = Query(500, ge=1, le=services.MAX_PAGE)


@router.get("/{till}/prices", response={200: TillPricePage, **ERRORS}, auth=channel_key("catalog:read"))
def till_prices(
    request: HttpRequest, till: str, cursor: str | None = None, limit: int = LIMIT, device: str = DEVICE
):
    """The price list: a full snapshot without a cursor, then only what changed since the cursor."""
    found = services.get_till(channel=request.auth.channel, public_id=till, device_id=device)
    page = services.price_changes(till=found, cursor=cursor, limit=limit)
    currency = found.channel.currency
    return {
        "items": [
            {
                "sku": x.variant.sku,
                "title": (x.title or f"{x.variant.product.title} {x.variant.title}".strip())[:500],
                "price": str(quantize(x.price, currency)),
                "compare_at_price": str(quantize(x.compare_at_price, currency))
                if x.compare_at_price is not None
                else None,
                "currency": x.currency,
                "published": x.is_published and x.variant.is_active and x.variant.product.is_active,
                "updated_at": x.updated_at,
            }
            for x in page.items
        ],
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }


@router.get("/{till}/stock", response={200: TillStockPage, **ERRORS}, auth=channel_key("inventory:read"))
def till_stock(
    request: HttpRequest, till: str, cursor: str | None = None, limit: int = LIMIT, device: str = DEVICE
):
    """Stock at the till's location: a full snapshot without a cursor, then only what changed."""
    found = services.get_till(channel=request.auth.channel, public_id=till, device_id=device)
    page = services.stock_changes(till=found, cursor=cursor, limit=limit)
    return {
        "items": [
            {
                "sku": x.variant.sku,
                "on_hand": x.on_hand,
                "available": x.on_hand - x.allocated - x.reserved,
                "oversold": x.oversold,
                "updated_at": x.updated_at,
            }
            for x in page.items
        ],
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }
