"""What each channel can sell, kept in memory per process for serving, and the counter that invalidates it.

Serving filters every precomputed list by "published on this channel, active product and variant". Asking the
database that for each call was most of its cost, so each process keeps one map per channel (product id →
title and variants) and rebuilds it when the channel's generation moved. Generations are rows of
`ServingGeneration`, raised by the outbox relay when it fans out an event that can change what a channel sells
(listing.changed, product.*, import.finished: `sink`, in settings.OMNISHOP_OUTBOX_SINKS, one statement per
relay batch); the process that wrote the change drops its own map at once (`catalogue_changed`, registered
with `core.outbox.on_emit`). A map older than SAFETY_SECONDS is rebuilt anyway, for writes that bypass the
outbox (raw SQL). Until December 2026 every writer raised the counters after its own commit: one more
transaction, and one more lock on the shared row, per product or listing change (ADR 0050).
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


def _scopes(events: Iterable[tuple[str, str]]) -> set[str]:
    """The generation scopes that (type, channel) pairs move: "" for shared product data, else the channel."""
    return {
        "" if kind.startswith("product.") else channel for kind, channel in events if kind in CATALOGUE_EVENTS
    }


def catalogue_changed(events: list[tuple[str, str]]) -> None:
    """Outbox listener, in the writer's process: drop its maps of the channels concerned now (the other
    processes learn of the change from the generations that `sink` raises)."""
    scopes = _scopes(events)
    if "" in scopes:
        _sets.clear()
    else:
        for scope in scopes:
            _sets.pop(scope, None)


def sink(events) -> None:
    """Outbox sink: raise the generations of what the batch's events changed, once per batch."""
    scopes = _scopes((event.type, event.channel or "") for event in events)
    if scopes:
        raise_generations(scopes)


def raise_generations(scopes: Iterable[str]) -> None:
    """Move the counters of `scopes` on, in one statement (rows in one order: two relays never deadlock):
    every process rebuilds those channels' maps at its next call."""
    table = ServingGeneration._meta.db_table
    ordered = sorted(set(scopes))
    if not ordered:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (scope, generation) VALUES {', '.join(['(%s, 1)'] * len(ordered))} "
            f"ON CONFLICT (scope) DO UPDATE SET generation = {table}.generation + 1",
            ordered,
        )
