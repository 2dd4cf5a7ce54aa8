"""Reservations, allocations and availability: what channels call during checkout and order placement."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Query

from omnishop.core.errors import NotFound, ValidationFailed
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent
from omnishop.core.schemas import ERRORS, Id, Int32

from .. import services
from ..models import Allocation, Reservation
from ..schemas import (
    AllocateReservationIn,
    AllocationIn,
    AllocationOut,
    AvailabilityOut,
    ExtendIn,
    FeedPage,
    ReservationIn,
    ReservationOut,
    ShipIn,
)
from .common import HOLD, READ, actor, channel_router, router, visible_channel


def reservation_out(reservation: Reservation) -> dict:
    return {
        "id": reservation.pk,
        "channel": reservation.channel.code,
        "key": reservation.key,
        "reference": reservation.reference,
        "status": reservation.status,
        "expires_at": reservation.expires_at,
        "created_at": reservation.created_at,
        "lines": [
            {"sku": x.variant.sku, "location": x.location.code, "quantity": x.quantity}
            for x in reservation.lines.select_related("variant", "location")
        ],
    }


def allocation_out(allocation: Allocation) -> dict:
    lines = list(allocation.lines.select_related("variant", "location"))
    groups: dict[str, list[dict]] = {}
    for x in lines:
        groups.setdefault(x.location.code, []).append(
            {"sku": x.variant.sku, "location": x.location.code, "quantity": x.quantity}
        )
    return {
        "id": allocation.pk,
        "channel": allocation.channel.code,
        "order_reference": allocation.order_reference,
        "status": allocation.status,
        "strategy": allocation.strategy,
        "created_at": allocation.created_at,
        "lines": [
            {"sku": x.variant.sku, "location": x.location.code, "quantity": x.quantity, "shipped": x.shipped}
            for x in lines
        ],
        "by_location": [{"location": code, "lines": items} for code, items in groups.items()],
    }


def _pickup(code: str | None):
    return services.location_by_code(code, field="pickup_location") if code else None


def _own(request: HttpRequest, model, pk: int, label: str):
    obj = model.objects.select_related("channel").filter(pk=pk).first()
    if obj is None or not request.auth.can_see_channel(obj.channel):
        raise NotFound(f"No {label} {pk}.", field="id")
    return obj


# --- reservations -------------------------------------------------------------------------------------


@router.post("/reservations", response={201: ReservationOut, **ERRORS}, auth=HOLD)
def create_reservation(
    request: HttpRequest, body: ReservationIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    """Hold stock for a checkout (TTL from the channel's policy). Same key → same reservation."""
    channel = visible_channel(request, body.channel)
    key = body.key or idempotency_key
    if not key:
        raise ValidationFailed("Give a reservation key (or an Idempotency-Key header).", field="key")

    def build():
        reservation = services.reserve_stock(
            channel=channel,
            lines=[services.LineRequest(x.sku, x.quantity) for x in body.lines],
            key=key,
            reference=body.reference,
            pickup_location=_pickup(body.pickup_location),
        )
        return reservation_out(reservation)

    return idempotent(request, idempotency_key, 201, build, schema=ReservationOut)


@router.get("/reservations/{int:reservation_id}", response={200: ReservationOut, **ERRORS}, auth=READ)
def get_reservation(request: HttpRequest, reservation_id: Id):
    return reservation_out(_own(request, Reservation, reservation_id, "reservation"))


@router.post("/reservations/{int:reservation_id}/extend", response={200: ReservationOut, **ERRORS}, auth=HOLD)
def extend_reservation(request: HttpRequest, reservation_id: Id, body: ExtendIn):
    """Keep the hold while a payment is in flight (up to the channel's maximum hold time)."""
    reservation = _own(request, Reservation, reservation_id, "reservation")
    return reservation_out(services.extend_reservation(reservation=reservation, seconds=body.seconds))


@router.post(
    "/reservations/{int:reservation_id}/release", response={200: ReservationOut, **ERRORS}, auth=HOLD
)
def release_reservation(request: HttpRequest, reservation_id: Id):
    reservation = _own(request, Reservation, reservation_id, "reservation")
    return reservation_out(services.release_reservation(reservation=reservation))


@router.post(
    "/reservations/{int:reservation_id}/allocate", response={201: AllocationOut, **ERRORS}, auth=HOLD
)
def allocate_reservation(
    request: HttpRequest,
    reservation_id: Id,
    body: AllocateReservationIn,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
):
    """The order was placed: the held units become its allocation."""
    reservation = _own(request, Reservation, reservation_id, "reservation")
    return idempotent(
        request,
        idempotency_key,
        201,
        lambda: allocation_out(
            services.allocate_reservation(reservation=reservation, order_reference=body.order_reference)
        ),
        schema=AllocationOut,
    )


# --- allocations --------------------------------------------------------------------------------------


@router.post("/allocations", response={201: AllocationOut, **ERRORS}, auth=HOLD)
def create_allocation(
    request: HttpRequest, body: AllocationIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    """Commit stock to an order placed without a reservation; answers which units come from where."""
    channel = visible_channel(request, body.channel)

    def build():
        allocation = services.allocate_stock(
            channel=channel,
            lines=[services.LineRequest(x.sku, x.quantity) for x in body.lines],
            order_reference=body.order_reference,
            pickup_location=_pickup(body.pickup_location),
        )
        return allocation_out(allocation)

    return idempotent(request, idempotency_key, 201, build, schema=AllocationOut)


@router.get("/allocations/{int:allocation_id}", response={200: AllocationOut, **ERRORS}, auth=READ)
def get_allocation(request: HttpRequest, allocation_id: Id):
    return allocation_out(_own(request, Allocation, allocation_id, "allocation"))


@router.post("/allocations/{int:allocation_id}/cancel", response={200: AllocationOut, **ERRORS}, auth=HOLD)
def cancel_allocation(request: HttpRequest, allocation_id: Id):
    allocation = _own(request, Allocation, allocation_id, "allocation")
    return allocation_out(services.cancel_allocation(allocation=allocation))


@router.post("/allocations/{int:allocation_id}/ship", response={200: AllocationOut, **ERRORS}, auth=HOLD)
def ship_allocation(request: HttpRequest, allocation_id: Id, body: ShipIn):
    """Book the units as shipped (from one location, or all): sale movements."""
    allocation = _own(request, Allocation, allocation_id, "allocation")
    location = services.location_by_code(body.location) if body.location else None
    services.ship_allocation(allocation=allocation, location=location, actor=actor(request))
    allocation.refresh_from_db()
    return allocation_out(allocation)


# --- availability -------------------------------------------------------------------------------------


@router.get("/availability/{sku}", response={200: AvailabilityOut, **ERRORS}, auth=READ)
def sku_availability(request: HttpRequest, sku: str, channel: str | None = None):
    """What a channel can promise for one SKU, and the free units per location behind it."""
    target = visible_channel(request, channel)
    variant = services.variants_by_sku([sku]).get(sku)
    found = services.availability_of(channel=target, variant=variant)
    return {
        "sku": found.sku,
        "channel": target.code,
        "available": found.available,
        "updated_at": found.updated_at,
        "locations": found.locations,
    }


@channel_router.get("/{code}/availability", response={200: FeedPage, **ERRORS}, auth=READ)
def availability_feed(
    request: HttpRequest,
    code: str,
    updated_since: datetime | None = Query(None),
    cursor: str | None = None,
    limit: Int32 = 100,
    ordering: str = "id",
):
    """The channel's stock feed; poll with `updated_since` to get only what changed."""
    channel = visible_channel(request, code)
    if updated_since is not None and updated_since.tzinfo is None:
        raise ValidationFailed(
            "updated_since needs a time zone (e.g. 2026-11-25T10:00:00Z).", field="updated_since"
        )
    page, figures = services.availability_feed(
        channel=channel, updated_since=updated_since, cursor=cursor, limit=limit, ordering=ordering
    )
    return {
        "items": [
            {"sku": row["sku"], "available": figures[row["id"]], "updated_at": row["stock_updated_at"]}
            for row in page.items
        ],
        "next_cursor": page.next_cursor,
    }
