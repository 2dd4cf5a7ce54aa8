"""Fast appends for the hot path (staging lines): PostgreSQL COPY, SQLite executemany — the same rows a
`bulk_create` would write, without building a model instance and an INSERT statement per row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from django.db import connection


def insert_rows(table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    if not rows:
        return
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    name = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(f"COPY {name} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        ops = connection.ops
        adapted = [
            tuple(
                ops.adapt_datetimefield_value(v)
                if isinstance(v, datetime)
                else str(v)
                if isinstance(v, Decimal)
                else v
                for v in row
            )
            for row in rows
        ]
        placeholders = ", ".join(["%s"] * len(columns))
        cursor.executemany(f"INSERT INTO {name} ({quoted}) VALUES ({placeholders})", adapted)


def existing_hashes(table: str, source: str, keys: list[str]) -> dict[str, str]:
    """natural_key -> content_hash of the rows of `source` among `keys`, in one statement (an array
    parameter on PostgreSQL rather than thousands of placeholders)."""
    if not keys:
        return {}
    name = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT natural_key, content_hash FROM {name} WHERE source = %s AND natural_key = ANY(%s)",
                [source, keys],
            )
            return dict(cursor.fetchall())
        found: dict[str, str] = {}
        for start in range(0, len(keys), 5000):
            chunk = keys[start : start + 5000]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT natural_key, content_hash FROM {name} WHERE source = %s AND natural_key IN ({marks})",
                [source, *chunk],
            )
            found.update(cursor.fetchall())
        return found
