"""Attributing a placed order's lines to the recommendations its shopper clicked (docs/recommendations.md
#performance): in the order's transaction, from the post_save of its `placed` timeline entry (connected in
RecommendationsConfig.ready, as the dashboard's rollups are). Kept out of `services/__init__` because it reads
orders' tables: search imports the recommendations' services and must not reach orders through them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from omnishop.orders.models import OrderLine

from ..models import Attribution, AttributionDay, Click
from .performance import attribution_days, current_visitor, upsert


def attribute_order(order, *, anonymous_id: str | None = None) -> int:
    """Attribute the lines of a just-placed order to the recommendations their shopper clicked (in the
    caller's transaction); returns the lines attributed. Without a customer or visitor id: no query."""
    anonymous_id = current_visitor() if anonymous_id is None else anonymous_id
    customer_id = order.customer_id
    if customer_id is None and not anonymous_id:
        return 0
    placed_at = order.created_at or timezone.now()
    who = Q()
    if customer_id is not None:
        who |= Q(customer_id=customer_id)
    if anonymous_id:
        who |= Q(anonymous_id=anonymous_id)
    clicks = list(
        Click.objects.filter(
            who,
            occurred_at__gte=placed_at - timedelta(days=attribution_days()),
            occurred_at__lte=placed_at,
        )
        .order_by("occurred_at", "pk")
        .values_list("pk", "product_id", "placement")
    )
    if not clicks:
        return 0
    last = {product_id: (pk, name) for pk, product_id, name in clicks}  # the last click of a product wins
    lines = [
        row
        for row in OrderLine.objects.filter(order_id=order.pk).values_list(
            "pk", "variant__product_id", "quantity", "line_total"
        )
        if row[1] in last
    ]
    if not lines:
        return 0
    day = placed_at.astimezone(UTC).date()
    rows = []
    totals: dict[str, list] = defaultdict(lambda: [0, Decimal(0)])
    for line_id, product_id, quantity, line_total in lines:
        click_id, name = last[product_id]
        rows.append(
            Attribution(
                order_id=order.pk,
                order_line_id=line_id,
                click_id=click_id,
                channel_id=order.channel_id,
                placement=name,
                product_id=product_id,
                day=day,
                currency=order.currency,
                quantity=quantity,
                revenue=line_total,
            )
        )
        totals[name][0] += quantity
        totals[name][1] += line_total
    with transaction.atomic(savepoint=False):
        if Attribution.objects.filter(order_id=order.pk).exists():
            return 0  # attributed before (a replayed entry): counted once
        Attribution.objects.bulk_create(rows)
        adapt = connection.ops.adapt_datefield_value
        upsert(
            AttributionDay,
            ("day", "channel_id", "placement", "currency"),
            ("orders", "units", "revenue"),
            [
                (adapt(day), order.channel_id, name, order.currency, 1, u, r)
                for name, (u, r) in totals.items()
            ],
        )
    return len(rows)


def on_order_event(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """post_save of orders.OrderEvent: a `placed` entry is written in the new order's transaction."""
    if created and not raw and instance.kind == "placed":
        attribute_order(instance.order)
