"""Reserving on PostgreSQL in ONE statement when the channel ships from one location (the common shop).

`taking.take()` needs two round trips: the plan query (SKUs, key, policy, free units of every candidate
location), then the take statement. When the channel has exactly one active shipping location the plan has
nothing to choose — every line comes from that location — so the plan's reads move into the take
statement itself:

- resolve the SKUs, the channel's one location and its policy (defaults when it has none);
- a snapshot check of every line's available-to-promise (after safety buffer and quota), as the plan does —
  a buyer who cannot be served is refused without locking anything;
- insert the reservation, its lines and the stock-changed marks (the same rows as `taking._TAKE_SQL`) —
  BEFORE any stock row is locked (ADR 0044), so a hot SKU's row is not held while they are written;
- lock the stock rows in (variant, location) order and check the available-to-promise again on the latest
  rows; if every line passes, add the quantities; if one fails (someone was faster between the snapshot and
  the lock), `omnishop_refuse_reservation()` raises and the whole statement — its inserts too — is undone.

The statement writes nothing and says so when it cannot decide alone (an unknown SKU, no or several
candidate locations, a custom allocation strategy, an existing reservation with the key, a concurrent twin
with the same key): the caller then runs the general path, which raises the precise error or replays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction

from ..models import (
    ChannelInventoryPolicy,
    ChannelLocation,
    LowStockAlert,
    Reservation,
    ReservationLine,
    StockEvent,
    StockLevel,
    StockLocation,
)
from .taking import LineRequest, insufficient, run_statement

# Strategies that, with one candidate location, take every line from it (a registered custom strategy
# might decide otherwise, so it always goes through the general path).
SINGLE_LOCATION_STRATEGIES = ("priority", "fewest_locations")

# The error the statement raises (migration inventory.0006) when the check on the locked rows fails after
# it wrote the reservation's rows: the statement, and so every row it wrote, is undone.
REFUSAL = "omnishop:insufficient_stock"


def _atp(free: str) -> str:
    """`taking.atp()` in SQL for one location's free units (`free` may be NULL: no stock row — PostgreSQL's
    GREATEST ignores a NULL argument, so it counts as 0)."""
    units = f"GREATEST({free}, 0)::bigint"
    return (
        f"GREATEST(0, LEAST({units} - pol.sb, "
        f"CASE WHEN pol.qp IS NULL THEN {units} ELSE ({units} * pol.qp) / 100 - pol.qm END))"
    )


_RESERVE_SQL = """
WITH line(ord, sku, qty) AS (VALUES {values}),
pol AS (
    SELECT COALESCE(p.reservation_ttl_seconds, %s) AS ttl, COALESCE(p.safety_buffer, %s) AS sb,
           p.quota_percent AS qp, COALESCE(p.quota_minus, %s) AS qm, COALESCE(p.allocation_strategy, %s) AS strategy
    FROM (SELECT 1) one LEFT JOIN {pol} p ON p.channel_id = %s
),
site AS (
    SELECT CASE WHEN COUNT(*) = 1 THEN MIN(cl.location_id) END AS location_id
    FROM {cl} cl JOIN {loc} loc ON loc.id = cl.location_id
    WHERE cl.channel_id = %s AND loc.is_active AND loc.ships_to_customers
),
want AS (
    SELECT line.ord, line.qty, v.id AS variant_id, site.location_id
    FROM line JOIN catalog_variant v ON v.sku = line.sku CROSS JOIN site
),
fit AS (
    SELECT (SELECT COUNT(*) FROM want) = {n}
       AND (SELECT location_id FROM site) IS NOT NULL
       AND (SELECT strategy FROM pol) IN ({strategies})
       AND NOT EXISTS (SELECT 1 FROM {holder} h WHERE h.channel_id = %s AND h.key = %s) AS yes
),
seen AS (
    SELECT w.ord, w.qty, {atp_seen} AS promised
    FROM want w CROSS JOIN pol
    LEFT JOIN {sl} s ON s.variant_id = w.variant_id AND s.location_id = w.location_id
),
pre AS (SELECT (SELECT yes FROM fit) AND COALESCE(BOOL_AND(promised >= qty), FALSE) AS go FROM seen),
head AS (
    INSERT INTO {holder} (channel_id, key, reference, status, expires_at, created_at)
    SELECT %s, %s, %s, 'active', %s::timestamptz + make_interval(secs => pol.ttl), %s
    FROM pol WHERE (SELECT go FROM pre)
    ON CONFLICT (channel_id, key) DO NOTHING
    RETURNING id, expires_at
),
line_rows AS (
    INSERT INTO {line_table} (reservation_id, variant_id, location_id, quantity)
    SELECT head.id, w.variant_id, w.location_id, w.qty FROM head, want w
    RETURNING 1
),
events AS (
    INSERT INTO {event_table} (variant_id, location_id, cause, created_at)
    SELECT w.variant_id, w.location_id, 'reserved', %s FROM head, want w
    RETURNING 1
),
written AS (SELECT (SELECT COUNT(*) FROM line_rows) + (SELECT COUNT(*) FROM events) = 2 * {n} AS yes),
{take}
alerts AS (
    INSERT INTO {alert_table} (variant_id, location_id, free, reorder_point, created_at)
    SELECT variant_id, location_id, free, reorder_point, %s FROM upd
    WHERE reorder_point IS NOT NULL AND free < reorder_point AND free + qty >= reorder_point
    ON CONFLICT DO NOTHING
)
SELECT (SELECT id FROM head), (SELECT expires_at FROM head), (SELECT yes FROM fit), (SELECT go FROM pre),
       (SELECT ARRAY[ord, promised] FROM seen WHERE promised < qty ORDER BY ord LIMIT 1),
       {refuse},
       (SELECT COUNT(*) FROM upd)
"""

# Several lines: lock the rows in (variant, location) order first (no deadlock between two multi-line
# reservations), check every line on the latest rows, then update them all or none.
_TAKE_MANY = """
locked AS (
    SELECT s.id, s.variant_id, s.location_id, w.ord, w.qty, {atp_locked} AS promised
    FROM {sl} s JOIN want w ON s.variant_id = w.variant_id AND s.location_id = w.location_id CROSS JOIN pol
    WHERE (SELECT yes FROM written)
    ORDER BY s.variant_id, s.location_id
    FOR UPDATE OF s
),
ok AS (SELECT COUNT(*) FILTER (WHERE promised >= qty) = {n} AS go FROM locked),
upd AS (
    UPDATE {sl} s SET reserved = s.reserved + l.qty, updated_at = %s
    FROM locked l WHERE s.id = l.id AND (SELECT go FROM ok)
    RETURNING s.variant_id, s.location_id, s.on_hand - s.allocated - s.reserved AS free, s.reorder_point, l.qty
),"""
_REFUSE_MANY = "(SELECT omnishop_refuse_reservation(ord, promised) FROM locked WHERE promised < qty ORDER BY ord LIMIT 1)"

# One line (ADR 0047): nothing to order, so the conditional UPDATE takes the row lock itself, as the raw
# baseline does — PostgreSQL re-checks its WHERE on the latest row version once the lock is granted — instead
# of a `FOR UPDATE` first (a lock record in the WAL, a second look-up of the row, both inside the lock). Only
# when it updated nothing (a faster buyer committed in between) is the row locked to read what is left for
# the refusal, which undoes the statement.
_TAKE_ONE = """
upd AS (
    UPDATE {sl} s SET reserved = s.reserved + w.qty, updated_at = %s
    FROM want w CROSS JOIN pol
    WHERE s.variant_id = w.variant_id AND s.location_id = w.location_id AND (SELECT yes FROM written)
      AND {atp_locked} >= w.qty
    RETURNING s.variant_id, s.location_id, s.on_hand - s.allocated - s.reserved AS free, s.reorder_point, w.qty
),
late AS (
    SELECT s.on_hand - s.allocated - s.reserved AS f
    FROM {sl} s JOIN want w ON s.variant_id = w.variant_id AND s.location_id = w.location_id
    WHERE (SELECT yes FROM written) AND NOT EXISTS (SELECT 1 FROM upd)
    FOR UPDATE OF s
),"""
_REFUSE_ONE = (
    "(SELECT omnishop_refuse_reservation(0, {atp_late}) FROM pol"
    " WHERE (SELECT yes FROM written) AND NOT EXISTS (SELECT 1 FROM upd))"
)

_DEFAULTS = ChannelInventoryPolicy()
_SQL_BY_LINES: dict[int, str] = {}


def _sql(lines: int) -> str:
    """The statement for `lines` lines, its whitespace collapsed: psycopg parses a statement's placeholders
    again at every call unless it is at most 4,096 bytes long (`MAX_CACHED_STATEMENT_LENGTH`); the one-line
    statement is below that (≈ 0.1 ms of client CPU a reservation)."""
    sql = _SQL_BY_LINES.get(lines)
    if sql is None:
        take, refuse = (_TAKE_ONE, _REFUSE_ONE) if lines == 1 else (_TAKE_MANY, _REFUSE_MANY)
        sql = (
            _RESERVE_SQL.replace("{take}", take)
            .replace("{refuse}", refuse)
            .format(
                values=", ".join(["(%s::integer, %s::text, %s::integer)"] * lines),
                n=lines,
                strategies=", ".join(f"'{s}'" for s in SINGLE_LOCATION_STRATEGIES),
                pol=ChannelInventoryPolicy._meta.db_table,
                cl=ChannelLocation._meta.db_table,
                loc=StockLocation._meta.db_table,
                holder=Reservation._meta.db_table,
                sl=StockLevel._meta.db_table,
                line_table=ReservationLine._meta.db_table,
                event_table=StockEvent._meta.db_table,
                alert_table=LowStockAlert._meta.db_table,
                atp_seen=_atp("s.on_hand - s.allocated - s.reserved"),
                atp_locked=_atp("s.on_hand - s.allocated - s.reserved"),
                atp_late=_atp("(SELECT f FROM late)"),
            )
        )
        sql = _SQL_BY_LINES[lines] = " ".join(sql.split())  # no string literal in it holds whitespace
    return sql


@dataclass(frozen=True)
class Reserved:
    pk: int
    expires_at: datetime


def reserve_in_one_statement(
    *, channel_id: int, lines: Sequence[LineRequest], key: str, reference: str, now: datetime
) -> Reserved | None:
    """The reservation written, or None when the general path must decide; raises `insufficient_stock`.

    PostgreSQL only; `lines` are checked (`taking.check_lines`) by the caller."""
    assert connection.vendor == "postgresql"
    params: list = []
    for ord_, line in enumerate(lines):
        params += [ord_, line.sku, line.quantity]
    params += [
        _DEFAULTS.reservation_ttl_seconds,
        _DEFAULTS.safety_buffer,
        _DEFAULTS.quota_minus,
        _DEFAULTS.allocation_strategy,
        channel_id,  # pol
        channel_id,  # site
        channel_id,  # fit: an earlier reservation with the key
        key,
        channel_id,  # head
        key,
        reference,
        now,
        now,
        now,  # upd
        now,  # events
        now,  # alerts
    ]
    import psycopg

    try:
        pk, expires_at, fit, pre, short, _refused, _updated = run_statement(_sql(len(lines)), params)
    except psycopg.errors.RaiseException as exc:
        refused = _refusal(exc)
        if refused is None:
            raise
        if connection.in_atomic_block:  # the statement failed inside the caller's transaction
            transaction.set_rollback(True)
        index, available = refused
        raise insufficient(lines[index].sku, lines[index].quantity, available) from None
    if pk is not None:
        return Reserved(pk, expires_at)
    if fit and not pre and short is not None:
        line = lines[short[0]]
        raise insufficient(line.sku, line.quantity, short[1])
    return None  # cannot decide alone, or a twin with the same key won: the general path replays


def _refusal(exc) -> tuple[int, int] | None:
    """(line index, units promised) when `exc` is the statement's own refusal on the locked rows."""
    if exc.diag.message_primary != REFUSAL:
        return None
    index, available = (exc.diag.message_detail or "").split(",")
    return int(index), int(available)
