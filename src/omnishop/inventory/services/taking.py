"""Taking stock for a holder (a reservation or an allocation): plan in one read, take in one write.

1. `plan()` — ONE query resolves the SKUs, finds an earlier holder with the same key (idempotency), reads
   the free units of every candidate location and the channel's policy; the channel's allocation strategy
   then decides which units come from where.
2. `take()` — on PostgreSQL ONE statement (autocommit, so it is its own transaction): lock the wanted
   stock rows in (variant, location) order, check every guard `free ≥ quantity` on the latest committed
   rows, and only if all pass insert the holder, its lines and the stock-changed events and add the
   quantities. A hot row is locked for exactly one statement and its commit — the same as a bare
   conditional UPDATE — and no buyer waits on another's Python code. Elsewhere (SQLite, whose writers are
   serialised anyway) the same steps run as ORM statements in one transaction.

A lost race (a guard false at write time) re-plans when the channel has other locations, else it is a
definite `insufficient_stock`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from omnishop.channels.models import Channel
from omnishop.core import statements
from omnishop.core.errors import ValidationFailed

from ..errors import ChannelHasNoLocations, DuplicateLine, InsufficientStock, UnknownLocation, UnknownSku
from ..models import (
    Allocation,
    AllocationLine,
    ChannelInventoryPolicy,
    ChannelLocation,
    LowStockAlert,
    Reservation,
    ReservationLine,
    StockEvent,
    StockLevel,
    StockLocation,
)
from .stock import FREE, Change, Raced, apply_changes, check_quantity, record_events
from .strategies import STRATEGIES, Candidate, Pick, Shortfall

PLAN_ATTEMPTS = 3


@dataclass(frozen=True)
class LineRequest:
    sku: str
    quantity: int


@dataclass
class Plan:
    picks: list[Pick]
    policy: ChannelInventoryPolicy
    strategy: str
    contested: bool  # more than one candidate location: a lost race is worth a re-plan
    variants: dict[str, int]  # sku -> variant id
    demand: dict[int, int]  # variant id -> quantity
    existing_id: int | None = None


@dataclass(frozen=True)
class HolderLink:
    """A row another context keeps about a new holder (an order's link to its allocation), written with
    the holder by the take's own statement: `table` gets `values` and the holder's id in `holder_column`.
    Not written when the take replays an existing holder (`Taken.linked` says which)."""

    table: str
    holder_column: str
    values: dict


@dataclass(frozen=True)
class Taken:
    pk: int
    plan: Plan
    at: datetime
    replay: bool = False
    head: dict | None = None  # the header's columns as written (None for a replay)
    linked: bool = False  # the HolderLink row was written with the holder


def run_statement(sql: str, params: list, *, many: bool = False):
    """Run one hot-path statement. On PostgreSQL it is a prepared statement with server-side parameters
    (planned once per connection, like the raw-SQL baseline) unless a transaction-mode pooler sits in
    between (OMNISHOP_DB_PREPARE, ADR 0031); elsewhere Django's cursor."""
    if connection.vendor == "postgresql":
        import psycopg

        connection.ensure_connection()
        # Django's own cursors bind client-side (psycopg.ClientCursor, which never prepares); a
        # server-side-binding cursor on the same connection (and transaction) with preparation allowed for
        # this one call does prepare. psycopg's own errors are kept (the reservation reads its RAISE).
        prepare = settings.OMNISHOP_DB_PREPARE
        with statements.preparing(prepare), psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, prepare=prepare)
            if connection.queries_logged:  # counted like Django's own statements (query-count tests)
                connection.queries_log.append({"sql": sql, "time": "0.000"})
            return cursor.fetchall() if many else cursor.fetchone()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if many else cursor.fetchone()


def atp(free: int, *, safety_buffer: int, quota_percent: int | None, quota_minus: int) -> int:
    """Available-to-promise for a channel from the free units of its locations."""
    promised = free - safety_buffer
    if quota_percent is not None:
        promised = min(promised, math.floor(free * quota_percent / 100) - quota_minus)
    return max(0, promised)


def check_lines(lines: Sequence[LineRequest]) -> None:
    if not lines:
        raise ValidationFailed("At least one line is needed.", field="lines")
    seen: set[str] = set()
    for i, line in enumerate(lines):
        check_quantity(line.quantity, field=f"lines[{i}].quantity")
        if line.sku in seen:
            raise DuplicateLine(
                f"SKU '{line.sku}' appears twice; send one line per SKU.", field=f"lines[{i}].sku"
            )
        seen.add(line.sku)


def insufficient(sku: str, requested: int, available: int) -> InsufficientStock:
    return InsufficientStock(
        f"Only {available} unit(s) of {sku} available; {requested} requested.",
        field="lines",
        sku=sku,
        requested=requested,
        available=available,
    )


Holder = type[Reservation] | type[Allocation]  # what a plan's units are held by
_HOLDERS: dict[Holder, tuple[str, str]] = {
    Reservation: ("key", Reservation._meta.db_table),
    Allocation: ("order_reference", Allocation._meta.db_table),
}

_PLAN_SQL = """
SELECT v.id, v.sku, cl.location_id, loc.code, loc.kind, cl.priority, loc.is_active, loc.ships_to_customers,
       loc.serves_pickup, sl.on_hand - sl.allocated - sl.reserved,
       p.reservation_ttl_seconds, p.safety_buffer, p.quota_percent, p.quota_minus, p.allocation_strategy,
       p.max_hold_seconds,
       (SELECT h.id FROM {holder} h WHERE h.channel_id = %s AND h.{key_column} = %s)
FROM catalog_variant v
LEFT JOIN {cl} cl ON cl.channel_id = %s
LEFT JOIN {loc} loc ON loc.id = cl.location_id
LEFT JOIN {sl} sl ON sl.location_id = cl.location_id AND sl.variant_id = v.id
LEFT JOIN {pol} p ON p.channel_id = %s
WHERE v.sku IN ({skus})
ORDER BY cl.priority, cl.location_id
"""


def plan(
    *,
    channel: Channel,
    lines: Sequence[LineRequest],
    holder: Holder,
    key: str,
    pickup_location: StockLocation | None = None,
) -> Plan:
    """Decide which units come from where for `channel` (one query), or raise a clear error."""
    key_column, holder_table = _HOLDERS[holder]
    sql = _PLAN_SQL.format(
        holder=holder_table,
        key_column=key_column,
        cl=ChannelLocation._meta.db_table,
        loc=StockLocation._meta.db_table,
        sl=StockLevel._meta.db_table,
        pol=ChannelInventoryPolicy._meta.db_table,
        skus=", ".join(["%s"] * len(lines)),
    )
    rows = run_statement(sql, [channel.pk, key, channel.pk, channel.pk, *(x.sku for x in lines)], many=True)
    variants = {row[1]: row[0] for row in rows}
    for index, line in enumerate(lines):
        if line.sku not in variants:
            raise UnknownSku(f"No variant with SKU '{line.sku}'.", field="lines", sku=line.sku, index=index)
    demand = {variants[x.sku]: x.quantity for x in lines}
    existing_id = rows[0][16]
    policy = ChannelInventoryPolicy(channel=channel)
    if rows[0][10] is not None:
        (
            policy.reservation_ttl_seconds,
            policy.safety_buffer,
            policy.quota_percent,
            policy.quota_minus,
            policy.allocation_strategy,
            policy.max_hold_seconds,
        ) = rows[0][10:16]
    if existing_id is not None:
        return Plan([], policy, "", False, variants, demand, existing_id)
    candidates: dict[int, Candidate] = {}
    free: dict[tuple[int, int], int] = {}
    for variant_id, _, location_id, code, kind, priority, active, ships, pickup, units, *_ in rows:
        if location_id is None or not active:
            continue
        if pickup_location is not None and (location_id != pickup_location.pk or not pickup):
            continue
        if pickup_location is None and not ships:
            continue
        candidates.setdefault(location_id, Candidate(location_id, code, kind, priority))
        if units is not None:
            free[(variant_id, location_id)] = units
    if not candidates:
        if pickup_location is not None:
            raise UnknownLocation(
                f"'{pickup_location.code}' does not serve pick-up for channel '{channel.code}'.",
                field="pickup_location",
            )
        raise ChannelHasNoLocations(f"No active stock location ships for channel '{channel.code}'.")
    skus = {v: s for s, v in variants.items()}
    for variant_id, wanted in demand.items():
        total = sum(max(0, free.get((variant_id, loc), 0)) for loc in candidates)
        promised = atp(
            total,
            safety_buffer=policy.safety_buffer,
            quota_percent=policy.quota_percent,
            quota_minus=policy.quota_minus,
        )
        if promised < wanted:
            raise insufficient(skus[variant_id], wanted, promised)
    name = "pos_store" if channel.kind == Channel.Kind.POS_STORE else policy.allocation_strategy
    try:
        picks = STRATEGIES[name](demand, list(candidates.values()), free)
    except Shortfall as short:
        raise insufficient(skus[short.variant_id], short.requested, short.available) from None
    return Plan(picks, policy, name, len(candidates) > 1, variants, demand)


# --- the one-statement take (PostgreSQL) ----------------------------------------------------------------

_TAKE_SQL = """
WITH want(variant_id, location_id, qty) AS (VALUES {values}),
locked AS (
    SELECT s.id, s.on_hand - s.allocated - s.reserved AS free, w.qty
    FROM {sl} s JOIN want w ON s.variant_id = w.variant_id AND s.location_id = w.location_id
    ORDER BY s.variant_id, s.location_id
    FOR UPDATE OF s
),
ok AS (SELECT COUNT(*) FILTER (WHERE free >= qty) = {n} AS go FROM locked),
head AS (
    INSERT INTO {head_table} ({head_columns}) SELECT {head_values} WHERE (SELECT go FROM ok)
    ON CONFLICT (channel_id, {key_column}) DO NOTHING
    RETURNING id
),
upd AS (
    UPDATE {sl} s SET {column} = s.{column} + l.qty, updated_at = %s
    FROM locked l WHERE s.id = l.id AND EXISTS (SELECT 1 FROM head)
    RETURNING s.variant_id, s.location_id, s.on_hand - s.allocated - s.reserved AS free, s.reorder_point, l.qty
),
line_rows AS (
    INSERT INTO {line_table} ({line_fk}, variant_id, location_id, quantity{line_extra_columns})
    SELECT head.id, w.variant_id, w.location_id, w.qty{line_extra_values} FROM head, want w
),
events AS (
    INSERT INTO {event_table} (variant_id, location_id, cause, created_at)
    SELECT w.variant_id, w.location_id, %s, %s FROM head, want w
),
alerts AS (
    INSERT INTO {alert_table} (variant_id, location_id, free, reorder_point, created_at)
    SELECT variant_id, location_id, free, reorder_point, %s FROM upd
    WHERE reorder_point IS NOT NULL AND free < reorder_point AND free + qty >= reorder_point
    ON CONFLICT DO NOTHING
){link}
SELECT (SELECT id FROM head), (SELECT go FROM ok), (SELECT COUNT(*) FROM upd)
"""


def _link_sql(link: HolderLink | None, *, source: str) -> tuple[str, list]:
    """The link row's INSERT, the holder id read from `source`: `head.id FROM head` in the one statement,
    `%s` (a parameter after the values) in the transactional take."""
    if link is None:
        return "", []
    qn = connection.ops.quote_name
    columns = ", ".join(qn(c) for c in (*link.values, link.holder_column))
    values = ", ".join(["%s"] * len(link.values))
    return f"INSERT INTO {qn(link.table)} ({columns}) SELECT {values}, {source}", list(link.values.values())


def _take_in_one_statement(
    *,
    picks: list[Pick],
    holder: Holder,
    head: dict,
    column: str,
    cause: str,
    now: datetime,
    link: HolderLink | None = None,
) -> tuple[int | None, bool]:
    """(holder id, True) taken; (None, True) the key was taken by a concurrent twin; (None, False) raced."""
    key_column, head_table = _HOLDERS[holder]
    line_model = ReservationLine if holder is Reservation else AllocationLine
    line_fk = "reservation_id" if holder is Reservation else "allocation_id"
    extra_columns, extra_values = ("", "") if holder is Reservation else (", shipped", ", 0")
    link_sql, link_params = _link_sql(link, source="head.id FROM head")
    sql = _TAKE_SQL.format(
        values=", ".join(["(%s::bigint, %s::bigint, %s::integer)"] * len(picks)),
        sl=StockLevel._meta.db_table,
        n=len(picks),
        head_table=head_table,
        head_columns=", ".join(f'"{c}"' for c in head),
        head_values=", ".join(["%s"] * len(head)),
        key_column=f'"{key_column}"',
        column=column,
        line_table=line_model._meta.db_table,
        line_fk=line_fk,
        line_extra_columns=extra_columns,
        line_extra_values=extra_values,
        event_table=StockEvent._meta.db_table,
        alert_table=LowStockAlert._meta.db_table,
        link=f",\nlink AS ({link_sql})" if link is not None else "",
    )
    params: list = []
    for p in picks:
        params += [p.variant_id, p.location_id, p.quantity]
    params += [*head.values(), now, cause, now, now, *link_params]
    head_id, go, _updated = run_statement(sql, params)
    return head_id, bool(go)


# --- the transactional take (SQLite and any other database) ---------------------------------------------


def _take_in_transaction(
    *,
    picks: list[Pick],
    holder: Holder,
    head: dict,
    column: str,
    cause: str,
    now: datetime,
    link: HolderLink | None = None,
) -> tuple[int | None, bool]:
    try:
        with transaction.atomic():
            row = holder.objects.create(**head)
            head["created_at"] = row.created_at  # auto_now_add wrote its own clock reading
            if isinstance(row, Reservation):
                ReservationLine.objects.bulk_create(
                    [
                        ReservationLine(
                            reservation=row,
                            variant_id=p.variant_id,
                            location_id=p.location_id,
                            quantity=p.quantity,
                        )
                        for p in picks
                    ]
                )
            else:
                AllocationLine.objects.bulk_create(
                    [
                        AllocationLine(
                            allocation=row,
                            variant_id=p.variant_id,
                            location_id=p.location_id,
                            quantity=p.quantity,
                        )
                        for p in picks
                    ]
                )
            record_events(((p.variant_id, p.location_id) for p in picks), cause=cause)
            apply_changes(
                [
                    Change(
                        p.variant_id,
                        p.location_id,
                        guard=FREE,
                        guard_quantity=p.quantity,
                        **{column: p.quantity},
                    )
                    for p in picks
                ],
                cause=cause,
                now=now,
            )
            if link is not None:
                sql, params = _link_sql(link, source="%s")
                with connection.cursor() as cursor:  # the same row the one statement writes
                    cursor.execute(sql, [*params, row.pk])
            return row.pk, True
    except Raced:
        return None, False
    except IntegrityError:
        return None, True


def take(
    *,
    channel: Channel,
    lines: Sequence[LineRequest],
    holder: Holder,
    key: str,
    head: dict,
    column: str,
    cause: str,
    pickup_location: StockLocation | None = None,
    link: HolderLink | None = None,
) -> Taken:
    """Hold stock for `holder` (Reservation: reserved, Allocation: allocated). `head` holds the header's
    columns; `head_fields(plan, now)` may not be known before planning, so `head` may be a callable."""
    check_lines(lines)
    fast = connection.vendor == "postgresql"
    for attempt in range(PLAN_ATTEMPTS):
        current = plan(channel=channel, lines=lines, holder=holder, key=key, pickup_location=pickup_location)
        now = timezone.now()
        if current.existing_id is not None:
            return Taken(current.existing_id, current, now, replay=True)
        values = head(current, now) if callable(head) else head
        run = _take_in_one_statement if fast else _take_in_transaction
        pk, go = run(
            picks=current.picks, holder=holder, head=values, column=column, cause=cause, now=now, link=link
        )
        if pk is not None:
            return Taken(pk, current, now, head=values, linked=link is not None)
        if go:  # a concurrent request with the same key won: replay it
            existing = holder.objects.get(channel=channel, **{_HOLDERS[holder][0]: key})
            return Taken(existing.pk, current, now, replay=True)
        if not current.contested or attempt == PLAN_ATTEMPTS - 1:
            break
    skus = {v: s for s, v in current.variants.items()}
    short = _first_short(current)
    raise insufficient(skus[short[0]], current.demand[short[0]], short[1])


def _first_short(current: Plan) -> tuple[int, int]:
    """The first variant that cannot be served now, and how many units are free for it."""
    levels = StockLevel.objects.filter(
        variant_id__in=current.demand, location__channel_links__channel=current.policy.channel
    ).values_list("variant_id", "on_hand", "allocated", "reserved")
    free: dict[int, int] = {}
    for variant_id, on_hand, allocated, reserved in levels:
        free[variant_id] = free.get(variant_id, 0) + max(0, on_hand - allocated - reserved)
    for variant_id, wanted in current.demand.items():
        if free.get(variant_id, 0) < wanted:
            return variant_id, free.get(variant_id, 0)
    first = next(iter(current.demand))
    return first, free.get(first, 0)


def reservation_head(*, channel: Channel, key: str, reference: str):
    def head(current: Plan, now: datetime) -> dict:
        return {
            "channel_id": channel.pk,
            "key": key,
            "reference": reference,
            "status": Reservation.Status.ACTIVE,
            "expires_at": now + timedelta(seconds=current.policy.reservation_ttl_seconds),
            "created_at": now,
        }

    return head


def allocation_head(*, channel: Channel, order_reference: str):
    def head(current: Plan, now: datetime) -> dict:
        return {
            "channel_id": channel.pk,
            "order_reference": order_reference,
            "status": Allocation.Status.ALLOCATED,
            "strategy": current.strategy,
            "created_at": now,
        }

    return head


# --- converting a reservation into an allocation in one statement (PostgreSQL) -------------------------

_CONVERT_SQL = """
WITH closed AS (
    UPDATE {reservation} SET status = 'converted', closed_at = %s
    WHERE id = %s AND status = 'active' AND expires_at > %s
    RETURNING id, channel_id
),
head AS (
    INSERT INTO {allocation} (channel_id, order_reference, reservation_id, status, strategy, created_at)
    SELECT channel_id, %s, id, 'allocated', 'reservation', %s FROM closed
    ON CONFLICT (channel_id, order_reference) DO NOTHING
    RETURNING id
),
held AS (SELECT variant_id, location_id, quantity FROM {reservation_line} WHERE reservation_id = %s),
locked AS (
    SELECT s.id, h.quantity FROM {sl} s JOIN held h ON s.variant_id = h.variant_id AND s.location_id = h.location_id
    WHERE EXISTS (SELECT 1 FROM head)
    ORDER BY s.variant_id, s.location_id
    FOR UPDATE OF s
),
moved AS (
    UPDATE {sl} s SET reserved = s.reserved - l.quantity, allocated = s.allocated + l.quantity, updated_at = %s
    FROM locked l WHERE s.id = l.id
    RETURNING s.id
),
line_rows AS (
    INSERT INTO {allocation_line} (allocation_id, variant_id, location_id, quantity, shipped)
    SELECT head.id, h.variant_id, h.location_id, h.quantity, 0 FROM head, held h
)
SELECT (SELECT id FROM head), (SELECT COUNT(*) FROM closed), (SELECT COUNT(*) FROM moved)
"""


def convert_in_one_statement(
    *, reservation_id: int, order_reference: str, now: datetime
) -> tuple[int | None, bool]:
    """(allocation id, True) converted; (None, False) the reservation was not active and unexpired;
    (None, True) the order reference is taken (the caller's transaction must roll back)."""
    sql = _CONVERT_SQL.format(
        reservation=Reservation._meta.db_table,
        allocation=Allocation._meta.db_table,
        reservation_line=ReservationLine._meta.db_table,
        allocation_line=AllocationLine._meta.db_table,
        sl=StockLevel._meta.db_table,
    )
    allocation_id, closed, _moved = run_statement(
        sql, [now, reservation_id, now, order_reference, now, reservation_id, now]
    )
    return allocation_id, bool(closed)
