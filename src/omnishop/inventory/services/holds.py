"""Holding stock for buyers: reservations (checkouts in progress, with a TTL) and allocations (placed orders).

Taking stock (plan in one read, take in one write) lives in `taking`; this module owns the life cycle of
the holds: reserve, extend, release, expire, convert into an allocation, allocate directly, cancel, ship.
Every change of a stock level is a guarded conditional update, rows taken in (variant, location) order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from omnishop.channels.models import Channel
from omnishop.core.errors import AlreadyExists, IdempotencyKeyReused, InvalidTransition, ValidationFailed

from ..errors import (
    HoldLimitReached,
    InsufficientStock,
    ReservationExpired,
)
from ..models import (
    Allocation,
    AllocationLine,
    Reservation,
    StockLevel,
    StockLocation,
    StockMovement,
)
from .reserving import reserve_in_one_statement
from .stock import ALLOCATED, RESERVED, Change, apply_changes, check_quantity, record_events, variants_by_sku
from .taking import (
    HolderLink,
    LineRequest,
    allocation_head,
    check_lines,
    convert_in_one_statement,
    reservation_head,
    take,
)

BEYOND_STOCK = "beyond_stock"


def _same_lines(lines, demand: dict[int, int]) -> bool:
    held: dict[int, int] = {}
    for line in lines:
        held[line.variant_id] = held.get(line.variant_id, 0) + line.quantity
    return held == demand


# --- Reservations -------------------------------------------------------------------------------------


def reserve_stock(
    *,
    channel: Channel,
    lines: Sequence[LineRequest],
    key: str,
    reference: str = "",
    pickup_location: StockLocation | None = None,
) -> Reservation:
    """Hold stock for a checkout so no other buyer can take it until the reservation expires.

    Idempotent by `key`: the same key returns the same reservation; the same key with other lines is
    `idempotency_key_reused`.
    """
    if not key or len(key) > 255:
        raise ValidationFailed("A reservation key of 1 to 255 characters is needed.", field="key")
    if (
        connection.vendor == "postgresql"
        and pickup_location is None
        and channel.kind != Channel.Kind.POS_STORE
    ):
        check_lines(lines)
        now = timezone.now()
        done = reserve_in_one_statement(
            channel_id=channel.pk, lines=lines, key=key, reference=reference, now=now
        )
        if done is not None:
            reservation = Reservation(
                pk=done.pk,
                channel=channel,
                key=key,
                reference=reference,
                status=Reservation.Status.ACTIVE,
                expires_at=done.expires_at,
                created_at=now,
            )
            reservation._state.adding = False
            return reservation
    taken = take(
        channel=channel,
        lines=lines,
        holder=Reservation,
        key=key,
        head=reservation_head(channel=channel, key=key, reference=reference),
        column="reserved",
        cause="reserved",
        pickup_location=pickup_location,
    )
    if taken.replay:
        return _replay(Reservation.objects.select_related("channel").get(pk=taken.pk), taken.plan.demand)
    head = reservation_head(channel=channel, key=key, reference=reference)(taken.plan, taken.at)
    head.pop("channel_id")
    reservation = Reservation(pk=taken.pk, channel=channel, **head)
    reservation._state.adding = False
    return reservation


def _replay(reservation: Reservation, demand: dict[int, int]) -> Reservation:
    if not _same_lines(reservation.lines.all(), demand):
        raise IdempotencyKeyReused(
            "This reservation key was used before for other lines.", field="key", reservation=reservation.pk
        )
    return reservation


def extend_reservation(*, reservation: Reservation, seconds: int | None = None) -> Reservation:
    """Keep holding stock while a payment is in flight, up to the channel's maximum hold time."""
    from .locations import get_policy

    policy = get_policy(channel=reservation.channel)
    seconds = policy.reservation_ttl_seconds if seconds is None else check_quantity(seconds, field="seconds")
    now = timezone.now()
    cap = reservation.created_at + timedelta(seconds=policy.max_hold_seconds)
    new_expiry = min(now + timedelta(seconds=seconds), cap)
    updated = Reservation.objects.filter(
        pk=reservation.pk, status=Reservation.Status.ACTIVE, expires_at__gt=now, expires_at__lt=new_expiry
    ).update(expires_at=new_expiry)
    reservation.refresh_from_db()
    if not updated:
        _check_active(reservation, now)
        if new_expiry < cap:
            # Already held at least as long as asked (a fresh hold, say): nothing to extend, not a refusal.
            return reservation
        raise HoldLimitReached(
            f"The reservation is held until the channel's limit ({cap.isoformat()}).",
            field="seconds",
            expires_at=reservation.expires_at.isoformat(),
        )
    return reservation


def _check_active(reservation: Reservation, now) -> None:
    if reservation.status == Reservation.Status.EXPIRED or (
        reservation.status == Reservation.Status.ACTIVE and reservation.expires_at <= now
    ):
        raise ReservationExpired(field="reservation")
    if reservation.status != Reservation.Status.ACTIVE:
        raise InvalidTransition(
            f"The reservation is {reservation.status}.", field="reservation", state=reservation.status
        )


def _close(reservation: Reservation, *, to: str, now, require_unexpired: bool) -> bool:
    """Move an active reservation to `to` with a conditional update: exactly one closer wins."""
    qs = Reservation.objects.filter(pk=reservation.pk, status=Reservation.Status.ACTIVE)
    if require_unexpired:
        qs = qs.filter(expires_at__gt=now)
    return bool(qs.update(status=to, closed_at=now))


def _release_lines(reservation: Reservation, *, cause: str) -> None:
    lines = list(reservation.lines.all())
    apply_changes(
        [
            Change(
                x.variant_id, x.location_id, reserved=-x.quantity, guard=RESERVED, guard_quantity=x.quantity
            )
            for x in lines
        ],
        cause=cause,
    )
    record_events(((x.variant_id, x.location_id) for x in lines), cause=cause)


def release_reservation(*, reservation: Reservation) -> Reservation:
    """The buyer left the checkout: put the held units back on sale now."""
    now = timezone.now()
    with transaction.atomic():
        if not _close(reservation, to=Reservation.Status.RELEASED, now=now, require_unexpired=False):
            reservation.refresh_from_db()
            if reservation.status == Reservation.Status.RELEASED:
                return reservation  # releasing twice is harmless
            _check_active(reservation, now)
        _release_lines(reservation, cause="released")
    reservation.refresh_from_db()
    return reservation


def expire_reservations(*, now=None, batch: int = 500) -> int:
    """Release every reservation past its TTL (the periodic job); returns how many were expired."""
    now = now or timezone.now()
    expired = 0
    ids = list(
        Reservation.objects.filter(status=Reservation.Status.ACTIVE, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:batch]
    )
    for pk in ids:
        with transaction.atomic():
            won = Reservation.objects.filter(
                pk=pk, status=Reservation.Status.ACTIVE, expires_at__lte=now
            ).update(status=Reservation.Status.EXPIRED, closed_at=now)
            if won:
                _release_lines(Reservation(pk=pk), cause="expired")
                expired += 1
    return expired


# --- Allocations --------------------------------------------------------------------------------------


def _allocation_lines(allocation: Allocation, picks) -> None:
    AllocationLine.objects.bulk_create(
        [
            AllocationLine(
                allocation=allocation, variant_id=p.variant_id, location_id=p.location_id, quantity=p.quantity
            )
            for p in picks
        ]
    )


def _convert_fast(reservation: Reservation, order_reference: str, now) -> Allocation:
    """PostgreSQL: close the reservation, create the allocation and its lines, move reserved → allocated in
    one statement (rows locked in order)."""
    allocation_id, closed = convert_in_one_statement(
        reservation_id=reservation.pk, order_reference=order_reference, now=now
    )
    if not closed:
        reservation.refresh_from_db()
        _check_active(reservation, now)
        raise ReservationExpired(field="reservation")  # active, but its TTL passed during the statement
    if allocation_id is None:
        raise IntegrityError("order reference taken by a concurrent allocation")
    allocation = Allocation(
        pk=allocation_id,
        channel_id=reservation.channel_id,
        order_reference=order_reference,
        reservation=reservation,
        status=Allocation.Status.ALLOCATED,
        strategy="reservation",
        created_at=now,
    )
    allocation._state.adding = False
    return allocation


def _convert(reservation: Reservation, order_reference: str, now) -> Allocation:
    if not _close(reservation, to=Reservation.Status.CONVERTED, now=now, require_unexpired=True):
        reservation.refresh_from_db()
        _check_active(reservation, now)
    allocation = Allocation.objects.create(
        channel_id=reservation.channel_id,
        order_reference=order_reference,
        reservation=reservation,
        strategy="reservation",
    )
    lines = list(reservation.lines.all())
    _allocation_lines(allocation, lines)
    apply_changes(
        [
            Change(
                x.variant_id,
                x.location_id,
                reserved=-x.quantity,
                allocated=x.quantity,
                guard=RESERVED,
                guard_quantity=x.quantity,
            )
            for x in lines
        ],
        cause="allocated",
    )
    return allocation


def allocate_reservation(*, reservation: Reservation, order_reference: str) -> Allocation:
    """The order was placed: the reservation's held units become the order's allocation, same locations."""
    if not order_reference:
        raise ValidationFailed("An order reference is needed.", field="order_reference")
    now = timezone.now()
    existing = Allocation.objects.filter(
        channel_id=reservation.channel_id, order_reference=order_reference
    ).first()
    if existing is not None:
        if existing.reservation_id == reservation.pk:
            return existing
        raise AlreadyExists(
            f"Order '{order_reference}' already has stock allocated.", field="order_reference"
        )
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                allocation = _convert_fast(reservation, order_reference, now)
            else:
                allocation = _convert(reservation, order_reference, now)
    except IntegrityError:
        existing = Allocation.objects.get(channel_id=reservation.channel_id, order_reference=order_reference)
        if existing.reservation_id == reservation.pk:
            return existing
        raise AlreadyExists(
            f"Order '{order_reference}' already has stock allocated.", field="order_reference"
        ) from None
    reservation.status = Reservation.Status.CONVERTED
    return allocation


def allocate_stock(
    *,
    channel: Channel,
    lines: Sequence[LineRequest],
    order_reference: str,
    pickup_location: StockLocation | None = None,
    link: HolderLink | None = None,
) -> Allocation:
    """Commit stock to an order placed without a reservation (POS sale, marketplace order import).

    `link`: a row the caller keeps about the allocation (its order's link), written by the same statement;
    `allocation.linked` says whether it was (not when an earlier allocation of the reference is replayed).

    Idempotent by order reference; returns which units come from which location (its lines). A POS sale
    handed over at a store that allows negative stock is never refused for stock: what the ledger lacks is
    allocated anyway (strategy `beyond_stock`), so shipping it takes on_hand below zero.
    """
    if not order_reference or len(order_reference) > 100:
        raise ValidationFailed(
            "An order reference of 1 to 100 characters is needed.", field="order_reference"
        )
    try:
        taken = take(
            channel=channel,
            lines=lines,
            holder=Allocation,
            key=order_reference,
            head=allocation_head(channel=channel, order_reference=order_reference),
            column="allocated",
            cause="allocated",
            pickup_location=pickup_location,
            link=link,
        )
    except InsufficientStock:
        if not (
            pickup_location is not None
            and pickup_location.allows_negative_stock
            and channel.kind == Channel.Kind.POS_STORE
        ):
            raise
        return _allocate_beyond_stock(
            channel=channel, lines=lines, order_reference=order_reference, location=pickup_location
        )
    if taken.replay or taken.head is None:
        allocation = Allocation.objects.select_related("channel").get(pk=taken.pk)
        return _replay_allocation(allocation, taken.plan.demand)
    # The row as written, without reading it back under the stock lock.
    columns = {k: v for k, v in taken.head.items() if k != "channel_id"}
    allocation = Allocation(pk=taken.pk, channel=channel, reservation=None, closed_at=None, **columns)
    allocation._state.adding, allocation._state.db = False, Allocation.objects.db
    allocation.linked = taken.linked
    return allocation


def _allocate_beyond_stock(
    *, channel: Channel, lines: Sequence[LineRequest], order_reference: str, location: StockLocation
) -> Allocation:
    """Allocate every unit at `location` whatever is free there, marking the levels `oversold` so the
    constraints let on_hand fall below what is committed. Only for goods already handed over at a till."""
    check_lines(lines)
    variants = variants_by_sku([x.sku for x in lines], field="lines")
    demand = {variants[x.sku].pk: x.quantity for x in lines}
    with transaction.atomic():
        allocation = Allocation.objects.create(
            channel=channel, order_reference=order_reference, strategy=BEYOND_STOCK
        )
        AllocationLine.objects.bulk_create(
            [
                AllocationLine(allocation=allocation, variant_id=v, location_id=location.pk, quantity=q)
                for v, q in demand.items()
            ]
        )
        StockLevel.objects.bulk_create(
            [StockLevel(variant_id=v, location_id=location.pk) for v in sorted(demand)], ignore_conflicts=True
        )
        StockLevel.objects.filter(variant_id__in=demand, location=location, oversold=False).update(
            oversold=True
        )
        apply_changes([Change(v, location.pk, allocated=q) for v, q in demand.items()], cause=BEYOND_STOCK)
        record_events(((v, location.pk) for v in demand), cause="allocated")
    return Allocation.objects.select_related("channel").get(pk=allocation.pk)


def _replay_allocation(allocation: Allocation, demand: dict[int, int]) -> Allocation:
    if not _same_lines(allocation.lines.all(), demand):
        raise AlreadyExists(
            f"Order '{allocation.order_reference}' already has a different allocation.",
            field="order_reference",
        )
    return allocation


def cancel_allocation(*, allocation: Allocation) -> Allocation:
    """The order was cancelled: its unshipped units go back on sale."""
    now = timezone.now()
    with transaction.atomic():
        won = Allocation.objects.filter(pk=allocation.pk, status=Allocation.Status.ALLOCATED).update(
            status=Allocation.Status.CANCELLED, closed_at=now
        )
        allocation.refresh_from_db()
        if not won:
            if allocation.status == Allocation.Status.CANCELLED:
                return allocation
            raise InvalidTransition(f"The allocation is {allocation.status}.", field="allocation")
        lines = [x for x in allocation.lines.all() if x.quantity > x.shipped]
        apply_changes(
            [
                Change(
                    x.variant_id,
                    x.location_id,
                    allocated=-(x.quantity - x.shipped),
                    guard=ALLOCATED,
                    guard_quantity=x.quantity - x.shipped,
                )
                for x in lines
            ],
            cause="cancelled",
        )
        record_events(((x.variant_id, x.location_id) for x in lines), cause="cancelled")
    return allocation


def ship_allocation(
    *, allocation: Allocation, location: StockLocation | None = None, actor: str = ""
) -> list[StockMovement]:
    """The units left the building: sale movements, on_hand and allocated down (one location, or all)."""
    with transaction.atomic():
        locked = Allocation.objects.select_for_update().get(pk=allocation.pk)
        if locked.status != Allocation.Status.ALLOCATED:
            raise InvalidTransition(f"The allocation is {locked.status}.", field="allocation")
        lines = [x for x in locked.lines.all() if x.quantity > x.shipped]
        if location is not None:
            lines = [x for x in lines if x.location_id == location.pk]
            if not lines:
                raise InvalidTransition(
                    f"Nothing left to ship from '{location.code}' for this allocation.", field="location"
                )
        movements = StockMovement.objects.bulk_create(
            [
                StockMovement(
                    variant_id=x.variant_id,
                    location_id=x.location_id,
                    kind=StockMovement.Kind.SALE,
                    quantity=-(x.quantity - x.shipped),
                    reference_type="order",
                    reference=locked.order_reference,
                    actor=actor,
                )
                for x in lines
            ]
        )
        apply_changes(
            [
                Change(
                    x.variant_id,
                    x.location_id,
                    on_hand=-(x.quantity - x.shipped),
                    allocated=-(x.quantity - x.shipped),
                    guard=ALLOCATED,
                    guard_quantity=x.quantity - x.shipped,
                )
                for x in lines
            ],
            cause="shipped",
        )
        for x in lines:
            x.shipped = x.quantity
        AllocationLine.objects.bulk_update(lines, ["shipped"])
        if not locked.lines.filter(shipped__lt=F("quantity")).exists():
            Allocation.objects.filter(pk=locked.pk).update(
                status=Allocation.Status.FULFILLED, closed_at=timezone.now()
            )
        record_events(((x.variant_id, x.location_id) for x in lines), cause="shipped")
    allocation.refresh_from_db()
    return movements
