"""Shipping an order: one fulfilment per stock location, shipped with a carrier and tracking number.

Shipping calls inventory's `ship_allocation` for that location, which writes the sale movements; the order
lines count the units as fulfilled and the order moves to partially_fulfilled or fulfilled.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from omnishop.core.errors import InvalidTransition, NotFound, ValidationFailed
from omnishop.inventory import services as inventory

from ..models import Fulfilment, FulfilmentLine, Order, OrderAllocation, OrderLine
from ..states import event, transition
from .common import lock, new_token

SHIPPABLE = {Order.Status.PAID, Order.Status.PARTIALLY_FULFILLED}


def create_fulfilments(*, order: Order, actor: str) -> list[Fulfilment]:
    """Open a pending fulfilment for every (allocation, location) that still has units to ship."""
    with transaction.atomic():
        order = lock(order)
        if order.status not in SHIPPABLE:
            raise InvalidTransition(
                f"An order that is {order.status} cannot be fulfilled.", field="status", current=order.status
            )
        lines_by_variant = {x.variant_id: x for x in order.lines.all()}
        pending = set(
            Fulfilment.objects.filter(order=order, status=Fulfilment.Status.PENDING).values_list(
                "allocation_id", "location_id"
            )
        )
        created = []
        links = OrderAllocation.objects.filter(order=order, is_active=True, allocation__status="allocated")
        for link in links.select_related("allocation"):
            groups: dict[int, list] = {}
            for x in link.allocation.lines.all():
                if x.quantity > x.shipped:
                    groups.setdefault(x.location_id, []).append(x)
            for location_id, items in groups.items():
                if (link.allocation_id, location_id) in pending:
                    continue
                fulfilment = Fulfilment.objects.create(
                    order=order,
                    location_id=location_id,
                    allocation=link.allocation,
                    tracking_token=new_token(),
                )
                FulfilmentLine.objects.bulk_create(
                    [
                        FulfilmentLine(
                            fulfilment=fulfilment,
                            order_line=lines_by_variant[x.variant_id],
                            quantity=x.quantity - x.shipped,
                        )
                        for x in items
                    ]
                )
                created.append(fulfilment)
        if created:
            event(order, "fulfilments_created", actor=actor, after={"fulfilments": [f.pk for f in created]})
    return created


def get_fulfilment(fulfilment_id: int) -> Fulfilment:
    found = (
        Fulfilment.objects.select_related("order", "order__channel", "location")
        .filter(pk=fulfilment_id)
        .first()
    )
    if found is None:
        raise NotFound(f"No fulfilment {fulfilment_id}.", field="id")
    return found


def ship_fulfilment(
    *, fulfilment: Fulfilment, carrier: str, tracking_number: str, actor: str, parcels: int = 1
) -> Fulfilment:
    """The parcel left: sale movements in inventory, lines fulfilled, order partially or fully fulfilled.
    `parcels`: how many boxes went under the tracking number (kept on the timeline)."""
    if isinstance(parcels, bool) or not isinstance(parcels, int) or not 1 <= parcels <= 999:
        raise ValidationFailed("The number of parcels is a whole number from 1 to 999.", field="parcels")
    if not carrier or len(carrier) > 50:
        raise ValidationFailed("A carrier code of 1 to 50 characters is needed.", field="carrier")
    if len(tracking_number) > 100:
        raise ValidationFailed("The tracking number is at most 100 characters.", field="tracking_number")
    with transaction.atomic():
        order = lock(fulfilment.order)
        fulfilment = Fulfilment.objects.select_for_update().get(pk=fulfilment.pk)
        if fulfilment.status != Fulfilment.Status.PENDING:
            raise InvalidTransition(f"The fulfilment is {fulfilment.status}.", field="status")
        if order.status not in SHIPPABLE:
            raise InvalidTransition(f"An order that is {order.status} cannot ship.", field="status")
        inventory.ship_allocation(allocation=fulfilment.allocation, location=fulfilment.location, actor=actor)
        shipped_lines = list(fulfilment.lines.select_related("order_line"))
        for fl in shipped_lines:
            OrderLine.objects.filter(pk=fl.order_line_id).update(fulfilled=F("fulfilled") + fl.quantity)
        now = timezone.now()
        fulfilment.status = Fulfilment.Status.SHIPPED
        fulfilment.carrier, fulfilment.tracking_number = carrier, tracking_number
        fulfilment.tracking_status = "label_created"
        fulfilment.shipped_at = now
        fulfilment.save()
        event(
            order,
            "shipped",
            actor=actor,
            message=f"{carrier} {tracking_number}".strip(),
            after={
                "fulfilment": fulfilment.pk,
                "location": fulfilment.location.code,
                "carrier": carrier,
                "tracking_number": tracking_number,
                "parcels": parcels,
                "lines": [{"sku": fl.order_line.sku, "quantity": fl.quantity} for fl in shipped_lines],
            },
        )
        advance_fulfilment_status(order, actor=actor)
    return fulfilment


def advance_fulfilment_status(order: Order, *, actor: str) -> Order:
    lines = list(order.lines.all())
    open_units = sum(x.open_quantity for x in lines)
    shipped = sum(x.fulfilled for x in lines)
    if open_units and shipped >= open_units:
        return transition(order, Order.Status.FULFILLED, actor=actor)
    if shipped and order.status == Order.Status.PAID:
        return transition(order, Order.Status.PARTIALLY_FULFILLED, actor=actor)
    return order


def mark_delivered(*, fulfilment: Fulfilment, actor: str, at: datetime | None = None) -> Fulfilment:
    """The carrier delivered this parcel (`at`: when, by the carrier's event; a time before the shipment or
    in the future is clamped to them); when every parcel is delivered the order is delivered."""
    with transaction.atomic():
        order = lock(fulfilment.order)
        now = timezone.now()
        delivered_at = now if at is None else min(at, now)
        if fulfilment.shipped_at is not None:
            delivered_at = max(delivered_at, fulfilment.shipped_at)
        updated = Fulfilment.objects.filter(pk=fulfilment.pk, status=Fulfilment.Status.SHIPPED).update(
            status=Fulfilment.Status.DELIVERED, delivered_at=delivered_at, tracking_status="delivered"
        )
        fulfilment.refresh_from_db()
        if not updated:
            return fulfilment
        event(order, "delivered", actor=actor, after={"fulfilment": fulfilment.pk})
        undelivered = order.fulfilments.filter(
            status__in=[Fulfilment.Status.PENDING, Fulfilment.Status.SHIPPED]
        )
        if order.status == Order.Status.FULFILLED and not undelivered.exists():
            transition(order, Order.Status.DELIVERED, actor=actor)
    return fulfilment


def complete_order(*, order: Order, actor: str) -> Order:
    with transaction.atomic():
        return transition(lock(order), Order.Status.COMPLETED, actor=actor)
