"""Model instances from hand-written SQL, for the few hot-path reads where Django compiling a queryset costs
more CPU than the database answering it (support's e-mail ingest). The SQL is written once per process; rows
come back as ordinary model instances, converted exactly as a queryset converts them (the backend's and the
fields' `from_db_value` converters), so the code that uses them cannot tell the difference.

Use it only where a profile shows the ORM's compile time; everywhere else the queryset is clearer."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model

M = TypeVar("M", bound=Model)


@cache
def _fields(model: type[Model]) -> tuple:
    return tuple(model._meta.concrete_fields)


def columns(model: type[Model], alias: str) -> str:
    """The model's concrete columns as `alias."column", …`, in the order `instance` reads them."""
    return _columns(model, alias, connection.vendor)


@cache  # the same text for every request: quoted once per process
def _columns(model: type[Model], alias: str, vendor: str) -> str:
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in _fields(model))


def width(model: type[Model]) -> int:
    """How many values of a row `columns(model, …)` selects."""
    return len(_fields(model))


@cache
def _attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(f.attname for f in _fields(model))


@cache
def _converters(model: type[Model], vendor: str) -> tuple:
    out = []
    for f in _fields(model):
        col = f.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        out.append((col, tuple(found)))
    return tuple(out)


def instance(model: type[M], row: Sequence[Any], start: int = 0) -> M:
    """The model instance in `row[start:start + width(model)]` (selected with `columns(model, …)`)."""
    conn = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the `connection` proxy costs a lookup a use
    values = list(row[start : start + width(model)])
    for i, (col, converters) in enumerate(_converters(model, conn.vendor)):
        for convert in converters:
            values[i] = convert(values[i], col, conn)
    return model.from_db(conn.alias, _attnames(model), values)


def lock_suffix(alias: str) -> str:
    """`FOR UPDATE OF alias` where the database locks rows (PostgreSQL); '' where it does not (SQLite, whose
    transactions admit one writer at a time), as `select_for_update(of=…)` does."""
    if not connection.features.has_select_for_update:
        return ""
    if connection.features.has_select_for_update_of:
        return f" FOR UPDATE OF {alias}"
    return " FOR UPDATE"
