"""Available-to-promise per channel: Σ over the channel's locations of free stock (on_hand − allocated −
reserved), minus the channel's safety buffer, capped by its quota, never negative.

Computed on read from the stock levels, not from a denormalised per-(channel, variant) table: the figures are
always exact, and the reservation path does not have to update a second hot row per sale. The read is one
indexed query (unique (variant, location) index; a channel has a handful of locations), which is what the
storefront needs for 20 products per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db.models import F, Max, Q, Sum

from omnishop.catalog.models import Variant
from omnishop.channels.models import Channel
from omnishop.core.dbrouting import read_connection
from omnishop.core.pagination import PageResult, paginate

from ..models import ChannelInventoryPolicy, ChannelLocation, StockLevel, StockLocation
from .locations import get_policy
from .taking import atp

_SQL = """
SELECT sl.variant_id, SUM(sl.on_hand - sl.allocated - sl.reserved),
       MAX(p.safety_buffer), MAX(p.quota_percent), MAX(p.quota_minus)
FROM {cl} cl
JOIN {loc} loc ON loc.id = cl.location_id AND loc.is_active
JOIN {sl} sl ON sl.location_id = cl.location_id
LEFT JOIN {pol} p ON p.channel_id = cl.channel_id
WHERE cl.channel_id = %s AND sl.variant_id {match}
GROUP BY sl.variant_id
"""


# The same promise computed by the database, for a statement that reads it alongside other rows (the
# storefront's page, ADR 0057): `atp` below in SQL. Tested equal to availability_for on random stock and policies.
_SELLABLE_SQL = """
SELECT f.variant_id, GREATEST(0, CASE WHEN f.quota_percent IS NULL THEN f.free - f.buffer
    ELSE LEAST(f.free - f.buffer, FLOOR(f.free * f.quota_percent / 100.0)::bigint - f.quota_minus) END) AS available
FROM (SELECT sl.variant_id, SUM(sl.on_hand - sl.allocated - sl.reserved) AS free,
             COALESCE(MAX(pol.safety_buffer), 0) AS buffer, MAX(pol.quota_percent) AS quota_percent,
             COALESCE(MAX(pol.quota_minus), 0) AS quota_minus
      FROM {cl} cl
      JOIN {loc} loc ON loc.id = cl.location_id AND loc.is_active
      JOIN {sl} sl ON sl.location_id = cl.location_id
      LEFT JOIN {pol} pol ON pol.channel_id = cl.channel_id
      WHERE cl.channel_id = {channel} AND sl.variant_id {match}
      GROUP BY sl.variant_id) f"""


def sellable_sql(*, channel: str, match: str) -> str:
    """A SELECT of (variant_id, available) — what availability_for answers — for embedding in a statement.

    `channel` is an SQL expression for the channel's id and `match` the condition on `sl.variant_id`
    (e.g. `= ANY(page.variant_ids)`); both are the caller's SQL text, never a value from a request. Variants
    without stock in the channel's locations have no row (availability_for's 0).
    """
    return _SELLABLE_SQL.format(**_tables(), channel=channel, match=match)


def _tables() -> dict[str, str]:
    return {
        "cl": ChannelLocation._meta.db_table,
        "loc": StockLocation._meta.db_table,
        "sl": StockLevel._meta.db_table,
        "pol": ChannelInventoryPolicy._meta.db_table,
    }


@lru_cache(maxsize=64)
def _sql(match: str) -> str:
    return _SQL.format(**_tables(), match=match)


def availability_for(*, channel: Channel, variant_ids: Iterable[int]) -> dict[int, int]:
    """Units `channel` may promise for each variant (0 for variants without stock). One query."""
    ids = list(dict.fromkeys(int(v) for v in variant_ids))
    result = dict.fromkeys(ids, 0)
    if not ids:
        return result
    connection = read_connection()  # the primary unless the caller marked its reads for the replica
    params: list[Any]
    if connection.vendor == "postgresql":
        # One array parameter: one statement text whatever the number of variants (prepared once per
        # connection), and no per-placeholder query conversion in the driver (a page has ~60 variants).
        sql, params = _sql("= ANY(%s)"), [channel.pk, ids]
    else:
        sql, params = _sql(f"IN ({', '.join(['%s'] * len(ids))})"), [channel.pk, *ids]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for variant_id, free, buffer, quota_percent, quota_minus in cursor.fetchall():
            result[variant_id] = atp(
                int(free),
                safety_buffer=buffer or 0,
                quota_percent=quota_percent,
                quota_minus=quota_minus or 0,
            )
    return result


@dataclass(frozen=True)
class Availability:
    variant_id: int
    sku: str
    available: int
    updated_at: datetime | None
    locations: list[dict]


def availability_of(*, channel: Channel, variant: Variant) -> Availability:
    """One SKU's promise for a channel, with the free units per location behind it."""
    links = list(
        ChannelLocation.objects.filter(channel=channel, location__is_active=True)
        .select_related("location")
        .order_by("priority")
    )
    levels = {
        s.location_id: s
        for s in StockLevel.objects.filter(variant=variant, location_id__in=[x.location_id for x in links])
    }
    policy = get_policy(channel=channel)
    return Availability(
        variant_id=variant.pk,
        sku=variant.sku,
        available=atp(
            sum(s.free for s in levels.values()),
            safety_buffer=policy.safety_buffer,
            quota_percent=policy.quota_percent,
            quota_minus=policy.quota_minus,
        ),
        updated_at=max((s.updated_at for s in levels.values()), default=None),
        locations=[
            {
                "location": x.location.code,
                "free": levels[x.location_id].free if x.location_id in levels else 0,
                "ships_to_customers": x.location.ships_to_customers,
                "serves_pickup": x.location.serves_pickup,
            }
            for x in links
        ],
    )


FEED_ORDERINGS = ("id",)


def availability_feed(
    *,
    channel: Channel,
    updated_since: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
    ordering: str = "id",
) -> tuple[PageResult, dict[int, int]]:
    """The channel's whole catalogue of stock, or what changed since `updated_since`, a page at a time.

    Returns the page of variants (annotated with `stock_updated_at`) and their available-to-promise.
    """
    location_ids = list(
        ChannelLocation.objects.filter(channel=channel, location__is_active=True).values_list(
            "location_id", flat=True
        )
    )
    in_channel = Q(stock_levels__location_id__in=location_ids)
    qs = (
        Variant.objects.filter(in_channel)
        .annotate(
            stock_updated_at=Max("stock_levels__updated_at", filter=in_channel),
            free=Sum(
                F("stock_levels__on_hand") - F("stock_levels__allocated") - F("stock_levels__reserved"),
                filter=in_channel,
            ),
        )
        .values("id", "sku", "stock_updated_at", "free")
    )
    if updated_since is not None:
        qs = qs.filter(stock_updated_at__gt=updated_since)
    page = paginate(qs, cursor=cursor, limit=limit, ordering=ordering, allowed=FEED_ORDERINGS)
    policy = get_policy(channel=channel)
    figures = {
        row["id"]: atp(
            int(row["free"] or 0),
            safety_buffer=policy.safety_buffer,
            quota_percent=policy.quota_percent,
            quota_minus=policy.quota_minus,
        )
        for row in page.items
    }
    return page, figures
