"""Fixed-window counters and timed marks that every worker and process shares: in Redis when it is configured
(any cache but the database cache), else in the database (`RateCounter`), where each hit is one upsert. The database cache would do,
but each of its writes counts its whole table (`SELECT COUNT(*)`, to cull) and costs five statements: a chat
message paid 17 of its 23 statements that way. Used by the failed-credential limits, the chat (limits and
the shopper's presence) and the contact form."""

from __future__ import annotations

from datetime import timedelta

from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from django.utils import timezone

from .models import RateCounter

# One statement on PostgreSQL and SQLite (≥ 3.35): a window that has ended starts again at 1. The SET
# expressions read the row as it was, so both CASEs see the old window.
_HIT = """
INSERT INTO core_ratecounter (bucket, window_ends_at, hits) VALUES (%s, %s, 1)
ON CONFLICT (bucket) DO UPDATE SET
    hits = CASE WHEN core_ratecounter.window_ends_at <= %s THEN 1 ELSE core_ratecounter.hits + 1 END,
    window_ends_at = CASE WHEN core_ratecounter.window_ends_at <= %s
                          THEN excluded.window_ends_at ELSE core_ratecounter.window_ends_at END
RETURNING hits
"""
_MARK = """
INSERT INTO core_ratecounter (bucket, window_ends_at, hits) VALUES (%s, %s, 1)
ON CONFLICT (bucket) DO UPDATE SET window_ends_at = excluded.window_ends_at, hits = 1
"""


def _in_redis() -> bool:
    """Whether the shared cache is one worth counting in (Redis): not the database cache."""
    return not isinstance(caches["default"], DatabaseCache)


def count_hit(bucket: str, *, window_seconds: int) -> int:
    """Add one to `bucket` (created for `window_seconds`) and return the count so far in this window.

    Call it outside a transaction that may roll back: in the database, a rolled-back hit is not counted."""
    if not _in_redis():
        now = timezone.now()
        ends = now + timedelta(seconds=window_seconds)
        with connection.cursor() as cursor:
            cursor.execute(_HIT, [bucket, ends, now, now])
            return int(cursor.fetchone()[0])
    try:
        return cache.incr(bucket)  # the usual case first: the window's counter exists
    except ValueError:  # the window's first hit
        pass
    if cache.add(bucket, 1, timeout=window_seconds):
        return 1
    try:
        return cache.incr(bucket)  # another worker created it a moment ago
    except ValueError:  # expired between the two calls
        cache.set(bucket, 1, timeout=window_seconds)
        return 1


def mark(bucket: str, *, seconds: int) -> None:
    """Set a mark that `is_marked` sees for the next `seconds` (a shopper's presence, say)."""
    if _in_redis():
        cache.set(bucket, 1, timeout=seconds)
        return
    with connection.cursor() as cursor:
        cursor.execute(_MARK, [bucket, timezone.now() + timedelta(seconds=seconds)])


def is_marked(bucket: str) -> bool:
    if _in_redis():
        return bool(cache.get(bucket))
    return RateCounter.objects.filter(bucket=bucket, window_ends_at__gt=timezone.now()).exists()


def unmark(bucket: str) -> None:
    if _in_redis():
        cache.delete(bucket)
    else:
        RateCounter.objects.filter(bucket=bucket).delete()


def purge_expired(*, now=None) -> int:
    """Forget counters and marks whose window ended more than an hour ago (the database's; Redis expires its
    own)."""
    cutoff = (now or timezone.now()) - timedelta(hours=1)
    deleted, _ = RateCounter.objects.filter(window_ends_at__lt=cutoff).delete()
    return deleted
