"""Shared counters and marks: one upsert a hit in the database (the embedded default, whose cache is the
database cache); with Redis the counters live in Redis (core/tests/test_auth_limits.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from omnishop.core import ratelimit
from omnishop.core.models import RateCounter

pytestmark = pytest.mark.django_db


def test_a_window_counts_its_hits_in_one_statement_each_and_starts_again_when_it_ends():
    with CaptureQueriesContext(connection) as queries:
        counts = [ratelimit.count_hit("login:ada", window_seconds=60) for _ in range(3)]
    assert counts == [1, 2, 3] and len(queries) == 3
    assert ratelimit.count_hit("login:bob", window_seconds=60) == 1  # buckets do not share a count
    RateCounter.objects.filter(bucket="login:ada").update(
        window_ends_at=timezone.now() - timedelta(seconds=1)
    )
    assert ratelimit.count_hit("login:ada", window_seconds=60) == 1
    row = RateCounter.objects.get(bucket="login:ada")
    assert row.window_ends_at > timezone.now() + timedelta(seconds=50)  # the new window's end


def test_a_mark_is_seen_until_it_expires_or_is_taken_away():
    assert ratelimit.is_marked("present:7") is False
    ratelimit.mark("present:7", seconds=30)
    ratelimit.mark("present:7", seconds=30)  # marking again only moves its end
    assert ratelimit.is_marked("present:7") and not ratelimit.is_marked("present:8")
    RateCounter.objects.filter(bucket="present:7").update(window_ends_at=timezone.now())
    assert ratelimit.is_marked("present:7") is False
    ratelimit.mark("present:7", seconds=30)
    ratelimit.unmark("present:7")
    assert ratelimit.is_marked("present:7") is False


def test_the_hourly_purge_forgets_windows_that_ended_an_hour_ago():
    ratelimit.count_hit("old", window_seconds=60)
    ratelimit.count_hit("new", window_seconds=60)
    RateCounter.objects.filter(bucket="old").update(window_ends_at=timezone.now() - timedelta(hours=2))
    assert ratelimit.purge_expired() == 1
    assert list(RateCounter.objects.values_list("bucket", flat=True)) == ["new"]
