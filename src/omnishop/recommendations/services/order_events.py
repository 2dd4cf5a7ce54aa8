"""Purchases from orders: one `purchase` event per order line when an order becomes paid.

Orders know nothing of recommendations: every path to `paid` announces `order.paid` in the outbox, and
`sink` (an outbox sink, settings.OMNISHOP_OUTBOX_SINKS) hears it from the relay, after the order's commit and
off the checkout's request (ADR 0036: purchases are at most one relay round late, ≈ 0.5 s). The relay may
hand the same event over again (a crash before it marks the batch dispatched), and an order may be paid more
than once (paid again after a hold), so `record_order_purchases` is idempotent: every event of an order
carries the time the order was FIRST paid (from the order's timeline), and a line whose (channel, variant,
that time) purchase from source "orders" already exists is not written again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from omnishop.channels.models import Channel
from omnishop.customers import services as customer_services
from omnishop.customers.models import Customer
from omnishop.orders.models import Order, OrderEvent, OrderLine

from ..models import Event
from .events import MAX_BATCH, record_events

logger = logging.getLogger(__name__)

SOURCE = "orders"
# Orders that are no purchase (any more) by the time the listener runs.
NOT_PURCHASES = frozenset({Order.Status.CANCELLED, Order.Status.MERGED})


class _Paid(NamedTuple):
    """The fields of an order its purchases need (read as values)."""

    pk: int
    number: str
    channel_id: int
    customer_id: int | None
    created_at: datetime
    status: str


def guest_identity(order: Order | _Paid) -> str:
    """A guest order's lines are one anonymous basket: still co-purchase signal, never a person."""
    return f"order:{order.number}"


def record_order_purchases(order: Order) -> int:
    """Write the purchase events of a paid order that are not written yet; returns how many were written."""
    return record_purchases(order_ids=[order.pk])


def record_purchases(*, order_ids) -> int:
    """`record_order_purchases` for many orders at once (a relay batch), with the same statements whatever
    their number: the orders locked together (in id order, so two batches lock in one order), their first-paid
    times, lines and already-written purchases read once each, one insert per (channel, customer). Rows are
    read as values, not model instances: a relay batch of checkouts spent 0.35 ms of CPU per order building
    them (bench/profile_checkout.py --relay)."""
    with transaction.atomic():
        # The row lock serialises two listeners of one order (two workers, a retried webhook).
        orders = [
            _Paid(*row)
            for row in Order.objects.select_for_update()
            .filter(pk__in=list(order_ids))
            .order_by("pk")
            .values_list("pk", "number", "channel_id", "customer_id", "created_at", "status")
            if row[5] not in NOT_PURCHASES
        ]
        if not orders:
            return 0
        paid = first_paid_times(orders)
        lines: dict[int, list[tuple[int, int, int]]] = {}  # order -> (variant, product, open quantity)
        for order_id, variant_id, product_id, quantity, cancelled in (
            OrderLine.objects.filter(order_id__in=[order.pk for order in orders])
            .order_by("pk")
            .values_list("order_id", "variant_id", "variant__product_id", "quantity", "cancelled")
        ):
            if quantity - cancelled > 0:
                lines.setdefault(order_id, []).append((variant_id, product_id, quantity - cancelled))
        done = set(
            Event.objects.filter(
                channel_id__in={order.channel_id for order in orders},
                kind=Event.Kind.PURCHASE,
                source=SOURCE,
                occurred_at__in=set(paid.values()),
                variant_id__in={line[0] for some in lines.values() for line in some},
            ).values_list("channel_id", "variant_id", "occurred_at")
        )
        channels = Channel.objects.in_bulk({order.channel_id for order in orders})
        customers = {
            pk: customer_services.active(customer)
            for pk, customer in Customer.objects.in_bulk(
                {order.customer_id for order in orders if order.customer_id is not None}
            ).items()
        }
        # (channel, customer) -> the events and, beside each, its order's number (for the log)
        groups: dict[tuple, tuple] = {}
        for order in orders:
            customer = customers.get(order.customer_id) if order.customer_id is not None else None
            key = (order.channel_id, customer.pk if customer is not None else None)
            _, _, events, numbers = groups.setdefault(key, (channels[order.channel_id], customer, [], []))
            for variant_id, product_id, quantity in lines.get(order.pk, ()):
                if (order.channel_id, variant_id, paid[order.pk]) in done:
                    continue
                raw = {
                    "kind": Event.Kind.PURCHASE,
                    # Both ids: record_events resolves a product only from product_id (a variant alone is
                    # refused).
                    "product_id": product_id,
                    "variant_id": variant_id,
                    "quantity": quantity,
                    "occurred_at": paid[order.pk],
                }
                if customer is None:
                    raw["anonymous_id"] = guest_identity(order)
                events.append(raw)
                numbers.append(order.number)
        written = 0
        for channel, customer, events, numbers in groups.values():
            for start in range(0, len(events), MAX_BATCH):
                result = record_events(
                    channel=channel,
                    events=events[start : start + MAX_BATCH],
                    customer=customer,
                    source=SOURCE,
                )
                written += result.accepted
                for rejection in result.rejected:
                    logger.warning(
                        "purchase event of order %s not recorded: %s (%s)",
                        numbers[start + rejection.index],
                        rejection.code,
                        rejection.message,
                    )
        return written


def sink(events) -> None:
    """Outbox sink: the purchases of every order an `order.paid` event of the batch names, all at once. If
    that fails, order by order, each failure logged and undone with its savepoint (as the in-process listener
    did): one order must neither hold back the batch's other sinks (webhooks, connectors) nor the other
    orders' purchases."""
    numbers = {event.aggregate_id for event in events if event.type == "order.paid"}
    if not numbers:
        return
    ids = list(Order.objects.filter(number__in=numbers).order_by("pk").values_list("pk", flat=True))
    try:
        with transaction.atomic():
            record_purchases(order_ids=ids)
        return
    except Exception:
        if len(ids) == 1:
            logger.exception("purchases of paid order %s not recorded", next(iter(numbers)))
            return
    for pk in ids:
        try:
            with transaction.atomic():  # a savepoint: a failure undoes this order's writes only
                record_purchases(order_ids=[pk])
        except Exception:
            logger.exception("purchases of paid order id %s not recorded", pk)


def first_paid_times(orders) -> dict[int, datetime]:
    """When each order (anything with `pk` and `created_at`) first became paid (one read): placed paid, or its
    first move to `paid`."""
    paid: dict[int, datetime] = {}
    entries = OrderEvent.objects.filter(
        order_id__in=[order.pk for order in orders], kind__in=("placed", "status_changed")
    ).order_by("order_id", "created_at", "pk")
    for order_id, after, created_at in entries.values_list("order_id", "after", "created_at"):
        if order_id not in paid and (after or {}).get("status") == Order.Status.PAID:
            paid[order_id] = created_at
    # A paid order always has that entry; an order without one counts from when it was placed.
    return {order.pk: paid.get(order.pk, order.created_at) for order in orders}


def first_paid_at(order: Order) -> datetime:
    """When the order first became paid: placed paid, or its first move to `paid` on the timeline."""
    return first_paid_times([order])[order.pk]


# -- imported history ----------------------------------------------------------------------------------------

HISTORY_SOURCE = "history"


def record_past_purchases(channel, orders) -> int:
    """Purchase events for past orders a data import recorded (`orders.services.on_past_orders_recorded`):
    a merchant moving its recent history to Omnishop gets personal recommendations from its first training.
    Written in bulk; orders older than the events' retention window are skipped (the purge would drop
    them). Called once per created order, so no event is written twice."""
    from omnishop.catalog.models import Variant
    from omnishop.core.bulk import insert_rows

    from .events import retention_days

    now = timezone.now()
    oldest = now - timedelta(days=retention_days())
    recent = [order for order in orders if order.occurred_at >= oldest]
    if not recent:
        return 0
    variant_ids = list({variant for order in recent for variant, _ in order.lines})
    products: dict[int, int] = {}
    for start in range(0, len(variant_ids), 5000):
        products.update(
            Variant.objects.filter(pk__in=variant_ids[start : start + 5000]).values_list("pk", "product_id")
        )
    rows: list[tuple] = [
        (
            channel.pk,
            Event.Kind.PURCHASE.value,
            order.customer_id,
            "" if order.customer_id else f"order:{order.number}",
            products[variant],
            variant,
            quantity,
            "",
            [],
            HISTORY_SOURCE,
            order.occurred_at,
            now,
        )
        for order in recent
        for variant, quantity in order.lines
        if variant in products and quantity > 0
    ]
    insert_rows(Event._meta.db_table, _EVENT_COLUMNS, rows)
    return len(rows)


_EVENT_COLUMNS = (
    "channel_id", "kind", "customer_id", "anonymous_id", "product_id", "variant_id", "quantity", "query",
    "result_ids", "source", "occurred_at", "received_at",
)  # fmt: skip
