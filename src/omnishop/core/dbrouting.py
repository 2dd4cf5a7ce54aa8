"""Which database a read goes to: the primary (`default`) or a streaming read replica (`replica`).

Everything goes to the primary unless a read path is explicitly marked with `reads_from_replica()` (the
public catalogue, search, the analytics dashboard). Even a marked read stays on the primary when:
- no replica is configured (`DATABASE_REPLICA_URL` unset — the default, and always on SQLite);
- it runs inside a `transaction.atomic` block on the primary (a transaction reads its own snapshot);
- the request wrote (a non-safe method, or an INSERT, UPDATE or DELETE it ran on the primary), or the client
  wrote within the last `OMNISHOP_REPLICA_STICKY_SECONDS` (a signed cookie carries the deadline) —
  read-your-writes;
- the replica is unreachable, no longer in recovery, or its replay lag exceeds
  `OMNISHOP_REPLICA_MAX_LAG_SECONDS`; that check is cached per process for `OMNISHOP_REPLICA_CHECK_SECONDS`.

The Django router (`ReplicaRouter`) applies this to the ORM; raw-SQL read paths ask `read_connection()`.
ADR 0030 says why, docs/scaling.md how to run it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

logger = logging.getLogger(__name__)

PRIMARY = "default"
REPLICA = "replica"
COOKIE = "omnishop_primary"
_SIGNING_SALT = "omnishop.core.dbrouting.sticky"
# Tables of bookkeeping, not something the client reads back: a write to them pins the rest of its request to
# the primary but does not make the client sticky (a search logs a behaviour event on every GET; sessions; the
# database cache; the search index refreshed on the way).
UNPINNED_TABLES = (
    "django_session",
    "omnishop_cache",
    "recommendations_event",
    "search_searchdocument",
    "search_fts",
)
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "MERGE")

_marked: ContextVar[bool] = ContextVar("omnishop_reads_from_replica", default=False)
_request: ContextVar[_RequestState | None] = ContextVar("omnishop_replica_request", default=None)


@dataclass
class _RequestState:
    pinned: bool  # read from the primary for the rest of this request
    wrote: bool = False  # this request wrote something the client may read back
    used_replica: bool = False  # a read of this request was sent to the replica


@dataclass(frozen=True)
class ReplicaHealth:
    usable: bool
    lag_seconds: float | None  # None: unknown (unreachable, not a replica)
    reason: str


def replica_configured() -> bool:
    return REPLICA in connections.settings


# -- marking read paths --------------------------------------------------------------------------------------


@contextmanager
def reads_from_replica() -> Iterator[None]:
    """Mark the reads of this block as allowed on the replica (they may be a little stale).

    Use on read-only paths whose answer may lag the primary by up to the configured lag: catalogue
    pages, search, dashboards, reports. Never around checkout, stock or payment decisions.
    """
    token = _marked.set(True)
    try:
        yield
    finally:
        _marked.reset(token)


@contextmanager
def reads_from_primary() -> Iterator[None]:
    """Unmark a block inside a marked one: bookkeeping that reads in order to write (an index refresh)."""
    token = _marked.set(False)
    try:
        yield
    finally:
        _marked.reset(token)


def read_alias() -> str:
    """The alias a read of the current context goes to (see the module docstring for the rules)."""
    if not _marked.get() or not replica_configured():
        return PRIMARY
    state = _request.get()
    if state is not None and state.pinned:
        return PRIMARY
    if connections[PRIMARY].in_atomic_block:
        return PRIMARY
    if not replica_health().usable:
        return PRIMARY
    if state is not None:
        state.used_replica = True
    return REPLICA


def read_connection() -> BaseDatabaseWrapper:
    """The connection raw-SQL read paths use: the replica inside `reads_from_replica()` when allowed."""
    return connections[read_alias()]


# -- read-your-writes ----------------------------------------------------------------------------------------


def note_statement(sql: str) -> None:
    """Seen on the primary during a request: a write pins the rest of the request (and, unless it is
    bookkeeping, the client). Statements, not the router's db_for_write, because Django asks the router for
    write intents that write nothing (get_or_create finding its row) and raw SQL never asks it."""
    state = _request.get()
    if state is None or state.wrote:
        return
    head = sql.lstrip()[:120].upper()
    if not (
        head.startswith(_WRITE_VERBS)
        or (head.startswith("WITH") and any(v in sql.upper() for v in _WRITE_VERBS))
    ):
        return
    state.pinned = True
    if not any(table.upper() in head for table in UNPINNED_TABLES):
        state.wrote = True


def _watch_writes(execute, sql, params, many, context):
    if _request.get() is not None:
        note_statement(sql if isinstance(sql, str) else str(sql))
    return execute(sql, params, many, context)


def _install_watch(connection: BaseDatabaseWrapper) -> None:
    if connection.alias == PRIMARY and _watch_writes not in connection.execute_wrappers:
        connection.execute_wrappers.append(_watch_writes)


def _on_connection_created(sender, connection, **kwargs) -> None:
    _install_watch(connection)


def watch_writes() -> None:
    """Watch every statement the primary runs in this process (each thread's connection, as it opens)."""
    connection_created.connect(_on_connection_created, dispatch_uid="omnishop.core.dbrouting.watch_writes")
    _install_watch(connections[PRIMARY])


def sticky_cookie_value() -> str:
    return signing.TimestampSigner(salt=_SIGNING_SALT).sign("1")


def cookie_pins(value: str | None) -> bool:
    """True when `value` is our signed cookie and younger than OMNISHOP_REPLICA_STICKY_SECONDS."""
    if not value:
        return False
    try:
        signing.TimestampSigner(salt=_SIGNING_SALT).unsign(
            value, max_age=settings.OMNISHOP_REPLICA_STICKY_SECONDS
        )
    except signing.BadSignature:  # SignatureExpired included
        return False
    return True


@contextmanager
def request_scope(*, pinned: bool) -> Iterator[_RequestState]:
    """One request's routing state; `pinned` when the request is unsafe or its client wrote lately."""
    state = _RequestState(pinned=pinned, wrote=False)
    token = _request.set(state)
    try:
        yield state
    finally:
        _request.reset(token)


# -- replica health ------------------------------------------------------------------------------------------

_LAG_SQL = """
SELECT pg_is_in_recovery(),
       coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, false),
       extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())
"""

_health_lock = threading.Lock()
_health: tuple[float, ReplicaHealth] | None = None  # (checked at, monotonic; result)


def forget_replica_health() -> None:
    """Drop the cached check: the next marked read checks the replica again (tests, after a failover)."""
    global _health
    with _health_lock:
        _health = None


def replica_health() -> ReplicaHealth:
    """The replica's health, checked at most once per OMNISHOP_REPLICA_CHECK_SECONDS in this process."""
    now = time.monotonic()
    cached = _health
    if cached is not None and now - cached[0] < settings.OMNISHOP_REPLICA_CHECK_SECONDS:
        return cached[1]
    with _health_lock:
        if _health is not None and now - _health[0] < settings.OMNISHOP_REPLICA_CHECK_SECONDS:
            return _health[1]
        return _keep(check_replica())


def replica_failed(exc: BaseException) -> None:
    """A read on the replica failed mid-request: use the primary until the next check is due."""
    connections[REPLICA].close()
    with _health_lock:
        _keep(ReplicaHealth(False, None, f"a read on the replica failed ({exc})"))


def _replica_just_failed() -> bool:
    """After a request that read the replica failed: check the replica now (its connection dropped first, it
    may be broken) and keep the answer for the next OMNISHOP_REPLICA_CHECK_SECONDS. True when unusable."""
    connections[REPLICA].close()
    with _health_lock:
        return not _keep(check_replica()).usable


def _keep(result: ReplicaHealth) -> ReplicaHealth:
    """Remember a check's answer until the next is due (the caller holds `_health_lock`); log a fallback."""
    global _health
    if not result.usable:
        logger.warning("Reads fall back to the primary: %s", result.reason)
    _health = (time.monotonic(), result)
    return result


def check_replica() -> ReplicaHealth:
    """Measure now: the primary's flushed WAL position, then how far the replica has replayed.

    A replica that has replayed everything the primary had flushed is current, whatever the age of its last
    replayed transaction (an idle primary writes none, so `now() - pg_last_xact_replay_timestamp()` grows
    without the replica being behind). Otherwise the lag is the age of the last replayed transaction.
    """
    max_lag = settings.OMNISHOP_REPLICA_MAX_LAG_SECONDS
    try:
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_flush_lsn()")
            primary_lsn = cursor.fetchone()[0]
    except DatabaseError as exc:
        return ReplicaHealth(False, None, f"the primary's WAL position is unknown ({exc.__class__.__name__})")
    replica = connections[REPLICA]
    try:
        with replica.cursor() as cursor:
            cursor.execute(_LAG_SQL, [str(primary_lsn)])
            in_recovery, caught_up, age = cursor.fetchone()
    except DatabaseError as exc:
        replica.close()  # a dead server leaves a broken connection behind; reconnect at the next check
        return ReplicaHealth(False, None, f"the replica is unreachable ({exc.__class__.__name__}: {exc})")
    if not in_recovery:
        return ReplicaHealth(False, None, "the replica is not in recovery (promoted or misconfigured)")
    lag = 0.0 if caught_up else (float(age) if age is not None else float("inf"))
    if lag > max_lag:
        return ReplicaHealth(False, lag, f"the replica lags {lag:.3f} s (more than {max_lag} s)")
    return ReplicaHealth(True, lag, "ok")


# -- Django wiring -------------------------------------------------------------------------------------------


class ReplicaRouter:
    """DATABASE_ROUTERS entry, installed by settings only when DATABASE_REPLICA_URL is set."""

    def db_for_read(self, model, **hints) -> str:
        return read_alias()

    def db_for_write(self, model, **hints) -> str:
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        return True  # one database, two copies of it

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        return db == PRIMARY  # the replica follows the primary's WAL; it is never migrated itself


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class ReadYourWritesMiddleware:
    """Pins a request to the primary when it is unsafe or its client wrote lately; marks clients that write.

    The deadline travels in a signed cookie, not the session: it costs no query (a session is a database
    row, read on the primary), it works for the cookie-free storefront fast path and for API clients
    without a session, and a forged or replayed cookie can only send its own holder to the primary.
    Installed by settings only when a replica is configured.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        watch_writes()

    def __call__(self, request):
        unsafe = request.method not in _SAFE_METHODS
        with request_scope(pinned=unsafe or cookie_pins(request.COOKIES.get(COOKIE))) as state:
            response = self.get_response(request)
        if response.status_code >= 500 and state.used_replica and not state.pinned and _replica_just_failed():
            # The replica died since the last check and a read on it failed (the view answered 500). Nothing
            # was written (a write pins the request, and a pinned request never reads the replica): the
            # request runs again, on the primary — as the storefront fast path retries its reads.
            with request_scope(pinned=True) as state:
                response = self.get_response(request)
        if unsafe or state.wrote:
            response.set_cookie(
                COOKIE,
                sticky_cookie_value(),
                max_age=settings.OMNISHOP_REPLICA_STICKY_SECONDS,
                httponly=True,
                samesite="Lax",
                secure=request.is_secure(),
            )
        return response
