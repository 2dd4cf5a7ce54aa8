"""Request and response schemas of the shipping API (times ISO-8601 UTC)."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema

from omnishop.core.schemas import InputSchema


class CarrierIn(InputSchema):
    code: str = Field(..., min_length=1, max_length=50, pattern=r"^[-a-z0-9_]+$")
    name: str = Field(..., min_length=1, max_length=200)
    webhook_secret: str = Field(..., max_length=200)
    tracking_url_template: str = Field("", max_length=300)
    status_map: dict[str, str] = {}


class CarrierOut(Schema):
    """A carrier as staff see it; the webhook secret is never shown again."""

    code: str
    name: str
    tracking_url_template: str
    status_map: dict[str, str]
    is_active: bool


class CarrierListOut(Schema):
    items: list[CarrierOut]


class TrackingAppliedOut(Schema):
    applied: int = Field(description="How many new tracking events were applied (repeats are ignored).")


class TrackingEventOut(Schema):
    status: str
    description: str
    location: str
    occurred_at: datetime


class ParcelOut(Schema):
    status: str
    tracking_status: str
    carrier: str
    tracking_number: str
    tracking_url: str
    shipped_at: datetime | None
    delivered_at: datetime | None
    events: list[TrackingEventOut]


class TrackingOut(Schema):
    """What the public tracking link shows: no name, address or money."""

    order: str
    status: str
    parcels: list[ParcelOut]
