"""The transactional outbox: domain events written with the change, delivered after commit, never lost.

A service calls `emit()` inside the transaction that changes the data, so the event exists exactly when the
change does (a rollback removes both). Nothing is sent from the request: the relay (`run_once`, looped by
`omnishop relay`, by a thread of `omnishop serve` in the embedded default, and by Celery beat's sweep with
Redis) takes undispatched events and hands them to the sinks — the webhooks and connectors contexts, named
in settings.OMNISHOP_OUTBOX_SINKS — which only write rows (one delivery per endpoint, one task per channel)
in the relay's transaction. Then the workers (settings.OMNISHOP_RELAY_WORKERS) do the network work, each
claiming its rows with a lease. A crash at any point leaves either the undispatched event or the pending
delivery behind, and the next relay picks it up: at-least-once, with idempotency by event id at the
receiver (the Standard Webhooks `webhook-id`).

Guarantees, each with its test in core/tests/test_outbox.py:
- per aggregate (an order, a channel's SKU) the sequence numbers are 1, 2, 3… in commit order: the
  sequence row is locked by the writing transaction until it commits;
- several relays may run at once (SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's IMMEDIATE
  transactions serialise them): every event is fanned out once;
- a sink that fails on one event does not block the others: the batch is retried event by event, and the
  failing event is retried later with a growing delay, its error kept on the row;
- dispatched events are kept OMNISHOP_OUTBOX_RETENTION_DAYS (30) for the feed and replays, then purged;
- readers of GET /api/v1/events never skip an event that commits late: they page by (transaction id, id)
  and only up to the oldest transaction still open (PostgreSQL's snapshot xmin), see `read`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, connections, transaction
from django.db.models import F, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from . import batch
from .errors import DomainError
from .models import OutboxEvent, OutboxSequence
from .pagination import InvalidCursor

log = logging.getLogger(__name__)

#: Every event type Omnishop emits, with what it means. `emit` refuses others (a typo is a bug, not an event).
EVENT_TYPES: dict[str, str] = {
    "order.placed": "An order was placed on any channel (checkout, quick checkout, channel order, till sale).",
    "order.paid": "The order's payments cover its total.",
    "order.cancelled": "The order, or some of its lines, were cancelled.",
    "order.address_changed": "The shipping address changed before shipment.",
    "order.split": "Lines were split off into a new order (the data names both).",
    "order.merged": "Orders were merged into this one.",
    "order.fulfilled": "Stock was allocated and fulfilments were created for the order.",
    "order.shipped": "A fulfilment left the warehouse, with carrier and tracking number.",
    "order.delivered": "A fulfilment was delivered.",
    "order.returned": "Returned goods were received.",
    "order.refunded": "Money was refunded on the order.",
    "order.exception": "The order needs attention (backorder, unknown SKU, stock exception).",
    "stock.availability_changed": "A SKU's available-to-promise on a channel changed (coalesced).",
    "listing.changed": "A SKU's price or publication on a channel changed.",
    "product.created": "A product was created.",
    "product.updated": "A product's shared data changed.",
    "product.deleted": "A product was deleted.",
    "customer.created": "A customer was created.",
    "customer.merged": "Duplicate customers were merged into one (or a merge was undone).",
    "customer.consent_changed": "A customer's marketing consent changed.",
    "import.finished": "A data hub import finished.",
    "webhook.ping": "A test event sent to one webhook endpoint on request.",
}

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class UnknownEventType(DomainError):
    code = "unknown_event_type"
    status = 422


#: Told of every batch of events as it is written, in the writer's transaction, as (type, channel code) pairs.
#: For contexts that keep a derived cache in memory (recommendations' sellable products per channel): they
#: learn of a change at once, without waiting for the relay. A listener only notes what changed (it may
#: register an on-commit action); it must not write in the writer's transaction.
_emit_listeners: list[Callable[[list[tuple[str, str]]], None]] = []


def on_emit(listener: Callable[[list[tuple[str, str]]], None]) -> None:
    """Register `listener(pairs)` to be called with the (type, channel) of the events each write records."""
    if listener not in _emit_listeners:
        _emit_listeners.append(listener)


def _tell(pairs: list[tuple[str, str]]) -> None:
    for listener in _emit_listeners:
        listener(pairs)


def new_event_id(now: datetime | None = None) -> str:
    """`evt_` + a ULID (48-bit milliseconds, 80 random bits): unique and sortable by time."""
    millis = int((now or timezone.now()).timestamp() * 1000)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "evt_" + "".join(reversed(chars))


def _next_sequence(aggregate_type: str, aggregate_id: str) -> int:
    table = OutboxSequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (aggregate_type, aggregate_id, last) VALUES (%s, %s, 1) "
            f"ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET last = {table}.last + 1 RETURNING last",
            [aggregate_type, aggregate_id],
        )
        return cursor.fetchone()[0]


def _txid():
    if connection.vendor == "postgresql":
        return RawSQL("pg_current_xact_id()::text::bigint", [])
    return 0


def emit(
    type: str,
    *,
    aggregate_type: str,
    aggregate_id: str | int,
    payload: dict,
    channel: str = "",
    version: int = 1,
) -> OutboxEvent:
    """Record an event in the caller's transaction (one is opened if there is none). Inside `collected()`
    the event is written with the block's others when the block ends (the returned row is not saved yet)."""
    if type not in EVENT_TYPES:
        raise UnknownEventType(f"{type!r} is not an event type Omnishop emits.", field="type")
    aggregate_id = str(aggregate_id)
    now = timezone.now()
    pending = getattr(_collecting, "events", None)
    if pending is not None:  # written (and announced) by emit_many when the block ends
        pending.append(NewEvent(type, aggregate_type, aggregate_id, payload, channel or "", version))
        return OutboxEvent(
            type=type, aggregate_type=aggregate_type, aggregate_id=aggregate_id, payload=payload
        )
    batch.flush()  # its sequence number is read: pending events of the block first
    with transaction.atomic(savepoint=False):  # the caller's change and its event fail together
        event = OutboxEvent.objects.create(
            event_id=new_event_id(now),
            type=type,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            sequence=_next_sequence(aggregate_type, aggregate_id),
            channel=channel or "",
            version=version,
            payload=payload,
            occurred_at=now,
            txid=_txid(),
        )
        _tell([(type, event.channel)])
        _wake_relay_on_commit()
        return event


@dataclass(frozen=True)
class NewEvent:
    type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict
    channel: str = ""
    version: int = 1


def emit_many(events: list[NewEvent]) -> int:
    """Record many events with two statements (bulk writers: imports, bulk price changes); returns the count.

    One upsert takes a block of sequence numbers per aggregate (an aggregate may appear several times), so
    the per-aggregate order is the order of `events`.
    """
    if not events:
        return 0
    for event in events:
        if event.type not in EVENT_TYPES:
            raise UnknownEventType(f"{event.type!r} is not an event type Omnishop emits.", field="type")
    counts: dict[tuple[str, str], int] = {}
    for event in events:
        key = (event.aggregate_type, str(event.aggregate_id))
        counts[key] = counts.get(key, 0) + 1
    table = OutboxSequence._meta.db_table
    now = timezone.now()
    if connection.vendor == "postgresql" and len(events) <= 500:
        with transaction.atomic(savepoint=False):
            written = _emit_in_one_statement(events, counts, now)
            _tell(sorted({(event.type, event.channel or "") for event in events}))
            _wake_relay_on_commit()
        return written
    batch.flush()
    with transaction.atomic(savepoint=False):
        last: dict[tuple[str, str], int] = {}
        items = sorted(counts.items())  # one lock order for every writer: no deadlock between two imports
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            values = ", ".join(["(%s, %s, %s)"] * len(chunk))
            params = [p for (kind, ident), n in chunk for p in (kind, ident, n)]
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (aggregate_type, aggregate_id, last) VALUES {values} "
                    f"ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET last = {table}.last + excluded.last "
                    "RETURNING aggregate_type, aggregate_id, last",
                    params,
                )
                for kind, ident, value in cursor.fetchall():
                    last[(kind, ident)] = value
        taken = {key: last[key] - counts[key] for key in counts}
        rows = []
        for event in events:
            key = (event.aggregate_type, str(event.aggregate_id))
            taken[key] += 1
            rows.append(
                OutboxEvent(
                    event_id=new_event_id(now),
                    type=event.type,
                    aggregate_type=event.aggregate_type,
                    aggregate_id=str(event.aggregate_id),
                    sequence=taken[key],
                    channel=event.channel or "",
                    version=event.version,
                    payload=event.payload,
                    occurred_at=now,
                    txid=_txid(),
                )
            )
        OutboxEvent.objects.bulk_create(rows, batch_size=500)
        _tell(sorted({(row.type, row.channel) for row in rows}))
        _wake_relay_on_commit()
    return len(rows)


#: the two parts of one emit: take a block of sequence numbers per aggregate, insert the events numbered from
#: it ({seq} names the first part); run as one WITH statement, or deferred into a `batch` block's statement
_EMIT_SEQUENCE_SQL = """
    INSERT INTO {sequence} (aggregate_type, aggregate_id, last) VALUES {counts}
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET last = {sequence}.last + excluded.last
    RETURNING aggregate_type, aggregate_id, last
"""
_EMIT_EVENTS_SQL = """
INSERT INTO {event} (event_id, type, aggregate_type, aggregate_id, sequence, channel, version, payload,
                     occurred_at, txid, dispatch_attempts, dispatch_error)
SELECT e.event_id, e.type, e.aggregate_type, e.aggregate_id, seq.last - e.after, e.channel, e.version, e.payload,
       e.occurred_at, pg_current_xact_id()::text::bigint, 0, ''
FROM (VALUES {rows}) AS e(ord, event_id, type, aggregate_type, aggregate_id, after, channel, version, payload,
                         occurred_at)
JOIN {seq} seq ON seq.aggregate_type = e.aggregate_type AND seq.aggregate_id = e.aggregate_id
ORDER BY e.ord
"""


def _emit_in_one_statement(events: list[NewEvent], counts: dict[tuple[str, str], int], now: datetime) -> int:
    """PostgreSQL: take the sequence numbers and insert the events in ONE statement (one round trip)."""
    items = sorted(counts.items())  # the same lock order as emit_many's other path
    sequence = _EMIT_SEQUENCE_SQL.format(
        sequence=OutboxSequence._meta.db_table, counts=", ".join(["(%s, %s, %s)"] * len(items))
    )
    rows = ", ".join(
        ["(%s::integer, %s, %s, %s, %s, %s::integer, %s, %s::smallint, %s::jsonb, %s::timestamptz)"]
        * len(events)
    )
    params: list = [p for (kind, ident), n in items for p in (kind, ident, n)]
    left = dict(counts)
    payload_field = OutboxEvent._meta.get_field("payload")
    for ord, event in enumerate(events):
        key = (event.aggregate_type, str(event.aggregate_id))
        left[key] -= 1  # how many of this aggregate's events come after this one
        params += [
            ord, new_event_id(now), event.type, key[0], key[1], left[key], event.channel or "", event.version,
            payload_field.get_db_prep_save(event.payload, connection), now,
        ]  # fmt: skip
    insert = _EMIT_EVENTS_SQL.format(event=OutboxEvent._meta.db_table, rows=rows, seq="{part0}")
    if batch.defer([sequence, insert], params):  # sent with the block's other trailing writes
        return len(events)
    sql = f"WITH seq AS ({sequence}) {insert.replace('{part0}', 'seq')}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


_collecting = threading.local()


class collected:
    """Within the block, `emit` keeps the events and writes them all when the block ends, with the fewest
    statements (one on PostgreSQL): for a hot path that emits several events in one transaction. The block
    must be inside that transaction; an exception in it writes nothing."""

    def __enter__(self) -> None:
        self.outer = getattr(_collecting, "events", None)
        if self.outer is None:
            _collecting.events = []

    def __exit__(self, kind, value, traceback) -> None:
        if self.outer is not None:
            return  # an enclosing block writes them
        events, _collecting.events = _collecting.events, None
        if kind is None:
            emit_many(events)


def _import(path: str):
    module, _, name = path.rpartition(".")
    return getattr(__import__(module, fromlist=[name]), name)


def sinks() -> list:
    return [_import(path) for path in getattr(settings, "OMNISHOP_OUTBOX_SINKS", ())]


def workers() -> list:
    return [_import(path) for path in getattr(settings, "OMNISHOP_RELAY_WORKERS", ())]


RETRY_DELAYS = (5, 30, 120, 600, 1800, 3600)


def _claim(limit: int, now: datetime) -> list[OutboxEvent]:
    """Undispatched events due now, oldest first, locked (SKIP LOCKED where the database has it). Written as
    SQL: a relay runs this every round, mostly to find little or nothing, and compiling the ORM query cost
    more CPU than running it."""
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    return list(
        OutboxEvent.objects.raw(
            f"SELECT * FROM {OutboxEvent._meta.db_table} WHERE dispatched_at IS NULL "
            f"AND (retry_at IS NULL OR retry_at <= %s) ORDER BY id LIMIT %s{lock}",
            [connection.ops.adapt_datetimefield_value(now), limit],
        )
    )


def relay_once(limit: int = 500, *, now: datetime | None = None) -> int:
    """Fan undispatched events out to the sinks; returns how many were dispatched."""
    now = now or timezone.now()
    handlers = sinks()
    with transaction.atomic():
        events = _claim(limit, now)
        if not events:
            return 0
        if len(events) >= limit:
            pressed()
        try:
            with transaction.atomic():
                for sink in handlers:
                    sink(events)
        except Exception:
            log.exception(
                "Outbox sink failed on a batch of %d events; retrying them one by one.", len(events)
            )
            return _relay_one_by_one(events, handlers, now)
        OutboxEvent.objects.filter(pk__in=[event.pk for event in events]).update(dispatched_at=now)
    return len(events)


def _relay_one_by_one(events: list[OutboxEvent], handlers: list, now: datetime) -> int:
    done = 0
    for event in events:
        try:
            with transaction.atomic():
                for sink in handlers:
                    sink([event])
        except Exception as error:
            delay = RETRY_DELAYS[min(event.dispatch_attempts, len(RETRY_DELAYS) - 1)]
            log.exception("Outbox event %s could not be dispatched; retrying in %d s.", event.event_id, delay)
            OutboxEvent.objects.filter(pk=event.pk).update(
                dispatch_attempts=F("dispatch_attempts") + 1,
                dispatch_error=f"{type(error).__name__}: {error}"[:2000],
                retry_at=now + timedelta(seconds=delay),
            )
            continue
        OutboxEvent.objects.filter(pk=event.pk).update(dispatched_at=now, retry_at=None)
        done += 1
    return done


def earlier_undispatched(aggregate_type: str, aggregate_id: str, sequence: int) -> bool:
    """Whether an earlier event of the aggregate has not been fanned out yet (a delivery must wait for it)."""
    return OutboxEvent.objects.filter(
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        sequence__lt=sequence,
        dispatched_at__isnull=True,
    ).exists()


def purge_dispatched(*, now: datetime | None = None, keep_days: int | None = None) -> int:
    """Delete events dispatched more than `keep_days` (OMNISHOP_OUTBOX_RETENTION_DAYS, 30) ago; the feed
    and replays reach back that far. Undispatched events are never deleted."""
    now = now or timezone.now()
    days = settings.OMNISHOP_OUTBOX_RETENTION_DAYS if keep_days is None else keep_days
    deleted, _ = OutboxEvent.objects.filter(dispatched_at__lt=now - timedelta(days=days)).delete()
    return deleted


def run_once(limit: int = 500) -> int:
    """One round of the relay: dispatch events, then let every worker deliver what is due."""
    work = 0
    for step in [relay_once, *workers()]:
        try:
            work += step() or 0
        except Exception:
            log.exception("Relay step %s failed; the next round retries it.", getattr(step, "__name__", step))
    return work


# --- Reading: GET /api/v1/events ----------------------------------------------------------------------


@dataclass(frozen=True)
class EventPage:
    events: list[OutboxEvent]
    next_cursor: str
    has_more: bool


def encode_cursor(txid: int, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{txid}.{pk}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        txid, pk = base64.urlsafe_b64decode(padded.encode()).decode().split(".")
        return int(txid), int(pk)
    except (ValueError, binascii.Error, UnicodeError):
        raise InvalidCursor("The cursor is not one this API gave out.", field="after") from None


def _settled() -> Q | None:
    """PostgreSQL: events below the oldest transaction still running (each has committed or never will),
    and the reader's own (a request reads in autocommit and has none; a test's wrapping transaction has)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, "
            "pg_current_xact_id_if_assigned()::text::bigint"
        )
        below, own = cursor.fetchone()
    return Q(txid__lt=below) | Q(txid=own) if own is not None else Q(txid__lt=below)


def read(
    *,
    after: str | None = None,
    types: list[str] | None = None,
    aggregate_type: str | None = None,
    aggregate_id: str | None = None,
    visible: Q | None = None,
    limit: int = 100,
) -> EventPage:
    """Events in commit order after `after` (a cursor from an earlier page; none = from the start).

    The cursor is the last event's (transaction id, id). On PostgreSQL ids are drawn when rows are written,
    not when they commit, so a page by id alone could pass over an event whose transaction commits later;
    by transaction id, and only below the oldest transaction still open, nothing committed later can sort
    before a cursor already handed out. `next_cursor` is always usable: when nothing is new it is `after`.
    """
    query = OutboxEvent.objects.all()
    if after:
        txid, pk = decode_cursor(after)
        query = query.filter(Q(txid__gt=txid) | Q(txid=txid, id__gt=pk))
    settled = _settled()
    if settled is not None:
        query = query.filter(settled)
    if types:
        exact = [t for t in types if not t.endswith(".*")]
        prefixes = [t[:-1] for t in types if t.endswith(".*")]
        match = Q(type__in=exact) if exact else Q(pk__in=[])
        for prefix in prefixes:
            match |= Q(type__startswith=prefix)
        query = query.filter(match)
    if aggregate_type:
        query = query.filter(aggregate_type=aggregate_type)
    if aggregate_id:
        query = query.filter(aggregate_id=aggregate_id)
    if visible is not None:
        query = query.filter(visible)
    rows = list(query.order_by("txid", "id")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].txid, rows[-1].pk) if rows else (after or "")
    return EventPage(events=rows, next_cursor=next_cursor, has_more=has_more)


# --- Running the relay --------------------------------------------------------------------------------
#
# A relay loop (RelayThread in `omnishop serve`, `loop` for `omnishop relay`) runs rounds while there is work
# and otherwise waits on a Waker (ADR 0042): on PostgreSQL a LISTEN connection hears the NOTIFY that a commit
# of outbox events or stock marks sends (migrations core 0005/0006, a statement trigger) — only the first
# commit after a relay raised the sleep flag (`mark_sleeping`), because notifying commits serialise on one
# cluster-wide lock — so an idle relay runs no statement until something commits, and polls only every
# OMNISHOP_RELAY_IDLE_POLL seconds as a fallback. Without a listener (SQLite; PgBouncer in transaction mode without OMNISHOP_RELAY_LISTEN_URL, where
# LISTEN cannot work) it polls every OMNISHOP_RELAY_POLL seconds and this process's commits wake it directly.

NOTIFY_CHANNEL = "omnishop_outbox"

#: The wakers of this process's relay loops: `wake()` sets them all.
_wakers: set[Waker] = set()
_wakers_lock = threading.Lock()
#: Set while a relay loop of this process has no listener: then every write of events wakes it after commit.
_relay_running = threading.Event()
_loop_state = threading.local()


def wake() -> None:
    """Tell this process's relay loops that something was committed (saves waiting for the next poll)."""
    with _wakers_lock:
        wakers = list(_wakers)
    for waker in wakers:
        waker.set()


def wake_on_commit() -> None:
    transaction.on_commit(wake)


def _wake_relay_on_commit() -> None:
    """An event written where a relay loop without a listener runs is fanned out as soon as it commits, not at
    the next poll. With a listener the database's NOTIFY wakes it: no callback on the writer's commit."""
    if _relay_running.is_set():
        transaction.on_commit(wake)


def wake_within(seconds: float) -> None:
    """A relay worker says that work of its becomes due in `seconds` (a stock mark's window ends, a retry is
    due): the loop that runs it does not wait longer than that. Outside a relay loop it does nothing."""
    deadline = time.monotonic() + max(seconds, 0.0)
    current = getattr(_loop_state, "deadline", None)
    if getattr(_loop_state, "active", False) and (current is None or deadline < current):
        _loop_state.deadline = deadline


def pressed() -> None:
    """A worker of a relay loop says it hit a limit this round (a claim as large as it may take, an endpoint
    at its in-flight cap): more is waiting, so the next round is not paced."""
    if getattr(_loop_state, "active", False):
        _loop_state.pressed = True


def in_relay_loop() -> bool:
    """Whether the calling thread is a long-running relay loop (a worker may then leave requests in flight
    between rounds and call `wake()` when they finish; `run_once` elsewhere must finish its work)."""
    return bool(getattr(_loop_state, "active", False))


def enabled() -> bool:
    """Whether `omnishop serve` runs a relay thread in its workers (embedded default, or forced on)."""
    mode = getattr(settings, "OMNISHOP_RELAY", "auto")
    return mode == "on" or (mode == "auto" and not settings.REDIS_URL)


def _listen_params() -> dict | str | None:
    """Where the relay LISTENs: OMNISHOP_RELAY_LISTEN_URL, else the default database's own server unless a
    pooler stands in front of it (PgBouncer's transaction mode hands the session to other clients between
    transactions: the LISTEN would be on a server connection this relay no longer holds); None = poll."""
    url = getattr(settings, "OMNISHOP_RELAY_LISTEN_URL", "")
    if url:
        return url
    if connection.vendor != "postgresql" or getattr(settings, "OMNISHOP_DB_POOLER", ""):
        return None
    params = connection.settings_dict
    return {
        key: value
        for key, value in {
            "dbname": params["NAME"],
            "user": params.get("USER"),
            "password": params.get("PASSWORD"),
            "host": params.get("HOST"),
            "port": params.get("PORT"),
        }.items()
        if value
    }


class Waker:
    """What an idle relay loop waits on: a pipe for this process's own wake-ups (commits here, requests that
    finished in a delivery pool) and, on PostgreSQL, a LISTEN connection for every process's commits."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.listener = None  # a psycopg connection in autocommit, LISTENing
        self._retry_listen_at = 0.0
        with _wakers_lock:
            _wakers.add(self)

    def set(self) -> None:
        with contextlib.suppress(BlockingIOError):  # the pipe is full of wake-ups already
            os.write(self._write, b"x")

    @property
    def listening(self) -> bool:
        return self.listener is not None

    def listen(self) -> bool:
        """(Re)connect the listener when there should be one; True when it was just connected (the caller
        then runs a round: what committed before the LISTEN was not announced to it)."""
        if self.listener is not None or time.monotonic() < self._retry_listen_at:
            return False
        params = _listen_params()
        if params is None:
            return False
        import psycopg

        try:
            if isinstance(params, str):
                conn = psycopg.connect(params, autocommit=True)
            else:
                conn = psycopg.connect(**params, autocommit=True)
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except psycopg.Error:
            log.exception("The relay cannot LISTEN; it polls and tries again in 30 s.")
            self._retry_listen_at = time.monotonic() + 30
            return False
        self.listener = conn
        return True

    def mark_sleeping(self) -> bool:
        """Raise the sleep flag that makes the next writer of events NOTIFY (migration core 0006); True when
        this call raised it — the caller then runs one more round, for a commit that came between its last
        claim and the flag and so announced nothing. False when it was up already (another relay raised it)
        or a writer is taking it down right now (that writer notifies at its commit)."""
        if self.listener is None:
            return False
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE core_relaywake SET sleeping = true WHERE id = "
                    "(SELECT id FROM core_relaywake WHERE NOT sleeping FOR UPDATE SKIP LOCKED)"
                )
                return cursor.rowcount == 1
        except DatabaseError:  # not migrated yet, or the database is away: the fallback poll still runs
            log.warning("The relay could not raise its sleep flag; it relies on the poll.", exc_info=True)
            return False

    def _drain(self) -> bool:
        woken = False
        try:
            while os.read(self._read, 4096):
                woken = True
        except BlockingIOError:
            pass
        if self.listener is not None:
            try:
                pgconn = self.listener.pgconn
                pgconn.consume_input()
                while pgconn.notifies() is not None:
                    woken = True
            except Exception:  # the connection broke: poll until it is back, and run a round now
                log.exception("The relay's LISTEN connection failed; reconnecting.")
                self.drop_listener()
                woken = True
        return woken

    def wait(self, timeout: float) -> bool:
        """Until a wake-up or `timeout` seconds; True when woken. A wake-up is followed by a short pause
        (OMNISHOP_RELAY_COALESCE) so that a burst of commits is claimed as one batch."""
        import select

        if self._drain():
            return True
        handles = [self._read] + ([self.listener.fileno()] if self.listener is not None else [])
        ready, _, _ = select.select(handles, [], [], max(timeout, 0.0))
        if not ready:
            return False
        pause = float(getattr(settings, "OMNISHOP_RELAY_COALESCE", 0.01))
        if pause > 0:
            time.sleep(pause)
        self._drain()
        return True

    def drop_listener(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(Exception):
                self.listener.close()
            self.listener = None

    def close(self) -> None:
        with _wakers_lock:
            _wakers.discard(self)
        self.drop_listener()
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)


def _idle_wait(poll: float | None, waker: Waker) -> float:
    """How long an idle relay waits: a long fallback poll while it listens, a short one when it cannot,
    never past a worker's `wake_within` deadline."""
    if poll is None:
        if waker.listening:
            poll = float(getattr(settings, "OMNISHOP_RELAY_IDLE_POLL", 2.0))
        else:
            poll = float(getattr(settings, "OMNISHOP_RELAY_POLL", 0.5))
    deadline = getattr(_loop_state, "deadline", None)
    _loop_state.deadline = None
    if deadline is not None:
        poll = min(poll, max(deadline - time.monotonic(), 0.0))
    return poll


def _pace(work: int, started: float) -> None:
    """Rounds are paced while they carry little. A round costs ~10 round trips whatever it carries (outbox
    claim, stock-mark look, webhook claim and record, connector tasks); under a steady trickle of commits an
    unpaced loop ran a round per event or two, and N relays N times over — the CPU that the writers and the
    database needed (events.delivery). After a round with less than OMNISHOP_RELAY_FULL_ROUND items of work
    the next starts no sooner than the loop's pause after this one started; the pause doubles while rounds
    stay light (up to OMNISHOP_RELAY_MAX_ROUND: several relays sharing a trickle each back off) and halves
    back (down to OMNISHOP_RELAY_MIN_ROUND) when a round is full. A backlog is drained without pauses."""
    floor = float(getattr(settings, "OMNISHOP_RELAY_MIN_ROUND", 0.02))
    if floor <= 0:
        return
    ceiling = max(floor, float(getattr(settings, "OMNISHOP_RELAY_MAX_ROUND", 0.08)))
    pause = _loop_state.pause or floor
    hit_limit, _loop_state.pressed = _loop_state.pressed, False
    if hit_limit or work >= int(getattr(settings, "OMNISHOP_RELAY_FULL_ROUND", 32)):
        _loop_state.pause = max(floor, pause / 2)
        return
    _loop_state.pause = min(ceiling, pause * 2)
    wait = started + pause - time.monotonic()
    if wait > 0:
        time.sleep(wait)


def _run_loop(
    stopped: Callable[[], bool], *, poll: float | None, waker: Waker, until: float | None = None
) -> None:
    """Rounds while there is work; then wait for a NOTIFY, a wake-up, a worker's deadline or the poll."""
    _loop_state.active, _loop_state.deadline = True, None
    _loop_state.pause, _loop_state.pressed, _loop_state.empty = 0.0, False, 0  # pacing (`_pace`)
    woken = False
    try:
        while not stopped():
            if waker.listen():
                woken = True
            if waker.listening:
                _relay_running.clear()
            else:
                _relay_running.set()
            work = 0
            started = time.monotonic()
            try:
                close_old_connections()
                work = run_once()
            except Exception:  # the database is away, say: try again after the poll interval
                log.exception("Relay round failed.")
            if work:
                _loop_state.empty = 0
                _pace(work, started)
                continue
            # Busy a moment ago: look again after the pause before going to sleep (a relay sharing a stream of
            # commits with others often finds a round empty; sleeping would make the next commit NOTIFY).
            _loop_state.empty += 1
            if _loop_state.empty <= int(getattr(settings, "OMNISHOP_RELAY_EMPTY_ROUNDS", 2)):
                _pace(0, started)
                continue
            if waker.listening and waker.mark_sleeping():
                continue  # one more round, for what committed before the flag was up
            if not woken:  # idle for a whole poll: give the connection back; while woken often, keep it
                connections.close_all()
            if stopped():
                break
            wait = _idle_wait(poll, waker)
            if until is not None:
                wait = min(wait, max(until - time.monotonic(), 0.0))
            woken = waker.wait(wait)
    finally:
        _loop_state.active = False
        _relay_running.clear()
        with contextlib.suppress(Exception):
            for finish in _loop_finishers:
                finish()


#: Called when a relay loop ends, in its thread (a worker completes what it left in flight).
_loop_finishers: list[Callable[[], None]] = []


def on_loop_end(finish: Callable[[], None]) -> None:
    if finish not in _loop_finishers:
        _loop_finishers.append(finish)


class RelayThread(threading.Thread):
    """Runs `run_once` until stopped: at once while there is work, else after a NOTIFY, a wake-up or the
    fallback poll (`poll`; by default OMNISHOP_RELAY_IDLE_POLL while listening, else OMNISHOP_RELAY_POLL)."""

    def __init__(self, *, poll: float | None = None) -> None:
        super().__init__(name="omnishop-relay", daemon=True)
        self.poll = poll
        self.stopped = threading.Event()
        self.waker = Waker()

    def run(self) -> None:
        try:
            _run_loop(self.stopped.is_set, poll=self.poll, waker=self.waker)
        finally:
            self.waker.close()
            connections.close_all()

    def stop(self, timeout: float | None = 10) -> None:
        self.stopped.set()
        self.waker.set()
        self.join(timeout)


def loop(*, poll: float | None = None, until: float | None = None) -> None:
    """`omnishop relay`: run rounds forever (or until the monotonic time `until`)."""
    waker = Waker()
    try:
        _run_loop(
            lambda: until is not None and time.monotonic() >= until, poll=poll, waker=waker, until=until
        )
    finally:
        waker.close()
