"""HTTP validators of the storefront's public read API: a per-channel catalogue version, read in one statement.

Every `/api/v1/storefront/{channel}/products[/{slug}]` answer of a channel carries the same ETag and
Last-Modified, derived from the *version* of what any of them can show — not from a rendered body — so a
conditional request that still matches is answered `304` after one cheap statement and before the page
and stock statements run. The version is a handful of maxima that indexes answer without scanning:

- the newest `updated_at` of products, variants and listings (each indexed): edits, prices, publication,
  images (an image change touches its product);
- the newest stock mark (`inventory_stockevent`, written in the same transaction as every stock booking):
  availability;
- the newest outbox event (`core_outboxevent`): deletions of listings, variants and products, which leave
  no newer `updated_at` behind;
- the channel row, its inventory policy and its stock locations, and a summary of the category tree;
- on PostgreSQL, the count of product cards refreshed late (after another transaction held their product).

Global maxima over-invalidate (a sale in one channel changes every channel's tag) but never miss a change
made through the services; ADR 0024 says why that trade, and what bounds the rare miss (a write committed
after a later one) — core.http_cache.version_validators' TTL bucket.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from django.apps import apps
from django.utils.dateparse import parse_datetime

import omnishop
from omnishop.core import http_cache
from omnishop.core.dbrouting import read_connection

from . import queries

# Bump when the API renders the same data differently (a field added, a format changed).
REPRESENTATION = 1

_STOCK = """
  (SELECT max(id) FROM inventory_stockevent),
  (SELECT created_at FROM inventory_stockevent ORDER BY id DESC LIMIT 1),
  (SELECT count(*) FROM inventory_channellocation cl WHERE cl.channel_id = ch.id),
  (SELECT sum(cl.location_id * 1000 + cl.priority) FROM inventory_channellocation cl WHERE cl.channel_id = ch.id),
  p.safety_buffer, p.quota_percent, p.quota_minus,"""
_POLICY = "LEFT JOIN inventory_channelinventorypolicy p ON p.channel_id = ch.id"

_VERSION_SQL = """
SELECT ch.updated_at,
  (SELECT max(updated_at) FROM catalog_product),
  (SELECT max(updated_at) FROM catalog_variant),
  (SELECT max(updated_at) FROM catalog_channellisting),{stock}
  (SELECT max(id) FROM core_outboxevent),
  (SELECT created_at FROM core_outboxevent ORDER BY id DESC LIMIT 1),
  (SELECT count(*) FROM catalog_category),
  (SELECT sum(length(path) + length(name) + position) FROM catalog_category){cards}
FROM channels_channel ch {policy}
WHERE ch.code = %s AND ch.is_active
"""


# PostgreSQL's product cards: a card refreshed late (another transaction held its product, ADR 0059) advances
# this sequence after its commit, with no newer `updated_at` behind.
_CARDS = (
    ",\n  (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM storefront_productcard_late_refreshes)"
)


@cache  # built on first use (the installed apps are fixed once the process runs)
def _version_sql(vendor: str) -> str:
    stock = apps.is_installed("omnishop.inventory")
    return _VERSION_SQL.format(
        stock=_STOCK if stock else "",
        policy=_POLICY if stock else "",
        cards=_CARDS if vendor == "postgresql" else "",
    )


def _aware(value) -> datetime | None:
    if isinstance(value, str):  # SQLite answers aggregates of datetimes as text
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def catalogue_validators(channel_code: str) -> http_cache.Validators | None:
    """ETag and Last-Modified of the channel's storefront resources; None for no such active channel
    (the request then answers its 404 as usual, uncached)."""
    connection = read_connection()
    with queries.prepared_statements(), connection.cursor() as cursor:
        cursor.execute(_version_sql(connection.vendor), [channel_code])
        row = cursor.fetchone()
    if row is None:
        return None
    bucket = http_cache.version_bucket()
    kept = _made.get(channel_code)
    if kept is not None and kept[0] == bucket and kept[1] == row:
        return kept[2]
    stamps = [stamp for stamp in map(_aware, row) if stamp is not None]
    last_modified = max(stamps, default=datetime(2000, 1, 1, tzinfo=UTC))
    parts = (omnishop.__version__, REPRESENTATION, channel_code, *map(str, row))
    validators = http_cache.version_validators(parts, last_modified=last_modified)
    _made[channel_code] = (bucket, row, validators)
    return validators


#: The last validators made per active channel, with the version row and TTL bucket they were made from: while
#: nothing changes, a request compares its row instead of parsing and hashing it again (a response-cache hit's
#: Python is mostly this function). Only channels that exist get an entry.
_made: dict[str, tuple[int, tuple, http_cache.Validators]] = {}
