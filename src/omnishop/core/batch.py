"""One round trip for a transaction's trailing writes (PostgreSQL).

Inside a `deferred()` block, writers whose rows nobody reads back in the same transaction — a timeline
entry, the dashboard's rollup upserts and facts, the outbox's events — hand their SQL to the block instead
of running it (`defer`); when the block ends without an error, the database receives all of it as the parts
of ONE statement (`WITH w0 AS (INSERT …), w1 AS (INSERT …) … SELECT 1`). Every part of a WITH runs to
completion whether or not it is read, all in the caller's transaction: an error in any part fails the
statement and, with it, the caller's transaction — nothing is half-written.

The parts share one snapshot and cannot see each other's rows, so two rules keep the result the same as
running the statements one by one: a writer defers only rows that no other part of the block writes again
(each table's upsert keys occur once per block), and a reader of a table whose writes may be pending calls
`flush()` first. Outside a block, or on SQLite, `defer` says no and the writer runs its own statement.
A savepoint rolled back inside the block would not take deferred parts with it: keep blocks free of caught
errors (the checkout's block holds its order's trailing writes only).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections

from . import statements

_state = threading.local()


@dataclass
class _Pending:
    parts: list[str] = field(default_factory=list)
    params: list = field(default_factory=list)
    keys: set[str] = field(default_factory=set)


def active() -> bool:
    """True inside a `deferred()` block on PostgreSQL (where `defer` accepts parts)."""
    return getattr(_state, "pending", None) is not None


def defer(parts: list[str], params: list, *, key: str = "") -> bool:
    """Keep `parts` (data-modifying statements, `%s` parameters in order) for the block's one statement;
    a part may read an earlier part of the same call by the name `{part0}`, `{part1}`… (its RETURNING).
    `key` names writes that may touch the same rows again (upserts of shared rollup rows): a second deferral
    with the same key sends what is pending first, so no statement upserts one row twice. Returns False — run
    the statement yourself — outside a block."""
    pending: _Pending | None = getattr(_state, "pending", None)
    if pending is None:
        return False
    if key and key in pending.keys:
        flush()
    if key:
        pending.keys.add(key)
    names = [f"w{len(pending.parts) + i}" for i in range(len(parts))]
    for sql in parts:
        for i, name in enumerate(names):
            sql = sql.replace(f"{{part{i}}}", name)
        pending.parts.append(sql)
    pending.params += params
    return True


def flush() -> None:
    """Send what is pending now (a reader of the deferred tables is about to run)."""
    pending: _Pending | None = getattr(_state, "pending", None)
    if pending is None or not pending.parts:
        return
    parts, params = pending.parts, pending.params
    pending.parts, pending.params, pending.keys = [], [], set()
    sql = "WITH " + ", ".join(f"w{i} AS ({part})" for i, part in enumerate(parts)) + " SELECT 1"
    statements.execute(sql, params)  # long: its placeholders converted once (core.statements)


class deferred:
    """The block whose trailing writes go as one statement when it ends (PostgreSQL only; elsewhere it does
    nothing). Must be inside the caller's transaction; an exception in the block writes nothing. Nested
    blocks belong to the outermost one."""

    def __enter__(self) -> None:
        self.owner = connection.vendor == "postgresql" and getattr(_state, "pending", None) is None
        if self.owner:
            _state.pending = _Pending()

    def __exit__(self, kind, value, traceback) -> None:
        if not self.owner:
            return
        try:
            if kind is None:
                flush()
        finally:
            _state.pending = None


def insert_sql(
    *instances, returning: str = "", expressions: dict[str, str] | None = None
) -> tuple[str, list]:
    """INSERT of model instances of one model (their concrete columns; an unset auto primary key left to the
    database; defaults such as auto_now_add applied as `save` would), for a deferred part or a statement of
    several. `expressions` gives a column SQL instead of the instance's value (e.g. an id from an earlier
    part: `{"order_id": "(SELECT id FROM o)"}`)."""
    model = type(instances[0])
    expressions = expressions or {}
    with_pk = getattr(instances[0], model._meta.pk.attname) is not None
    fields, head, valued = _insert_shape(model, with_pk, tuple(expressions))
    conn = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the `connection` proxy costs a lookup a use
    rows, values = [], []
    for instance in instances:
        row = []
        for f, takes_value in zip(fields, valued, strict=True):
            if takes_value:
                row.append("%s")
                values.append(f.get_db_prep_save(f.pre_save(instance, True), conn))
            else:
                row.append(expressions[f.column])
        rows.append(f"({', '.join(row)})")
    sql = f"{head} VALUES {', '.join(rows)}"
    if returning:
        sql += f" RETURNING {returning}"
    return sql, values


@cache
def _insert_shape(model, with_pk: bool, expressed: tuple[str, ...]) -> tuple[tuple, str, tuple[bool, ...]]:
    """The fields an INSERT of `model` writes, its `INSERT INTO table (columns)` text, and which fields take a
    value (the others an expression): the same for every insert of that shape, built once per process."""
    meta = model._meta
    fields = tuple(
        f for f in meta.concrete_fields if not (f.primary_key and not with_pk) or f.column in expressed
    )
    qn = connections[DEFAULT_DB_ALIAS].ops.quote_name
    head = f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)})"
    return fields, head, tuple(f.column not in expressed for f in fields)
