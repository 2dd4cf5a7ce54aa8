"""Long hot-path statements sent to PostgreSQL with server-side parameters, their placeholders converted once.

Django's cursors bind client-side (psycopg's `ClientCursor`): psycopg finds each `%s` of the query with a
regular expression and quotes every value into the text in Python. It remembers the first step only for
queries of at most 50 parameters and 4,096 bytes (`psycopg._queries.MAX_CACHED_STATEMENT_*`); the checkout's
two writes — payment + order + lines, and the trailing writes of `core.batch` — are longer, so every
checkout split them again (~13 % of the request's Python under cProfile, `bench/profile_checkout.py`).

`execute` converts `%s`/`%%` to `$1…$n`/`%` once per distinct statement (our own cache, any length) and runs
it through psycopg's `RawCursor`: values go as typed parameters (psycopg's C dumpers), nothing is quoted
into the text. The statement still passes Django's execute wrappers and its query log, so statement counts
and `django_assert_num_queries` see it. Other databases: Django's cursor, unchanged.

Unless a transaction-mode pooler sits in between (`OMNISHOP_DB_PREPARE`, ADR 0031) the statement is also a
server-side **prepared** statement, parsed and planned once per connection. A client-side-bound statement is a
new text for every set of values, so PostgreSQL parses and plans it on every call: measured with
pg_stat_statements over 321 checkouts, planning alone was 0.94 ms of the ≈ 3 ms of database CPU a checkout
cost — the listings read 0.31 ms a call, the API key, replay and shipping-method reads 0.11–0.12 ms each, the
trailing writes 0.21 ms — against 0.77 ms of execution for all its statements. `fetch_one` and `fetch_all` are
the same path for the hot hand-written reads (`core.rows`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection

_PLACEHOLDER = re.compile(r"%([%s])")


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """`sql` with its `%s` placeholders as `$1…$n` and `%%` as `%` (psycopg's own format, no named ones)."""
    count = 0

    def replace(match: re.Match) -> str:
        nonlocal count
        if match.group(1) == "%":
            return "%"
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(replace, sql)


@contextmanager
def preparing(prepare: bool, *, on=None, bind_on_server: bool = False) -> Iterator[None]:
    """Let the block's statements prepare on a PostgreSQL connection (`on`: a Django connection, the default
    one unless given; it must be open). Django switches psycopg's preparation off (prepare_threshold None,
    which `prepare=True` alone cannot override); it is allowed for the block only, and only when `prepare`
    (OMNISHOP_DB_PREPARE and the like) says so. `bind_on_server`: Django's own cursors on that connection bind
    server-side for the block too, so that they prepare (the storefront's reads)."""
    raw = (on or connection).connection
    factory, threshold = raw.cursor_factory, raw.prepare_threshold
    if prepare:
        raw.prepare_threshold = 0
        if bind_on_server:
            import psycopg

            raw.cursor_factory = psycopg.Cursor
    try:
        yield
    finally:
        raw.cursor_factory, raw.prepare_threshold = factory, threshold


def execute(sql: str, params: Sequence) -> None:
    """Run one statement on the default connection (a write; `fetch_one` for one that returns a row)."""
    _run(sql, params, "")


def fetch_one(sql: str, params: Sequence) -> tuple | None:
    """The first row of a hot-path read (`%s` placeholders), prepared on PostgreSQL (see the module)."""
    return _run(sql, params, "one")


def fetch_all(sql: str, params: Sequence) -> list[tuple]:
    """Every row of a hot-path read (`%s` placeholders), prepared on PostgreSQL (see the module)."""
    return _run(sql, params, "all")


def _run(sql: str, params: Sequence, fetch: str) -> Any:
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if fetch == "all":
                return cursor.fetchall()
            return cursor.fetchone() if fetch else None
    import psycopg

    connection.ensure_connection()
    prepare = settings.OMNISHOP_DB_PREPARE
    out: list = [None]

    def run(sql: str, params: Sequence, many: bool, context: dict) -> None:
        # Errors as Django's (IntegrityError for a unique key, …), as its own cursors raise them.
        with (
            preparing(prepare),
            connection.wrap_database_errors,
            psycopg.RawCursor(connection.connection) as cursor,
        ):
            cursor.execute(numbered(sql), params, prepare=prepare)
            if fetch == "all":
                out[0] = cursor.fetchall()
            elif fetch:
                out[0] = cursor.fetchone()

    executor = run
    for wrapper in reversed(connection.execute_wrappers):  # as Django's CursorWrapper nests them
        executor = functools.partial(wrapper, executor)
    try:
        executor(sql, params, False, {"connection": connection, "cursor": None})
    finally:
        if connection.queries_logged:  # logged like Django's own statements, failed ones too
            connection.queries_log.append({"sql": sql, "time": "0.000"})
    return out[0]
