"""What each channel can sell, kept in memory per process for serving, and the counter that invalidates it.

Serving filters every precomputed list by "published on this channel, active product and variant". Asking the
database that for each call was most of its cost, so each process keeps one map per channel (product id →
title and variants) and rebuilds it when the channel's generation moved. Generations are rows of
`ServingGeneration`, raised after the commit of any outbox event that can change what a channel sells
(listing.changed, product.*, import.finished: `catalogue_changed`, registered with `core.outbox.on_emit`); the
process that wrote the change also drops its own map at once. A map older than SAFETY_SECONDS is rebuilt
anyway, for writes that bypass the outbox (raw SQL, a crash between commit and the counter's update).
Stock is not cached here: serving checks the availability of the few products it returns, live.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction

from omnishop.catalog.models import ChannelListing, Product, Variant

from ..models import ServingGeneration

SAFETY_SECONDS = 60.0
#: Outbox event types that can change what a channel sells (or a sellable product's title).
CATALOGUE_EVENTS = (
    "listing.changed",
    "product.created",
    "product.updated",
    "product.deleted",
    "import.finished",
)


@dataclass(frozen=True)
class SellableSet:
    generation: int
    expires: float
    titles: dict[int, str] = field(default_factory=dict)
    variants: dict[int, tuple[int, ...]] = field(default_factory=dict)


_sets: dict[str, SellableSet] = {}  # by channel code

_SQL = """
SELECT v.product_id, l.variant_id, l.title, p.title
FROM {listing} l
JOIN {variant} v ON v.id = l.variant_id
JOIN {product} p ON p.id = v.product_id
WHERE l.channel_id = %s AND l.is_published AND v.is_active AND p.is_active
ORDER BY l.variant_id
"""


def sellable_set(channel, generation: int) -> SellableSet:
    """The channel's published products at `generation` (built with one query when it moved)."""
    now = time.monotonic()
    cached = _sets.get(channel.code)
    if cached is not None and cached.generation == generation and cached.expires > now:
        return cached
    sql = _SQL.format(
        listing=ChannelListing._meta.db_table, variant=Variant._meta.db_table, product=Product._meta.db_table
    )
    titles: dict[int, str] = {}
    variants: dict[int, list[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [channel.pk])
        for product_id, variant_id, listing_title, product_title in cursor.fetchall():
            titles.setdefault(product_id, listing_title or product_title)
            variants.setdefault(product_id, []).append(variant_id)
    built = SellableSet(
        generation, now + SAFETY_SECONDS, titles, {p: tuple(vs) for p, vs in variants.items()}
    )
    _sets[channel.code] = built
    return built


def forget() -> None:
    """Drop every channel's map in this process (tests; activation of a version needs no such thing)."""
    _sets.clear()


def catalogue_changed(events: list[tuple[str, str]]) -> None:
    """Outbox listener: drop this process's maps of the channels concerned now, raise their generations after
    commit (a counter raised in the writer's transaction would lock one row per channel until it commits)."""
    scopes = {
        "" if kind.startswith("product.") else channel for kind, channel in events if kind in CATALOGUE_EVENTS
    }
    if not scopes:
        return
    if "" in scopes:
        _sets.clear()
    else:
        for scope in scopes:
            _sets.pop(scope, None)
    # robust: a failure to raise the counter is logged; it must not turn a committed change into an error
    transaction.on_commit(lambda: raise_generations(scopes), robust=True)


def raise_generations(scopes: Iterable[str]) -> None:
    """Move the counters of `scopes` on: every process rebuilds those channels' maps at its next call."""
    table = ServingGeneration._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        for scope in sorted(set(scopes)):
            cursor.execute(
                f"INSERT INTO {table} (scope, generation) VALUES (%s, 1) "
                f"ON CONFLICT (scope) DO UPDATE SET generation = {table}.generation + 1",
                [scope],
            )
