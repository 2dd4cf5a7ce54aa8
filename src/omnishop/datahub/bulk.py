"""Bulk helpers of the import hot path. The generic fast append (`insert_rows`: PostgreSQL COPY, SQLite
executemany) lives in `omnishop.core.bulk` so other apps use it too; it is re-exported here for callers."""

from __future__ import annotations

from django.db import connection

from omnishop.core.bulk import insert_rows

__all__ = ["existing_hashes", "insert_rows"]


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
