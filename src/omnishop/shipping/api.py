"""Shipping API: carriers (staff), signed tracking webhooks (carriers), the public tracking link."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from omnishop.auth import staff
from omnishop.core.schemas import ERRORS

from . import services
from .models import Carrier
from .schemas import CarrierIn, CarrierListOut, CarrierOut, TrackingAppliedOut, TrackingOut

router = Router(tags=["shipping"])


def carrier_out(c: Carrier) -> dict:
    return {
        "code": c.code,
        "name": c.name,
        "tracking_url_template": c.tracking_url_template,
        "status_map": c.status_map,
        "is_active": c.is_active,
    }


@router.get("/carriers", response={200: CarrierListOut, **ERRORS}, auth=[staff("shipping.view_carrier")])
def list_carriers(request: HttpRequest):
    return {"items": [carrier_out(c) for c in Carrier.objects.order_by("code")]}


@router.post("/carriers", response={201: CarrierOut, **ERRORS}, auth=[staff("shipping.add_carrier")])
def create_carrier(request: HttpRequest, body: CarrierIn):
    return Status(201, carrier_out(services.create_carrier(**body.dict())))


@router.post("/webhooks/{carrier}", response={200: TrackingAppliedOut, **ERRORS}, auth=None)
def tracking_webhook(request: HttpRequest, carrier: str):
    """Tracking events from a carrier, signed: X-Omnishop-Timestamp (Unix seconds) and
    X-Omnishop-Signature: sha256=HMAC(secret, timestamp + "." + raw body)."""
    applied = services.ingest_webhook(
        carrier_code=carrier,
        body=request.body,
        timestamp=request.headers.get("X-Omnishop-Timestamp"),
        signature=request.headers.get("X-Omnishop-Signature"),
    )
    return {"applied": applied}


@router.get("/track/{token}", response={200: TrackingOut, **ERRORS}, auth=None)
def track(request: HttpRequest, token: str):
    """The public tracking page's data; the token in the link is the only credential."""
    return services.tracking_view(token=token)
