"""Stock changes become `stock.availability_changed` outbox events, coalesced per SKU and channel.

Every stock booking writes a cheap mark (`StockEvent`: variant, location, cause) in its own transaction —
on the sale path that is one row in the same statement as the booking (services/taking.py). A relay worker
folds the marks: a SKU whose oldest unfolded mark is older than OMNISHOP_STOCK_EVENT_WINDOW gets one event
per channel that sells from the marked locations, carrying the channel's available-to-promise at fold time
(the latest figure, after buffers and quotas). Fifty sales of one SKU within the window are one event, and
the figure a channel receives is never older than the last mark. The marks are the queue feeding the one
outbox, not a second outbox: nothing delivers them to anyone.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from omnishop.catalog.models import Variant
from omnishop.channels.models import Channel
from omnishop.core import outbox

from ..models import ChannelLocation, StockEvent
from .availability import availability_for


def fold_stock_changes(*, limit: int = 2000, now: datetime | None = None) -> int:
    """Turn due stock marks into availability events; returns how many marks were folded."""
    now = now or timezone.now()
    due_before = now - timedelta(seconds=settings.OMNISHOP_STOCK_EVENT_WINDOW)
    unfolded = StockEvent.objects.filter(delivered_at__isnull=True).order_by("id")
    # A look without a transaction or locks first: most relay rounds find no mark, or only marks still inside
    # their window (one statement instead of BEGIN, a locking read and COMMIT on every round).
    if connection.vendor == "postgresql":  # plain SQL: compiling the ORM query cost more than running it
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT variant_id, created_at FROM inventory_stockevent WHERE delivered_at IS NULL "
                "ORDER BY id LIMIT %s",
                [limit],
            )
            oldest = cursor.fetchall()
    else:
        oldest = list(unfolded.values_list("variant_id", "created_at")[:limit])
    if not _first_due(oldest, due_before):
        return 0
    with transaction.atomic():
        marks = unfolded
        if connection.features.has_select_for_update_skip_locked:
            marks = marks.select_for_update(skip_locked=True)
        # The oldest marks, due or not (one statement): a relay loop learns when the first undue one is due.
        first = _first_due(list(marks.values_list("variant_id", "created_at")[:limit]), due_before)
        if not first:
            return 0
        variant_ids = set(first)
        # Every unfolded mark of those SKUs, the newest included: one event carries all of them.
        taken = list(marks.filter(variant_id__in=variant_ids).values_list("pk", "variant_id", "location_id"))
        locations_of: dict[int, set[int]] = defaultdict(set)
        for _, variant_id, location_id in taken:
            locations_of[variant_id].add(location_id)
        links = ChannelLocation.objects.filter(
            location_id__in={loc for locs in locations_of.values() for loc in locs}
        ).values_list("channel_id", "location_id")
        channels_of_location: dict[int, set[int]] = defaultdict(set)
        for channel_id, location_id in links:
            channels_of_location[location_id].add(channel_id)
        wanted: dict[int, set[int]] = defaultdict(set)  # channel -> variants to announce
        for variant_id, locations in locations_of.items():
            for location_id in locations:
                for channel_id in channels_of_location[location_id]:
                    wanted[channel_id].add(variant_id)
        skus = dict(Variant.objects.filter(pk__in=variant_ids).values_list("pk", "sku"))
        channels = {c.pk: c for c in Channel.objects.filter(pk__in=wanted, is_active=True)}
        # One round's events are written together when the block ends (one statement on PostgreSQL), not one
        # INSERT and one sequence upsert each: a busy relay folds hundreds of SKUs a round.
        with outbox.collected():
            for channel_id in sorted(wanted):
                channel = channels.get(channel_id)
                if channel is None:
                    continue
                figures = availability_for(channel=channel, variant_ids=sorted(wanted[channel_id]))
                for variant_id, available in figures.items():
                    if variant_id not in skus:  # deleted meanwhile
                        continue
                    emit_availability(
                        channel=channel, sku=skus[variant_id], variant_id=variant_id, available=available
                    )
        StockEvent.objects.filter(pk__in=[pk for pk, _, _ in taken]).update(delivered_at=now)
    return len(taken)


def _first_due(oldest: list[tuple[int, datetime]], due_before: datetime) -> list[int]:
    """The variants of the marks whose window has passed; a relay loop is told when the first other one's
    window ends."""
    undue = [created_at for _, created_at in oldest if created_at > due_before]
    if undue:
        outbox.wake_within((min(undue) - due_before).total_seconds())
    return [variant_id for variant_id, created_at in oldest if created_at <= due_before]


def emit_availability(*, channel: Channel, sku: str, variant_id: int, available: int) -> None:
    outbox.emit(
        "stock.availability_changed",
        aggregate_type="stock",
        aggregate_id=f"{channel.code}:{sku}",
        channel=channel.code,
        payload={
            "sku": sku,
            "variant_id": variant_id,
            "channel": channel.code,
            "available": available,
            "in_stock": available > 0,
        },
    )


def purge_folded(*, now: datetime | None = None, keep: timedelta = timedelta(days=1)) -> int:
    """Delete marks folded more than `keep` ago (unfolded marks are never deleted)."""
    now = now or timezone.now()
    deleted, _ = StockEvent.objects.filter(delivered_at__lt=now - keep).delete()
    return deleted
