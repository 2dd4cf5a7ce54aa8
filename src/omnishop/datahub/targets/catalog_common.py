"""Helpers the catalog targets (products, suppliers, supplier offers) share: reading and recording the
ledger in bulk, narrowing a query to many keys with one parameter, and catalog errors as quarantine reasons."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import orjson
from django.db import connection
from django.utils import timezone

from omnishop.core.bulk import insert_rows
from omnishop.core.errors import DomainError

from ..models import ImportedRecord
from .base import Ledger

CHUNK = 2000  # keys per IN (...) query: well under SQLite's variable limit


def normalise_title(title: str) -> str:
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in folded).split())


def chunks(values: Iterable, size: int = CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def among(queryset, field: str, values: Iterable):
    """`queryset` narrowed to rows whose `field` is one of `values`, as one query per 10,000 values with one
    parameter: an array (`= ANY`) on PostgreSQL, a JSON array read by `json_each` on SQLite. An IN list of
    thousands of placeholders costs more to compile (Django) and parse (psycopg) than to run."""
    values = list(values)
    meta = queryset.model._meta
    column = meta.pk.column if field == "pk" else meta.get_field(field).column
    column = f"{connection.ops.quote_name(meta.db_table)}.{connection.ops.quote_name(column)}"
    for chunk in chunks(values, 10_000):
        if connection.vendor == "postgresql":
            yield queryset.extra(where=[f"{column} = ANY(%s)"], params=[chunk])
        elif connection.vendor == "sqlite":  # one JSON array parameter, read by SQLite's json_each
            yield queryset.extra(
                where=[f"{column} IN (SELECT value FROM json_each(%s))"],
                params=[orjson.dumps(chunk).decode()],
            )
        else:
            yield queryset.filter(**{f"{field}__in": chunk})


def load_ledger(ledger: Ledger, keys: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Ledger.load with one array parameter per 10,000 keys on PostgreSQL."""
    found: dict[str, tuple[int, str]] = {}
    stored = ImportedRecord.objects.filter(source=ledger.source, entity=ledger.entity)
    for queryset in among(stored, "natural_key", dict.fromkeys(keys)):
        for key, object_id, digest in queryset.values_list("natural_key", "object_id", "content_hash"):
            found[key] = (object_id, digest)
    return found


def record(ledger: Ledger, entries: dict[str, tuple[int, str]], existing: dict[str, tuple[int, str]]) -> None:
    """Ledger.record in bulk: new keys appended as plain rows, changed ones in one bulk update."""
    now, job_id = timezone.now(), ledger.job.pk if ledger.job is not None else None
    insert_rows(
        ImportedRecord._meta.db_table,
        ["source", "entity", "natural_key", "content_hash", "object_id", "last_job_id", "updated_at"],
        [
            (ledger.source, ledger.entity, key, digest, object_id, job_id, now)
            for key, (object_id, digest) in entries.items()
            if key not in existing
        ],
    )
    changed = {k: v for k, v in entries.items() if k in existing and existing[k] != v}
    records = []
    for queryset in among(
        ImportedRecord.objects.filter(source=ledger.source, entity=ledger.entity), "natural_key", changed
    ):
        for stored in queryset:
            stored.object_id, stored.content_hash = changed[stored.natural_key]
            stored.last_job = ledger.job
            records.append(stored)
    ImportedRecord.objects.bulk_update(records, ["object_id", "content_hash", "last_job"], batch_size=1000)


def reason_of(exc: DomainError) -> dict:
    """A catalog DomainError as a quarantine reason: the catalog's field, code and message."""
    return {"field": exc.field, "code": exc.code, "message": exc.message}


__all__ = ["normalise_title", "record"]
