"""Holding stock for buyers: reservations (checkouts in progress, with a TTL) and allocations (placed orders).

The hot path is short on purpose: read the plan (one query), write the reservation rows, and take the stock
with one conditional UPDATE per (variant, location) as the LAST statements before COMMIT, so a hot row is
locked only for the time of its own commit. A zero row count means another buyer was faster: with one
candidate location that is a definite `insufficient_stock`; with several, the plan is re-read and retried.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from omnishop.channels.models import Channel
from omnishop.core.errors import AlreadyExists, IdempotencyKeyReused, InvalidTransition, ValidationFailed

from ..errors import (
    ChannelHasNoLocations,
    DuplicateLine,
    HoldLimitReached,
    InsufficientStock,
    ReservationExpired,
    UnknownLocation,
)
from ..models import (
    Allocation,
    AllocationLine,
    ChannelInventoryPolicy,
    ChannelLocation,
    Reservation,
    ReservationLine,
    StockLevel,
    StockLocation,
    StockMovement,
)
from .stock import ALLOCATED, FREE, RESERVED, Change, Raced, apply_changes, check_quantity, record_events
from .stock import variants_by_sku as _variants_by_sku
from .strategies import STRATEGIES, Candidate, Pick, Shortfall

PLAN_ATTEMPTS = 3


@dataclass(frozen=True)
class LineRequest:
    sku: str
    quantity: int


@dataclass
class Plan:
    picks: list[Pick]
    policy: ChannelInventoryPolicy
    strategy: str
    contested: bool  # more than one candidate location: a lost race is worth a re-plan


def atp(free: int, *, safety_buffer: int, quota_percent: int | None, quota_minus: int) -> int:
    """Available-to-promise for a channel from the free units of its locations."""
    promised = free - safety_buffer
    if quota_percent is not None:
        promised = min(promised, math.floor(free * quota_percent / 100) - quota_minus)
    return max(0, promised)


def _demand(lines: Sequence[LineRequest]) -> tuple[dict[int, int], dict[int, str]]:
    if not lines:
        raise ValidationFailed("At least one line is needed.", field="lines")
    seen: set[str] = set()
    for i, line in enumerate(lines):
        check_quantity(line.quantity, field=f"lines[{i}].quantity")
        if line.sku in seen:
            raise DuplicateLine(
                f"SKU '{line.sku}' appears twice; send one line per SKU.", field=f"lines[{i}].sku"
            )
        seen.add(line.sku)
    variants = _variants_by_sku((line.sku for line in lines), field="lines")
    demand = {variants[line.sku].pk: line.quantity for line in lines}
    return demand, {variants[line.sku].pk: line.sku for line in lines}


_PLAN_SQL = """
SELECT cl.location_id, loc.code, loc.kind, cl.priority, sl.variant_id,
       sl.on_hand - sl.allocated - sl.reserved,
       p.reservation_ttl_seconds, p.safety_buffer, p.quota_percent, p.quota_minus, p.allocation_strategy,
       p.max_hold_seconds
FROM {cl} cl
JOIN {loc} loc ON loc.id = cl.location_id
LEFT JOIN {sl} sl ON sl.location_id = cl.location_id AND sl.variant_id IN ({variants})
LEFT JOIN {pol} p ON p.channel_id = cl.channel_id
WHERE cl.channel_id = %s AND loc.is_active {extra}
ORDER BY cl.priority, cl.location_id
"""


def plan(
    *,
    channel: Channel,
    demand: dict[int, int],
    skus: dict[int, str],
    pickup_location: StockLocation | None = None,
) -> Plan:
    """Decide which units come from where for `channel` (one query), or raise insufficient_stock."""
    extra, params = "AND loc.ships_to_customers", []
    if pickup_location is not None:
        extra, params = "AND loc.id = %s AND loc.serves_pickup", [pickup_location.pk]
    sql = _PLAN_SQL.format(
        cl=ChannelLocation._meta.db_table,
        loc=StockLocation._meta.db_table,
        sl=StockLevel._meta.db_table,
        pol=ChannelInventoryPolicy._meta.db_table,
        variants=", ".join(["%s"] * len(demand)),
        extra=extra,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*demand, channel.pk, *params])
        rows = cursor.fetchall()
    if not rows:
        if pickup_location is not None:
            raise UnknownLocation(
                f"'{pickup_location.code}' does not serve pick-up for channel '{channel.code}'.",
                field="pickup_location",
            )
        raise ChannelHasNoLocations(f"No active stock location ships for channel '{channel.code}'.")
    policy = ChannelInventoryPolicy(channel=channel)
    if rows[0][6] is not None:
        (
            policy.reservation_ttl_seconds,
            policy.safety_buffer,
            policy.quota_percent,
            policy.quota_minus,
            policy.allocation_strategy,
            policy.max_hold_seconds,
        ) = rows[0][6:12]
    candidates: dict[int, Candidate] = {}
    free: dict[tuple[int, int], int] = {}
    for location_id, code, kind, priority, variant_id, units, *_ in rows:
        candidates.setdefault(location_id, Candidate(location_id, code, kind, priority))
        if variant_id is not None:
            free[(variant_id, location_id)] = units
    for variant_id, wanted in demand.items():
        total = sum(max(0, free.get((variant_id, loc), 0)) for loc in candidates)
        promised = atp(
            total,
            safety_buffer=policy.safety_buffer,
            quota_percent=policy.quota_percent,
            quota_minus=policy.quota_minus,
        )
        if promised < wanted:
            raise _insufficient(skus[variant_id], wanted, promised)
    name = "pos_store" if channel.kind == Channel.Kind.POS_STORE else policy.allocation_strategy
    try:
        picks = STRATEGIES[name](demand, list(candidates.values()), free)
    except Shortfall as short:
        raise _insufficient(skus[short.variant_id], short.requested, short.available) from None
    return Plan(picks=picks, policy=policy, strategy=name, contested=len(candidates) > 1)


def _insufficient(sku: str, requested: int, available: int) -> InsufficientStock:
    return InsufficientStock(
        f"Only {available} unit(s) of {sku} available; {requested} requested.",
        field="lines",
        sku=sku,
        requested=requested,
        available=available,
    )


def _take(*, channel, demand, skus, pickup_location, write, change_for):
    """Plan, write rows, take stock; re-plan when a race was lost and another location may still have it."""
    for attempt in range(PLAN_ATTEMPTS):
        current = plan(channel=channel, demand=demand, skus=skus, pickup_location=pickup_location)
        try:
            with transaction.atomic():
                result = write(current)
                apply_changes([change_for(p) for p in current.picks], cause="hold")
            return result
        except Raced as raced:
            if not current.contested or attempt == PLAN_ATTEMPTS - 1:
                level = StockLevel.objects.filter(
                    variant_id=raced.change.variant_id, location_id=raced.change.location_id
                ).first()
                raise _insufficient(
                    skus[raced.change.variant_id], demand[raced.change.variant_id], level.free if level else 0
                ) from None
    raise AssertionError("unreachable")


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
    demand, skus = _demand(lines)
    existing = Reservation.objects.filter(channel=channel, key=key).first()
    if existing is not None:
        return _replay(existing, demand)

    def write(current: Plan) -> Reservation:
        now = timezone.now()
        reservation = Reservation.objects.create(
            channel=channel,
            key=key,
            reference=reference,
            expires_at=now + timedelta(seconds=current.policy.reservation_ttl_seconds),
        )
        ReservationLine.objects.bulk_create(
            [
                ReservationLine(
                    reservation=reservation,
                    variant_id=p.variant_id,
                    location_id=p.location_id,
                    quantity=p.quantity,
                )
                for p in current.picks
            ]
        )
        record_events(((p.variant_id, p.location_id) for p in current.picks), cause="reserved")
        return reservation

    def change_for(p: Pick) -> Change:
        return Change(p.variant_id, p.location_id, reserved=p.quantity, guard=FREE, guard_quantity=p.quantity)

    try:
        return _take(
            channel=channel,
            demand=demand,
            skus=skus,
            pickup_location=pickup_location,
            write=write,
            change_for=change_for,
        )
    except IntegrityError:
        # A concurrent request with the same key committed first.
        return _replay(Reservation.objects.get(channel=channel, key=key), demand)


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
            f"The reservation is {reservation.status}.", field="reservation", status=reservation.status
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
) -> Allocation:
    """Commit stock to an order placed without a reservation (POS sale, marketplace order import).

    Idempotent by order reference; returns which units come from which location (its lines).
    """
    if not order_reference or len(order_reference) > 100:
        raise ValidationFailed(
            "An order reference of 1 to 100 characters is needed.", field="order_reference"
        )
    demand, skus = _demand(lines)
    existing = Allocation.objects.filter(channel=channel, order_reference=order_reference).first()
    if existing is not None:
        return _replay_allocation(existing, demand)

    def write(current: Plan) -> Allocation:
        allocation = Allocation.objects.create(
            channel=channel, order_reference=order_reference, strategy=current.strategy
        )
        _allocation_lines(allocation, current.picks)
        record_events(((p.variant_id, p.location_id) for p in current.picks), cause="allocated")
        return allocation

    def change_for(p: Pick) -> Change:
        return Change(
            p.variant_id, p.location_id, allocated=p.quantity, guard=FREE, guard_quantity=p.quantity
        )

    try:
        return _take(
            channel=channel,
            demand=demand,
            skus=skus,
            pickup_location=pickup_location,
            write=write,
            change_for=change_for,
        )
    except IntegrityError:
        return _replay_allocation(
            Allocation.objects.get(channel=channel, order_reference=order_reference), demand
        )


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
