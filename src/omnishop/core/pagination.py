"""Cursor pagination for list endpoints: stable under inserts, O(page) at any depth.

The cursor is an opaque, URL-safe encoding of the last row's sort value and primary key; the next page
is `WHERE (sort, id) > (last_sort, last_id)` (or `<` when descending), so pages never skip or repeat rows
when new ones arrive, unlike OFFSET.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import orjson
from django.db.models import Q, QuerySet

from .errors import ValidationFailed

MAX_LIMIT = 200


class InvalidCursor(ValidationFailed):
    code = "invalid_cursor"


class InvalidOrdering(ValidationFailed):
    code = "invalid_ordering"


@dataclass(frozen=True)
class PageResult:
    items: list
    next_cursor: str | None


def _encode(value) -> object:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, Decimal):
        return {"d": str(value)}
    return value


def _decode(value) -> object:
    if isinstance(value, dict):
        if "t" in value:
            return datetime.fromisoformat(value["t"])
        if "d" in value:
            return Decimal(value["d"])
    return value


def encode_cursor(ordering: str, sort_value, pk) -> str:
    raw = orjson.dumps([ordering, _encode(sort_value), pk])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, ordering: str) -> tuple[object, object]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_ordering, value, pk = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except Exception:
        raise InvalidCursor("The cursor is not one this API issued.", field="cursor") from None
    if cursor_ordering != ordering:
        raise InvalidCursor("The cursor was issued for another ordering.", field="cursor")
    return _decode(value), pk


def paginate(
    queryset: QuerySet,
    *,
    cursor: str | None,
    limit: int,
    ordering: str,
    allowed: Sequence[str],
) -> PageResult:
    """One page of `queryset` ordered by `ordering` (a field name, '-' for descending) then primary key."""
    if ordering.lstrip("-") not in allowed:
        raise InvalidOrdering(
            f"Cannot order by '{ordering}'; choose one of {', '.join(sorted(allowed))} (prefix '-' to reverse).",
            field="ordering",
        )
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    descending = ordering.startswith("-")
    field = ordering.lstrip("-")
    qs = queryset.order_by(ordering, "-pk" if descending else "pk")
    if cursor:
        value, pk = decode_cursor(cursor, ordering)
        if field == "pk" or field == "id":
            qs = qs.filter(pk__lt=pk) if descending else qs.filter(pk__gt=pk)
        elif descending:
            qs = qs.filter(Q(**{f"{field}__lt": value}) | Q(**{field: value, "pk__lt": pk}))
        else:
            qs = qs.filter(Q(**{f"{field}__gt": value}) | Q(**{field: value, "pk__gt": pk}))
    rows = list(qs[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(ordering, _attr(last, field), _attr(last, "pk"))
    return PageResult(items=rows, next_cursor=next_cursor)


def _attr(row, name):
    if isinstance(row, dict):
        return row["id"] if name == "pk" else row[name]
    return getattr(row, name)
