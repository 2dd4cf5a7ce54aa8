"""Product cards refreshed outside the catalogue's own writes (ADR 0059): late, and all at once.

A card's refresh skips a product that another open transaction holds and leaves it in
`storefront_productcard_waiting`; `refresh_late_cards` (a relay step) refreshes those products once nobody
holds them. `rebuild_cards` rebuilds every card (`omnishop rebuild_product_cards`). Both then advance the
sequence the storefront's catalogue version reads, after their commit, so that nothing cached from the cards
before is served after them. PostgreSQL only: SQLite has no cards.
"""

from __future__ import annotations

import time

from django.db import connection, transaction

_ANY_WAITING = "SELECT EXISTS (SELECT 1 FROM storefront_productcard_waiting)"
_TAKE = """
DELETE FROM storefront_productcard_waiting w
WHERE w.id IN (SELECT id FROM storefront_productcard_waiting ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
RETURNING w.product_id
"""


#: How often a relay looks for waiting products (seconds): a relay round runs every 20–80 ms under load, and a
#: product waits only when two transactions wrote it at once; looking every round cost 0.7 statements per
#: delivered event (bench/measure_relay_idle.py, 20 events/s).
LOOK_EVERY = 1.0
_next_look = 0.0


def relay_step() -> int:
    """The relay worker (OMNISHOP_RELAY_WORKERS): `refresh_late_cards` at most once per LOOK_EVERY seconds
    per process."""
    global _next_look
    now = time.monotonic()
    if now < _next_look:
        return 0
    _next_look = now + LOOK_EVERY
    return refresh_late_cards()


def refresh_late_cards(*, limit: int = 1000) -> int:
    """Refresh up to `limit` waiting products' cards (those still held elsewhere wait for the next round);
    returns how many products it refreshed."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:  # most rounds find nothing: one statement, no transaction
        cursor.execute(_ANY_WAITING)
        if not cursor.fetchone()[0]:
            return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_TAKE, [limit])
        products = sorted({row[0] for row in cursor.fetchall()})
        if products:
            cursor.execute("SELECT storefront_refresh_cards(%s::bigint[])", [products])
    if products:
        _advance_version()
    return len(products)


def rebuild_cards() -> int:
    """Every card again from the catalogue, for writes that went around the triggers; returns the count."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT storefront_rebuild_cards()")
        cursor.execute("SELECT count(*) FROM storefront_productcard")
        (count,) = cursor.fetchone()
    _advance_version()
    return count


def _advance_version() -> None:
    """After the commit: a catalogue version read before it still names the old cards."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('storefront_productcard_late_refreshes')")
