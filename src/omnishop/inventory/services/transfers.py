"""Moving stock between locations (transfers) and checking it against the shelf (cycle counts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from omnishop.core.errors import InvalidTransition, ValidationFailed

from ..errors import CountBelowCommitted, CountInProgress, DuplicateLine, InsufficientStock, SameLocation
from ..models import (
    CycleCount,
    CycleCountLine,
    StockLevel,
    StockLocation,
    StockMovement,
    Transfer,
    TransferLine,
)
from .stock import (
    FREE,
    Change,
    Raced,
    add_on_hand,
    apply_changes,
    check_quantity,
    record_events,
    variants_by_sku,
)


@dataclass(frozen=True)
class SkuQuantity:
    sku: str
    quantity: int


def _lines(lines: Sequence[SkuQuantity], *, allow_zero: bool = False):
    if not lines:
        raise ValidationFailed("At least one line is needed.", field="lines")
    seen = set()
    for i, line in enumerate(lines):
        if allow_zero:
            if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) or line.quantity < 0:
                raise ValidationFailed(
                    "Counted quantities are whole numbers ≥ 0.", field=f"lines[{i}].quantity"
                )
        else:
            check_quantity(line.quantity, field=f"lines[{i}].quantity")
        if line.sku in seen:
            raise DuplicateLine(f"SKU '{line.sku}' appears twice.", field=f"lines[{i}].sku")
        seen.add(line.sku)
    variants = variants_by_sku((x.sku for x in lines), field="lines")
    return [(variants[x.sku], x.quantity) for x in lines]


# --- Transfers: requested → in transit → received -----------------------------------------------------


def request_transfer(
    *,
    source: StockLocation,
    destination: StockLocation,
    lines: Sequence[SkuQuantity],
    note: str = "",
    actor: str = "",
) -> Transfer:
    """Ask for stock to move from one location to another; nothing moves until it is dispatched."""
    if source.pk == destination.pk:
        raise SameLocation(field="destination")
    resolved = _lines(lines)
    with transaction.atomic():
        transfer = Transfer.objects.create(
            source=source, destination=destination, note=note, created_by=actor
        )
        TransferLine.objects.bulk_create(
            [TransferLine(transfer=transfer, variant=v, quantity=q) for v, q in resolved]
        )
    return transfer


def dispatch_transfer(*, transfer: Transfer, actor: str = "") -> Transfer:
    """The goods leave the source: transfer-out movements, taken only from free stock."""
    with transaction.atomic():
        locked = Transfer.objects.select_for_update().get(pk=transfer.pk)
        if locked.status != Transfer.Status.REQUESTED:
            raise InvalidTransition(
                f"The transfer is {locked.status}.", field="transfer", state=locked.status
            )
        lines = list(locked.lines.select_related("variant"))
        StockMovement.objects.bulk_create(
            [
                StockMovement(
                    variant_id=x.variant_id,
                    location_id=locked.source_id,
                    kind=StockMovement.Kind.TRANSFER_OUT,
                    quantity=-x.quantity,
                    reference_type="transfer",
                    reference=str(locked.pk),
                    actor=actor,
                )
                for x in lines
            ]
        )
        try:
            apply_changes(
                [
                    Change(
                        x.variant_id,
                        locked.source_id,
                        on_hand=-x.quantity,
                        guard=FREE,
                        guard_quantity=x.quantity,
                    )
                    for x in lines
                ],
                cause="transfer_out",
            )
        except Raced as raced:
            level = StockLevel.objects.filter(
                variant_id=raced.change.variant_id, location_id=locked.source_id
            ).first()
            sku = next(x.variant.sku for x in lines if x.variant_id == raced.change.variant_id)
            raise InsufficientStock(
                f"Only {level.free if level else 0} free unit(s) of {sku} at the source.",
                field="lines",
                sku=sku,
                requested=raced.change.guard_quantity,
                available=level.free if level else 0,
            ) from None
        record_events(((x.variant_id, locked.source_id) for x in lines), cause="transfer_out")
        locked.status = Transfer.Status.IN_TRANSIT
        locked.dispatched_at = timezone.now()
        locked.save(update_fields=["status", "dispatched_at"])
    return locked


def receive_transfer(*, transfer: Transfer, actor: str = "") -> Transfer:
    """The goods arrive: transfer-in movements at the destination."""
    with transaction.atomic():
        locked = Transfer.objects.select_for_update().get(pk=transfer.pk)
        if locked.status != Transfer.Status.IN_TRANSIT:
            raise InvalidTransition(
                f"The transfer is {locked.status}.", field="transfer", state=locked.status
            )
        lines = list(locked.lines.all())
        StockMovement.objects.bulk_create(
            [
                StockMovement(
                    variant_id=x.variant_id,
                    location_id=locked.destination_id,
                    kind=StockMovement.Kind.TRANSFER_IN,
                    quantity=x.quantity,
                    reference_type="transfer",
                    reference=str(locked.pk),
                    actor=actor,
                )
                for x in lines
            ]
        )
        for x in sorted(lines, key=lambda x: x.variant_id):
            add_on_hand(variant_id=x.variant_id, location_id=locked.destination_id, quantity=x.quantity)
        record_events(((x.variant_id, locked.destination_id) for x in lines), cause="transfer_in")
        locked.status = Transfer.Status.RECEIVED
        locked.received_at = timezone.now()
        locked.save(update_fields=["status", "received_at"])
    return locked


def cancel_transfer(*, transfer: Transfer) -> Transfer:
    """Only a transfer that has not left may be cancelled (nothing has moved)."""
    updated = Transfer.objects.filter(pk=transfer.pk, status=Transfer.Status.REQUESTED).update(
        status=Transfer.Status.CANCELLED
    )
    transfer.refresh_from_db()
    if not updated:
        raise InvalidTransition(
            f"The transfer is {transfer.status}.", field="transfer", state=transfer.status
        )
    return transfer


# --- Cycle counts: count sheet → adjustments for the differences --------------------------------------


def start_count(*, location: StockLocation, actor: str = "") -> CycleCount:
    """Open a count sheet for a location; one open count per location at a time."""
    try:
        with transaction.atomic():
            return CycleCount.objects.create(location=location, created_by=actor)
    except IntegrityError:
        raise CountInProgress(field="location", location=location.code) from None


@dataclass(frozen=True)
class CountDifference:
    sku: str
    expected: int  # on hand now
    counted: int
    committed: int  # allocated + reserved: the count may not go below it

    @property
    def difference(self) -> int:
        return self.counted - self.expected


def review_count(*, count: CycleCount, lines: Sequence[SkuQuantity]) -> list[CountDifference]:
    """What `complete_count` would book for these counted quantities, read now and booked nothing: the
    review a person sees before posting (on hand may still change before the count is posted)."""
    if count.status != CycleCount.Status.OPEN:
        raise InvalidTransition(f"This count is {count.status}.", field="count", state=count.status)
    resolved = _lines(lines, allow_zero=True)
    levels = {
        s.variant_id: s
        for s in StockLevel.objects.filter(
            location_id=count.location_id, variant_id__in=[v.pk for v, _ in resolved]
        )
    }
    out = []
    for variant, counted in resolved:
        level = levels.get(variant.pk)
        out.append(
            CountDifference(
                sku=variant.sku,
                expected=level.on_hand if level else 0,
                counted=counted,
                committed=(level.allocated + level.reserved) if level else 0,
            )
        )
    return out


def complete_count(*, count: CycleCount, lines: Sequence[SkuQuantity], actor: str = "") -> CycleCount:
    """Book what was counted: a cycle-count movement per difference from on_hand at this moment.

    SKUs not on the sheet are not touched (partial counts are normal). Counting fewer units than are
    allocated or reserved is refused: release those holds first, then count again.
    """
    resolved = _lines(lines, allow_zero=True)
    with transaction.atomic():
        locked = CycleCount.objects.select_for_update().get(pk=count.pk)
        if locked.status != CycleCount.Status.OPEN:
            raise InvalidTransition(
                f"This count is {locked.status}; a location is counted once per sheet.",
                field="count",
                state=locked.status,
            )
        # Rows are locked in variant order; an error still names the line by its place on the sheet.
        lines_in_lock_order = sorted(enumerate(resolved), key=lambda item: item[1][0].pk)
        levels = {
            s.variant_id: s
            for s in StockLevel.objects.select_for_update()
            .filter(location_id=locked.location_id, variant_id__in=[v.pk for v, _ in resolved])
            .order_by("variant_id")
        }
        movements, count_lines, changed = [], [], []
        for index, (variant, counted) in lines_in_lock_order:
            level = levels.get(variant.pk)
            expected = level.on_hand if level else 0
            committed = (level.allocated + level.reserved) if level else 0
            if counted < committed:
                raise CountBelowCommitted(
                    f"{variant.sku}: {counted} counted but {committed} allocated or reserved.",
                    field=f"lines[{index}].quantity",
                    sku=variant.sku,
                    counted=counted,
                    committed=committed,
                )
            count_lines.append(
                CycleCountLine(count=locked, variant=variant, expected=expected, counted=counted)
            )
            if counted != expected:
                movements.append(
                    StockMovement(
                        variant=variant,
                        location_id=locked.location_id,
                        kind=StockMovement.Kind.CYCLE_COUNT,
                        quantity=counted - expected,
                        reason_code="count_difference",
                        reference_type="cycle_count",
                        reference=str(locked.pk),
                        actor=actor,
                    )
                )
                changed.append((variant.pk, counted - expected))
        CycleCountLine.objects.bulk_create(count_lines)
        StockMovement.objects.bulk_create(movements)
        for variant_id, delta in changed:
            if delta > 0:
                add_on_hand(variant_id=variant_id, location_id=locked.location_id, quantity=delta)
            else:
                apply_changes(
                    [
                        Change(
                            variant_id, locked.location_id, on_hand=delta, guard=FREE, guard_quantity=-delta
                        )
                    ],
                    cause="cycle_count",
                )
        record_events(((v, locked.location_id) for v, _ in changed), cause="cycle_count")
        locked.status = CycleCount.Status.COMPLETED
        locked.completed_at = timezone.now()
        locked.save(update_fields=["status", "completed_at"])
    return locked


def cancel_count(*, count: CycleCount) -> CycleCount:
    updated = CycleCount.objects.filter(pk=count.pk, status=CycleCount.Status.OPEN).update(
        status=CycleCount.Status.CANCELLED
    )
    count.refresh_from_db()
    if not updated:
        raise InvalidTransition(f"This count is {count.status}.", field="count", state=count.status)
    return count
