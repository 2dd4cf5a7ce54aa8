"""Late refreshes of product cards (ADR 0059, migration 0005), a relay step.

A card's refresh skips a product that another open transaction holds and leaves it in
`storefront_productcard_waiting`; `refresh_late_cards` refreshes those products once nobody holds them, then
advances the sequence the storefront's catalogue version reads, after its commit, so that nothing cached from
the card before is served after it.
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
    returns how many marks it took. PostgreSQL only (SQLite has no cards)."""
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
        with (
            connection.cursor() as cursor
        ):  # after the commit: a version read before it still names the old cards
            cursor.execute("SELECT nextval('storefront_productcard_late_refreshes')")
    return len(products)
