"""Stock primitives every workflow is built from: conditional changes of one stock level, ledger entries,
stock-changed events, receipts, adjustments, returns, and the ledger check.

Every change of a stock level is ONE conditional UPDATE whose WHERE clause carries the guard (e.g. "free
stock ≥ quantity"): the database applies it atomically against the latest committed row, so two buyers can
never take the same unit, and a zero row count means someone was faster. Callers that touch several rows
sort them by (variant_id, location_id) first, so concurrent multi-line operations cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from omnishop.catalog.models import Variant

from ..errors import InsufficientStock, InvalidQuantity, LocationNotFound, UnknownLocation, UnknownSku
from ..models import LowStockAlert, StockEvent, StockLevel, StockLocation, StockMovement
from .arrivals import announce_arrival

# Guards: the condition a change needs, checked by the database in the same statement.
FREE = "on_hand - allocated - reserved >= %s"
RESERVED = "reserved >= %s"
ALLOCATED = "allocated >= %s"

_TABLE = StockLevel._meta.db_table


@dataclass(frozen=True)
class Change:
    """A change of one stock level: deltas of on_hand, allocated and reserved, and the guard it needs."""

    variant_id: int
    location_id: int
    on_hand: int = 0
    allocated: int = 0
    reserved: int = 0
    guard: str | None = None
    guard_quantity: int = 0

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.variant_id, self.location_id)


class Raced(Exception):
    """A guarded change found the condition false: stock moved between planning and taking."""

    def __init__(self, change: Change) -> None:
        self.change = change
        super().__init__(f"variant {change.variant_id} at location {change.location_id}")


def apply_changes(changes: Iterable[Change], *, cause: str, now=None) -> None:
    """Apply guarded changes in (variant, location) order; raise Raced on the first that cannot apply.

    Must run inside the caller's transaction so a Raced rolls back the changes already made.
    """
    now = now or timezone.now()
    crossed: list[tuple[int, int, int, int]] = []
    with connection.cursor() as cursor:
        for change in sorted(changes, key=lambda c: c.sort_key):
            sql = (
                f"UPDATE {_TABLE} SET on_hand = on_hand + %s, allocated = allocated + %s, "
                f"reserved = reserved + %s, updated_at = %s WHERE variant_id = %s AND location_id = %s"
            )
            params = [
                change.on_hand,
                change.allocated,
                change.reserved,
                now,
                change.variant_id,
                change.location_id,
            ]
            if change.guard:
                sql += f" AND {change.guard}"
                params.append(change.guard_quantity)
            cursor.execute(sql + " RETURNING on_hand - allocated - reserved, reorder_point", params)
            row = cursor.fetchone()
            if row is None:
                raise Raced(change)
            free, reorder_point = row
            taken = -(change.on_hand - change.allocated - change.reserved)
            # An alert opens once, when free stock crosses below the reorder point.
            if reorder_point is not None and free < reorder_point <= free + taken:
                crossed.append((change.variant_id, change.location_id, free, reorder_point))
    if crossed:
        LowStockAlert.objects.bulk_create(
            [
                LowStockAlert(variant_id=v, location_id=loc, free=f, reorder_point=r)
                for v, loc, f, r in crossed
            ],
            ignore_conflicts=True,
        )


def add_on_hand(*, variant_id: int, location_id: int, quantity: int, now=None) -> int:
    """Add units (creating the stock level on first receipt); returns the new on_hand."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_TABLE} (variant_id, location_id, on_hand, allocated, reserved, updated_at) "
            f"VALUES (%s, %s, %s, 0, 0, %s) ON CONFLICT (variant_id, location_id) DO UPDATE SET "
            f"on_hand = {_TABLE}.on_hand + excluded.on_hand, updated_at = excluded.updated_at "
            f"RETURNING on_hand - allocated - reserved, reorder_point, on_hand",
            [variant_id, location_id, quantity, now],
        )
        free, reorder_point, on_hand = cursor.fetchone()
    announce_arrival(variant_id)
    if reorder_point is not None and free >= reorder_point:
        LowStockAlert.objects.filter(
            variant_id=variant_id, location_id=location_id, resolved_at__isnull=True
        ).update(resolved_at=now)
    return on_hand


def record_events(pairs: Iterable[tuple[int, int]], *, cause: str) -> None:
    """Marks: each (variant, location) whose stock changed; folded into availability events after commit."""
    StockEvent.objects.bulk_create(
        [StockEvent(variant_id=v, location_id=loc, cause=cause) for v, loc in sorted(set(pairs))]
    )


# --- Input checks shared by every workflow ------------------------------------------------------------


# The most units one booking may carry: what a stock column holds (a 32-bit integer on PostgreSQL). A larger
# number would fail in the database (a server error) instead of being refused as input.
MAX_QUANTITY = 2**31 - 1


def check_quantity(quantity: object, *, field: str = "quantity") -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidQuantity(
            f"{field} must be a whole number from 1 to {MAX_QUANTITY}, not {quantity!r}.", field=field
        )
    return quantity


def variants_by_sku(skus: Iterable[str], *, field: str = "sku") -> dict[str, Variant]:
    """One query for all SKUs; an unknown one is an error naming it."""
    wanted = list(dict.fromkeys(skus))
    found = {v.sku: v for v in Variant.objects.filter(sku__in=wanted)}
    for index, sku in enumerate(wanted):
        if sku not in found:
            raise UnknownSku(f"No variant with SKU '{sku}'.", field=field, sku=sku, index=index)
    return found


def location_by_code(code: str, *, field: str = "location", in_body: bool = True) -> StockLocation:
    location = StockLocation.objects.filter(code=code).first()
    if location is None:
        error = UnknownLocation if in_body else LocationNotFound
        raise error(f"No stock location '{code}'.", field=field, location=code)
    return location


# --- Receipts, adjustments, returns -------------------------------------------------------------------


def receive_stock(
    *,
    variant: Variant,
    location: StockLocation,
    quantity: int,
    reference_type: str = "",
    reference: str = "",
    reason_code: str = "",
    actor: str = "",
    note: str = "",
    kind: str = StockMovement.Kind.RECEIPT,
) -> StockMovement:
    """Book units arriving at a location (goods in, returns, found stock): on_hand up, one ledger line."""
    check_quantity(quantity)
    with transaction.atomic():
        movement = StockMovement.objects.create(
            variant=variant,
            location=location,
            kind=kind,
            quantity=quantity,
            reason_code=reason_code,
            reference_type=reference_type,
            reference=reference,
            actor=actor,
            note=note,
        )
        add_on_hand(variant_id=variant.pk, location_id=location.pk, quantity=quantity)
        record_events([(variant.pk, location.pk)], cause=kind)
    return movement


def record_return(
    *, variant: Variant, location: StockLocation, quantity: int, reference: str = "", actor: str = ""
) -> StockMovement:
    """A customer return that goes back on sale at `location`."""
    return receive_stock(
        variant=variant,
        location=location,
        quantity=quantity,
        reference_type="order",
        reference=reference,
        reason_code="customer_return",
        actor=actor,
        kind=StockMovement.Kind.RETURN,
    )


# The labels are English here (services answer in English); the stock desk shows them translated.
ADJUSTMENT_REASONS = {
    "found": gettext_noop("Units found"),
    "correction": gettext_noop("Correction of a booking error"),
    "damaged": gettext_noop("Damaged"),
    "lost": gettext_noop("Lost / missing"),
    "theft": gettext_noop("Theft"),
    "expired": gettext_noop("Expired / past sell-by"),
    "sample": gettext_noop("Used as sample or display"),
}
WRITE_OFF_REASONS = {"damaged", "lost", "theft", "expired"}


def adjust_stock(
    *,
    variant: Variant,
    location: StockLocation,
    delta: int,
    reason_code: str,
    note: str = "",
    actor: str = "",
) -> StockMovement:
    """Correct on_hand by `delta` with a reason; removing units never touches allocated or reserved stock."""
    from omnishop.core.errors import ValidationFailed

    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0 or abs(delta) > MAX_QUANTITY:
        raise InvalidQuantity(
            f"delta must be a non-zero whole number from -{MAX_QUANTITY} to {MAX_QUANTITY}.", field="delta"
        )
    if reason_code not in ADJUSTMENT_REASONS:
        raise ValidationFailed(
            f"Unknown reason code '{reason_code}'.",
            field="reason_code",
            allowed=sorted(ADJUSTMENT_REASONS),
        )
    kind = StockMovement.Kind.WRITE_OFF if reason_code in WRITE_OFF_REASONS else StockMovement.Kind.ADJUSTMENT
    if delta > 0:
        return receive_stock(
            variant=variant,
            location=location,
            quantity=delta,
            reason_code=reason_code,
            reference_type="adjustment",
            actor=actor,
            note=note,
            kind=kind,
        )
    with transaction.atomic():
        movement = StockMovement.objects.create(
            variant=variant,
            location=location,
            kind=kind,
            quantity=delta,
            reason_code=reason_code,
            reference_type="adjustment",
            actor=actor,
            note=note,
        )
        try:
            apply_changes(
                [Change(variant.pk, location.pk, on_hand=delta, guard=FREE, guard_quantity=-delta)],
                cause=kind,
            )
        except Raced:
            level = StockLevel.objects.filter(variant=variant, location=location).first()
            raise InsufficientStock(
                f"Only {level.free if level else 0} free unit(s) of {variant.sku} at {location.code} can be "
                "removed; the rest is allocated or reserved.",
                field="delta",
                sku=variant.sku,
                requested=-delta,
                available=level.free if level else 0,
            ) from None
        record_events([(variant.pk, location.pk)], cause=kind)
    return movement


# --- The ledger check ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    variant_id: int
    location_id: int
    what: str  # on_hand | reserved | allocated
    recorded: int
    expected: int


def verify_ledger() -> list[Mismatch]:
    """Every stock level against its ledger and its holds: on_hand = Σ movements, reserved = Σ active
    reservation lines, allocated = Σ unshipped allocation lines. An empty list means the books balance."""
    m = StockMovement._meta.db_table
    sl = _TABLE
    from ..models import Allocation, AllocationLine, Reservation, ReservationLine

    rl, r = ReservationLine._meta.db_table, Reservation._meta.db_table
    al, a = AllocationLine._meta.db_table, Allocation._meta.db_table
    sql = f"""
        WITH moved AS (SELECT variant_id, location_id, SUM(quantity) AS q FROM {m} GROUP BY variant_id, location_id),
        held AS (SELECT l.variant_id, l.location_id, SUM(l.quantity) AS q FROM {rl} l
                 JOIN {r} r ON r.id = l.reservation_id WHERE r.status = 'active'
                 GROUP BY l.variant_id, l.location_id),
        committed AS (SELECT l.variant_id, l.location_id, SUM(l.quantity - l.shipped) AS q FROM {al} l
                 JOIN {a} a ON a.id = l.allocation_id WHERE a.status = 'allocated'
                 GROUP BY l.variant_id, l.location_id)
        SELECT s.variant_id, s.location_id, s.on_hand, COALESCE(moved.q, 0), s.reserved, COALESCE(held.q, 0),
               s.allocated, COALESCE(committed.q, 0)
        FROM {sl} s
        LEFT JOIN moved ON moved.variant_id = s.variant_id AND moved.location_id = s.location_id
        LEFT JOIN held ON held.variant_id = s.variant_id AND held.location_id = s.location_id
        LEFT JOIN committed ON committed.variant_id = s.variant_id AND committed.location_id = s.location_id
        WHERE s.on_hand <> COALESCE(moved.q, 0) OR s.reserved <> COALESCE(held.q, 0)
           OR s.allocated <> COALESCE(committed.q, 0)
        UNION ALL
        SELECT moved.variant_id, moved.location_id, 0, moved.q, 0, 0, 0, 0 FROM moved
        WHERE moved.q <> 0 AND NOT EXISTS (
            SELECT 1 FROM {sl} s WHERE s.variant_id = moved.variant_id AND s.location_id = moved.location_id)
        ORDER BY 1, 2
    """
    out: list[Mismatch] = []
    with connection.cursor() as cursor:
        cursor.execute(sql)
        for (
            variant_id,
            location_id,
            on_hand,
            moved,
            reserved,
            held,
            allocated,
            committed,
        ) in cursor.fetchall():
            for what, recorded, expected in (
                ("on_hand", on_hand, moved),
                ("reserved", reserved, held),
                ("allocated", allocated, committed),
            ):
                if recorded != expected:
                    out.append(Mismatch(variant_id, location_id, what, int(recorded), int(expected)))
    return out
