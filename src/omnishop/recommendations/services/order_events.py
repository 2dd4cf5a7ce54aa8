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

from django.db import transaction
from django.utils import timezone

from omnishop.customers import services as customer_services
from omnishop.orders.models import Order

from ..models import Event
from .events import MAX_BATCH, record_events

logger = logging.getLogger(__name__)

SOURCE = "orders"
# Orders that are no purchase (any more) by the time the listener runs.
NOT_PURCHASES = frozenset({Order.Status.CANCELLED, Order.Status.MERGED})


def guest_identity(order: Order) -> str:
    """A guest order's lines are one anonymous basket: still co-purchase signal, never a person."""
    return f"order:{order.number}"


def record_order_purchases(order: Order) -> int:
    """Write the purchase events of a paid order that are not written yet; returns how many were written."""
    with transaction.atomic():
        # The row lock serialises two listeners of one order (two workers, a retried webhook).
        locked = (
            Order.objects.select_for_update(of=("self",))
            .select_related("channel")
            .filter(pk=order.pk)
            .first()
        )
        if locked is None or locked.status in NOT_PURCHASES:
            return 0
        order = locked
        paid_at = first_paid_at(order)
        lines = [line for line in order.lines.select_related("variant") if line.open_quantity > 0]
        done = set(
            Event.objects.filter(
                channel=order.channel,
                kind=Event.Kind.PURCHASE,
                source=SOURCE,
                occurred_at=paid_at,
                variant_id__in=[line.variant_id for line in lines],
            ).values_list("variant_id", flat=True)
        )
        customer = customer_services.active(order.customer) if order.customer is not None else None
        events = []
        for line in lines:
            if line.variant_id in done:
                continue
            raw = {
                "kind": Event.Kind.PURCHASE,
                # Both ids: record_events resolves a product only from product_id (a variant alone is refused).
                "product_id": line.variant.product_id,
                "variant_id": line.variant_id,
                "quantity": line.open_quantity,
                "occurred_at": paid_at,
            }
            if customer is None:
                raw["anonymous_id"] = guest_identity(order)
            events.append(raw)
        written = 0
        for start in range(0, len(events), MAX_BATCH):
            result = record_events(
                channel=order.channel,
                events=events[start : start + MAX_BATCH],
                customer=customer,
                source=SOURCE,
            )
            written += result.accepted
            for rejection in result.rejected:
                logger.warning(
                    "purchase event of order %s not recorded: %s (%s)",
                    order.number,
                    rejection.code,
                    rejection.message,
                )
        return written


def sink(events) -> None:
    """Outbox sink: the purchases of every order an `order.paid` event of the batch names. One order's
    failure is logged and skipped (as the in-process listener did): it must neither hold back the batch's
    other sinks (webhooks, connectors) nor the other orders' purchases."""
    numbers = [event.aggregate_id for event in events if event.type == "order.paid"]
    if not numbers:
        return
    for order in Order.objects.filter(number__in=numbers).order_by("pk"):
        try:
            with transaction.atomic():  # a savepoint: a failure undoes this order's writes only
                record_order_purchases(order)
        except Exception:
            logger.exception("purchases of paid order %s not recorded", order.number)


def first_paid_at(order: Order) -> datetime:
    """When the order first became paid: placed paid, or its first move to `paid` on the timeline."""
    for entry in order.events.filter(kind__in=("placed", "status_changed")).order_by("created_at", "pk"):
        if (entry.after or {}).get("status") == Order.Status.PAID:
            return entry.created_at
    # A paid order always has that entry; an order without one counts from when it was placed.
    return order.created_at


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
