"""Replenishment and purchasing: what to reorder, draft purchase orders per supplier, and receiving them.

Model (documented in docs/inventory.md): daily sales d over the window come from the ledger's sale movements
at each location (days without sales count as 0). With μ = mean(d), σ = stdev(d), L = the preferred supplier
offer's lead time in days and z the service level's normal quantile (95 % → 1.645):

    safety stock  SS  = z · σ · √L
    reorder point ROP = μ · L + SS                    (rounded up)
    position          = free stock + still on order   (open purchase orders to this location)
    suggest when position < ROP:  ROP + μ · review_days − position, rounded up to the MOQ, then to whole packs.

Each line records its landed unit cost when drafted (the supplier offer's freight and duty on top of the
unit cost, `catalog.services.landed_unit_cost`); receipts book it, plus their share of a delivery's extra
charge, and fold it into the stock's weighted-average cost (`valuation`).
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from omnishop.catalog.models import Supplier, SupplierOffer, Variant
from omnishop.catalog.services import landed_unit_cost, offer_landed_unit_cost
from omnishop.core.errors import InvalidTransition, ValidationFailed
from omnishop.core.money import CurrencyMismatch

from ..errors import DuplicateLine, NoSupplierOffer, OverReceipt
from ..models import (
    LowStockAlert,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderReceipt,
    StockLevel,
    StockLocation,
    StockMovement,
)
from .stock import add_on_hand, check_quantity, record_events, variants_by_sku
from .valuation import allocate_charge, parse_extra_charge, receipt_unit_cost, revalue_on_receipt

OPEN_PO = (PurchaseOrder.Status.DRAFT, PurchaseOrder.Status.SENT, PurchaseOrder.Status.PARTIALLY_RECEIVED)


@dataclass(frozen=True)
class Suggestion:
    variant_id: int
    sku: str
    location_id: int
    location: str
    supplier_id: int
    supplier: str
    daily_velocity: float
    daily_stdev: float
    lead_time_days: int
    safety_stock: int
    reorder_point: int
    position: int
    quantity: int
    unit_cost: Decimal
    currency: str
    landed_unit_cost: Decimal


def round_to_order(quantity: int, *, moq: int, pack_size: int) -> int:
    """At least the minimum order quantity, in whole packs."""
    quantity = max(quantity, moq)
    return math.ceil(quantity / pack_size) * pack_size


def suggest_replenishment(
    *,
    location: StockLocation | None = None,
    window_days: int = 28,
    service_level: float = 0.95,
    review_days: int = 7,
    now=None,
) -> list[Suggestion]:
    """What each stocked location should reorder now, from the ledger's sales over `window_days`.

    Side effect: stores each stock level's reorder point, which drives the low-stock alerts.
    """
    if not 1 <= window_days <= 365:
        raise ValidationFailed("window_days must be between 1 and 365.", field="window_days")
    if not 0.5 <= service_level < 1:
        raise ValidationFailed("service_level must be in [0.5, 1).", field="service_level")
    if not 0 <= review_days <= 90:
        raise ValidationFailed("review_days must be between 0 and 90.", field="review_days")
    now = now or timezone.now()
    since = now - timedelta(days=window_days)
    z = statistics.NormalDist().inv_cdf(service_level)
    candidates = StockLevel.objects.select_related("variant", "location").exclude(
        location__kind=StockLocation.Kind.DROP_SHIP
    )
    if location is not None:
        candidates = candidates.filter(location=location)
    levels = list(candidates.filter(location__is_active=True))
    if not levels:
        return []
    location_ids = {s.location_id for s in levels}
    daily: dict[tuple[int, int], list[int]] = defaultdict(list)
    sales = (
        StockMovement.objects.filter(
            kind=StockMovement.Kind.SALE,
            created_at__gte=since,
            created_at__lt=now,
            location_id__in=location_ids,
        )
        .annotate(day=TruncDate("created_at"))
        .values("variant_id", "location_id", "day")
        .annotate(units=-Sum("quantity"))
    )
    for row in sales:
        daily[(row["variant_id"], row["location_id"])].append(row["units"])
    offers = {
        o.variant_id: o
        for o in SupplierOffer.objects.filter(
            is_preferred=True, variant_id__in={s.variant_id for s in levels}, supplier__is_active=True
        ).select_related("supplier")
    }
    on_order: dict[tuple[int, int], int] = defaultdict(int)
    for row in (
        PurchaseOrderLine.objects.filter(
            purchase_order__status__in=OPEN_PO, purchase_order__location_id__in=location_ids
        )
        .values("variant_id", "purchase_order__location_id")
        .annotate(open=Sum(F("quantity") - F("received")))
    ):
        on_order[(row["variant_id"], row["purchase_order__location_id"])] += max(0, row["open"])
    suggestions, reorder_points = [], []
    for level in levels:
        offer = offers.get(level.variant_id)
        if offer is None:
            continue
        days = daily.get((level.variant_id, level.location_id), [])
        series = days + [0] * (window_days - len(days))
        mean = sum(series) / window_days
        stdev = statistics.pstdev(series)
        lead = max(1, offer.lead_time_days)
        safety = math.ceil(z * stdev * math.sqrt(lead))
        rop = math.ceil(mean * lead) + safety
        if level.reorder_point != rop:
            level.reorder_point = rop
            reorder_points.append(level)
        position = level.free + on_order[(level.variant_id, level.location_id)]
        if mean == 0 or position >= rop:
            continue
        need = math.ceil(rop + mean * review_days - position)
        suggestions.append(
            Suggestion(
                variant_id=level.variant_id,
                sku=level.variant.sku,
                location_id=level.location_id,
                location=level.location.code,
                supplier_id=offer.supplier_id,
                supplier=offer.supplier.code,
                daily_velocity=round(mean, 3),
                daily_stdev=round(stdev, 3),
                lead_time_days=lead,
                safety_stock=safety,
                reorder_point=rop,
                position=position,
                quantity=round_to_order(need, moq=offer.min_order_quantity, pack_size=offer.pack_size),
                unit_cost=offer.cost,
                currency=offer.currency,
                landed_unit_cost=offer_landed_unit_cost(offer),
            )
        )
    if reorder_points:
        StockLevel.objects.bulk_update(reorder_points, ["reorder_point"])
        open_low_stock_alerts(levels=reorder_points)
    return suggestions


def open_low_stock_alerts(*, levels: Sequence[StockLevel]) -> int:
    """Alerts for levels already under a newly computed reorder point (later crossings open them inline)."""
    alerts = [
        LowStockAlert(
            variant_id=s.variant_id, location_id=s.location_id, free=s.free, reorder_point=s.reorder_point
        )
        for s in levels
        if s.reorder_point is not None and s.free < s.reorder_point
    ]
    LowStockAlert.objects.bulk_create(alerts, ignore_conflicts=True)
    return len(alerts)


def create_replenishment_orders(
    *,
    location: StockLocation | None = None,
    window_days: int = 28,
    service_level: float = 0.95,
    actor: str = "",
) -> list[PurchaseOrder]:
    """Draft purchase orders for everything under its reorder point, one per (supplier, location) — and
    per currency, in the rare case one supplier's offers are in several.

    Running it twice does not order twice: the first run's drafts count as on order.
    """
    with transaction.atomic():
        suggestions = suggest_replenishment(
            location=location, window_days=window_days, service_level=service_level
        )
        groups: dict[tuple[int, int, str], list[Suggestion]] = defaultdict(list)
        for s in suggestions:
            groups[(s.supplier_id, s.location_id, s.currency)].append(s)
        orders = []
        for (supplier_id, location_id, currency), items in sorted(groups.items()):
            order = _new_order(
                supplier_id=supplier_id,
                location_id=location_id,
                currency=currency,
                actor=actor,
                note="Replenishment suggestion",
            )
            PurchaseOrderLine.objects.bulk_create(
                [
                    PurchaseOrderLine(
                        purchase_order=order,
                        variant_id=s.variant_id,
                        quantity=s.quantity,
                        unit_cost=s.unit_cost,
                        landed_unit_cost=s.landed_unit_cost,
                    )
                    for s in items
                ]
            )
            orders.append(order)
    return orders


def _new_order(
    *, supplier_id: int, location_id: int, currency: str, actor: str, note: str = ""
) -> PurchaseOrder:
    order = PurchaseOrder.objects.create(
        # A placeholder until the id is known; short whatever the ids (the column holds 30 characters).
        number=f"tmp-{uuid.uuid4().hex[:24]}",
        supplier_id=supplier_id,
        location_id=location_id,
        currency=currency,
        created_by=actor,
        note=note,
    )
    order.number = f"PO-{order.pk:06d}"
    order.save(update_fields=["number"])
    return order


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_cost: Decimal | None = None  # default: the supplier's offer


def create_purchase_order(
    *,
    supplier: Supplier,
    location: StockLocation,
    lines: Sequence[OrderLine],
    note: str = "",
    actor: str = "",
) -> PurchaseOrder:
    """A draft purchase order typed in by a buyer, in the supplier's currency. A line without a unit cost
    takes the supplier's offer's; every line lands at its unit cost plus the offer's freight and duty (an
    offer in another currency than the order's is refused rather than mixed in)."""
    if not lines:
        raise ValidationFailed("At least one line is needed.", field="lines")
    seen = set()
    for i, line in enumerate(lines):
        check_quantity(line.quantity, field=f"lines[{i}].quantity")
        if line.sku in seen:
            raise DuplicateLine(f"SKU '{line.sku}' appears twice.", field=f"lines[{i}].sku")
        seen.add(line.sku)
        if line.unit_cost is not None and line.unit_cost < 0:
            raise ValidationFailed("unit_cost cannot be negative.", field=f"lines[{i}].unit_cost")
    variants = variants_by_sku((x.sku for x in lines), field="lines")
    offers = {
        o.variant_id: o
        for o in SupplierOffer.objects.filter(supplier=supplier, variant__in=variants.values())
    }
    rows = []
    for i, line in enumerate(lines):
        variant: Variant = variants[line.sku]
        cost, landed = line_costs(
            offer=offers.get(variant.pk),
            unit_cost=line.unit_cost,
            currency=supplier.currency,
            sku=line.sku,
            field=f"lines[{i}].unit_cost",
        )
        rows.append((variant, line.quantity, cost, landed))
    with transaction.atomic():
        order = _new_order(
            supplier_id=supplier.pk,
            location_id=location.pk,
            currency=supplier.currency,
            actor=actor,
            note=note,
        )
        PurchaseOrderLine.objects.bulk_create(
            [
                PurchaseOrderLine(
                    purchase_order=order, variant=v, quantity=q, unit_cost=c, landed_unit_cost=lc
                )
                for v, q, c, lc in rows
            ]
        )
    return order


def line_costs(
    *,
    offer: SupplierOffer | None,
    unit_cost: Decimal | None,
    currency: str,
    sku: str,
    field: str = "unit_cost",
) -> tuple[Decimal, Decimal]:
    """(unit cost, landed unit cost) of a purchase order line in `currency`: the cost typed in, or else the
    supplier's offer's; landed = that cost + the offer's freight a unit + its duty % of the cost. An offer in
    another currency is refused (`currency_mismatch`) when its cost or its freight and duty would be used."""
    if offer is not None and offer.currency != currency:
        if unit_cost is None or offer.freight_per_unit or offer.duty_percent:
            raise CurrencyMismatch(
                f"The supplier's offer for {sku} is in {offer.currency}, the order in {currency}; give the "
                f"unit cost in {currency} and correct the offer.",
                field=field,
                expected=currency,
                got=offer.currency,
            )
        offer = None  # a cost typed in the order's currency; nothing of the offer lands on it
    if unit_cost is None:
        if offer is None:
            raise NoSupplierOffer(f"The supplier has no offer for {sku}; give unit_cost.", field=field)
        unit_cost = offer.cost
    if offer is None:
        return unit_cost, unit_cost
    landed = landed_unit_cost(
        cost=unit_cost, freight_per_unit=offer.freight_per_unit, duty_percent=offer.duty_percent
    )
    return unit_cost, landed


def costs_for_draft_line(
    *, order: PurchaseOrder, variant: Variant, unit_cost: Decimal, field: str = "unit_cost"
) -> tuple[Decimal, Decimal]:
    """`line_costs` for a line added to or changed on a draft by hand (the admin's order screen)."""
    offer = SupplierOffer.objects.filter(supplier_id=order.supplier_id, variant=variant).first()
    return line_costs(offer=offer, unit_cost=unit_cost, currency=order.currency, sku=variant.sku, field=field)


def change_draft_quantities(*, order: PurchaseOrder, quantities: dict[str, int]) -> PurchaseOrder:
    """Change the ordered quantity of lines (by SKU) while the order is still a draft; a sent order is the
    supplier's contract and changes only by cancelling it."""
    if not quantities:
        raise ValidationFailed("Name at least one line to change.", field="lines")
    for sku, quantity in quantities.items():
        check_quantity(quantity, field=f"lines[{sku}].quantity")
    with transaction.atomic():
        locked = PurchaseOrder.objects.select_for_update().get(pk=order.pk)
        if locked.status != PurchaseOrder.Status.DRAFT:
            raise InvalidTransition(
                f"A {locked.status} purchase order cannot be edited.", field="status", state=locked.status
            )
        lines = {x.variant.sku: x for x in locked.lines.select_related("variant")}
        changed = []
        for sku, quantity in quantities.items():
            line = lines.get(sku)
            if line is None:
                raise ValidationFailed(
                    f"{sku} is not on purchase order {locked.number}.", field=f"lines[{sku}].sku", sku=sku
                )
            if line.quantity != quantity:
                line.quantity = quantity
                changed.append(line)
        PurchaseOrderLine.objects.bulk_update(changed, ["quantity"])
    return locked


_TRANSITIONS = {
    "send": ({PurchaseOrder.Status.DRAFT}, PurchaseOrder.Status.SENT),
    "cancel": ({PurchaseOrder.Status.DRAFT, PurchaseOrder.Status.SENT}, PurchaseOrder.Status.CANCELLED),
}


def _transition(order: PurchaseOrder, action: str) -> PurchaseOrder:
    allowed, target = _TRANSITIONS[action]
    now = timezone.now()
    extra = {"sent_at": now} if action == "send" else {"closed_at": now}
    updated = PurchaseOrder.objects.filter(pk=order.pk, status__in=allowed).update(status=target, **extra)
    order.refresh_from_db()
    if not updated:
        raise InvalidTransition(
            f"A {order.status} purchase order cannot be {action}{'t' if action == 'send' else 'led'}.",
            field="status",
            state=order.status,
        )
    return order


def send_purchase_order(*, order: PurchaseOrder) -> PurchaseOrder:
    return _transition(order, "send")


def cancel_purchase_order(*, order: PurchaseOrder) -> PurchaseOrder:
    """Only orders with nothing received may be cancelled."""
    return _transition(order, "cancel")


@dataclass(frozen=True)
class ReceiptLine:
    sku: str
    quantity: int
    key: str  # e.g. the delivery note line: receiving the same key twice books it once


def receive_purchase_order(
    *,
    order: PurchaseOrder,
    lines: Sequence[ReceiptLine],
    allow_over_receipt: bool = False,
    extra_charge: Decimal | None = None,
    actor: str = "",
) -> PurchaseOrder:
    """Book delivered goods: a receipt movement per new receipt line; repeats of a key are no-ops. Each
    receipt lands at its line's landed unit cost plus its share of `extra_charge` (the delivery's freight,
    clearance…, in the order's currency, spread over the new lines by value) and updates the stock's
    weighted-average cost; a stock valued in another currency refuses the whole delivery."""
    if not lines:
        raise ValidationFailed("At least one line is needed.", field="lines")
    charge = parse_extra_charge(extra_charge)
    keys = set()
    for i, line in enumerate(lines):
        check_quantity(line.quantity, field=f"lines[{i}].quantity")
        if not line.key or len(line.key) > 100:
            raise ValidationFailed(
                "Each receipt line needs a key of 1 to 100 characters.", field=f"lines[{i}].key"
            )
        if (line.sku, line.key) in keys:
            raise DuplicateLine(
                f"Receipt key '{line.key}' appears twice for {line.sku}.", field=f"lines[{i}].key"
            )
        keys.add((line.sku, line.key))
    with transaction.atomic():
        locked = PurchaseOrder.objects.select_for_update().get(pk=order.pk)
        if locked.status not in (PurchaseOrder.Status.SENT, PurchaseOrder.Status.PARTIALLY_RECEIVED):
            raise InvalidTransition(
                f"A {locked.status} purchase order cannot be received.", field="status", state=locked.status
            )
        po_lines = {x.variant.sku: x for x in locked.lines.select_related("variant")}
        done = set(
            PurchaseOrderReceipt.objects.filter(line__purchase_order=locked).values_list(
                "line__variant__sku", "key"
            )
        )
        todo = []
        for i, line in enumerate(lines):
            po_line = po_lines.get(line.sku)
            if po_line is None:
                raise ValidationFailed(
                    f"{line.sku} is not on purchase order {locked.number}.",
                    field=f"lines[{i}].sku",
                    sku=line.sku,
                )
            if (line.sku, line.key) in done:
                continue
            po_line.received += line.quantity
            if po_line.received > po_line.quantity and not allow_over_receipt:
                raise OverReceipt(
                    f"{line.sku}: {po_line.received} would be received, {po_line.quantity} ordered.",
                    field=f"lines[{i}].quantity",
                    sku=line.sku,
                    ordered=po_line.quantity,
                    received=po_line.received,
                )
            todo.append((po_line, line))
        shares = allocate_charge(charge, [(line.quantity, p.landed_unit_cost) for p, line in todo])
        booked = sorted(zip(todo, shares, strict=True), key=lambda item: item[0][0].variant_id)
        for (po_line, line), share in booked:
            movement = StockMovement.objects.create(
                variant_id=po_line.variant_id,
                location_id=locked.location_id,
                kind=StockMovement.Kind.RECEIPT,
                quantity=line.quantity,
                reason_code="purchase_order",
                reference_type="purchase_order",
                reference=locked.number,
                actor=actor,
            )
            landed = receipt_unit_cost(line_cost=po_line.landed_unit_cost, units=line.quantity, share=share)
            try:
                with transaction.atomic():
                    PurchaseOrderReceipt.objects.create(
                        line=po_line,
                        key=line.key,
                        quantity=line.quantity,
                        movement=movement,
                        extra_charge=share,
                        landed_unit_cost=landed,
                    )
            except IntegrityError:  # pragma: no cover - guarded by the PO row lock above
                raise InvalidTransition("Receipt line already booked.", field="lines") from None
            on_hand = add_on_hand(
                variant_id=po_line.variant_id, location_id=locked.location_id, quantity=line.quantity
            )
            revalue_on_receipt(
                variant_id=po_line.variant_id,
                location_id=locked.location_id,
                sku=line.sku,
                currency=locked.currency,
                units=line.quantity,
                unit_cost=landed,
                on_hand_after=on_hand,
            )
        PurchaseOrderLine.objects.bulk_update([p for p, _ in todo], ["received"])
        record_events(((p.variant_id, locked.location_id) for p, _ in todo), cause="receipt")
        complete = all(x.received >= x.quantity for x in po_lines.values())
        locked.status = PurchaseOrder.Status.RECEIVED if complete else PurchaseOrder.Status.PARTIALLY_RECEIVED
        if complete:
            locked.closed_at = timezone.now()
        locked.save(update_fields=["status", "closed_at"])
    return locked
