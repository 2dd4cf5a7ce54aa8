"""What staff have to do next, read in a few bounded queries: the warehouse's orders to pick, pack and ship
per location, the open exception queue, recent returns (the desks' landing pages in the back-office)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Exists, F, OuterRef, Sum

from omnishop.inventory.models import StockLocation

from ..models import Fulfilment, Order, OrderAllocation, OrderException, ReturnRequest
from .fulfilment import SHIPPABLE


@dataclass(frozen=True)
class ToShip:
    number: str
    channel: str
    units: int
    since: datetime  # the fulfilment's creation, or the order's placing
    fulfilment_id: int | None = None  # None: ready to fulfil, no fulfilment opened yet


@dataclass
class LocationWork:
    code: str
    name: str
    to_pack: list[ToShip] = field(default_factory=list)  # open fulfilments: pick, pack and ship
    ready: list[ToShip] = field(default_factory=list)  # paid orders with allocated units no fulfilment covers

    @property
    def units(self) -> int:
        return sum(x.units for x in self.to_pack) + sum(x.units for x in self.ready)


def warehouse_worklist(*, limit: int = 50) -> list[LocationWork]:
    """Per stock location, oldest first: open fulfilments, then paid orders whose allocated units at that
    location no open fulfilment covers. Three queries whatever the number of orders; at most `limit` of each."""
    pending = (
        Fulfilment.objects.filter(status=Fulfilment.Status.PENDING, order__status__in=SHIPPABLE)
        .values(
            "pk", "location_id", "created_at", number=F("order__number"), channel=F("order__channel__code")
        )
        .annotate(units=Sum("lines__quantity"))
        .order_by("created_at", "pk")[:limit]
    )
    covered = Fulfilment.objects.filter(
        order=OuterRef("order_id"),
        location=OuterRef("allocation__lines__location_id"),
        status=Fulfilment.Status.PENDING,
    )
    ready = (
        OrderAllocation.objects.filter(
            is_active=True, allocation__status="allocated", order__status__in=SHIPPABLE
        )
        .values(
            location_id=F("allocation__lines__location_id"),
            number=F("order__number"),
            channel=F("order__channel__code"),
            placed=F("order__created_at"),
        )
        .annotate(units=Sum(F("allocation__lines__quantity") - F("allocation__lines__shipped")))
        .filter(units__gt=0)
        .exclude(Exists(covered))
        .order_by("placed", "number")[:limit]
    )
    pending_rows, ready_rows = list(pending), list(ready)
    ids = {row["location_id"] for row in pending_rows} | {row["location_id"] for row in ready_rows}
    by_location = {
        pk: LocationWork(code=code, name=name)
        for pk, code, name in StockLocation.objects.filter(pk__in=ids).values_list("pk", "code", "name")
    }
    for row in pending_rows:
        by_location[row["location_id"]].to_pack.append(
            ToShip(row["number"], row["channel"], row["units"] or 0, row["created_at"], row["pk"])
        )
    for row in ready_rows:
        by_location[row["location_id"]].ready.append(
            ToShip(row["number"], row["channel"], row["units"], row["placed"])
        )
    return sorted(by_location.values(), key=lambda work: work.code)


def open_exceptions(*, limit: int = 25) -> list[OrderException]:
    """The exception queue, oldest first: orders that need a person."""
    return list(
        OrderException.objects.filter(resolved_at__isnull=True)
        .select_related("order", "order__channel")
        .order_by("created_at", "pk")[:limit]
    )


def recent_returns(*, limit: int = 25) -> list[ReturnRequest]:
    """Returns newest first, those still waiting for a decision or the parcel before closed ones."""
    waiting = [ReturnRequest.Status.REQUESTED, ReturnRequest.Status.APPROVED]
    rows = list(
        ReturnRequest.objects.select_related("order", "order__channel").order_by("-created_at", "-pk")[
            : limit * 2
        ]
    )
    rows.sort(key=lambda r: r.status not in waiting)  # stable: newest first inside each group
    return rows[:limit]


def order_numbers_by_payment_reference(references: set[str]) -> dict[str, str]:
    """The order each payment reference belongs to (the first order of a split family), in one query."""
    numbers: dict[str, str] = {}
    rows = Order.objects.filter(payment_reference__in=references).order_by("pk")
    for reference, number in rows.values_list("payment_reference", "number"):
        numbers.setdefault(reference, number)
    return numbers
