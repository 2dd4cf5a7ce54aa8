"""Conditional requests and Cache-Control of public resources (core.http_cache, RFC 9110 §13)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils.http import http_date

from omnishop.core import http_cache

CHANGED_AT = datetime(2026, 12, 3, 9, 0, 0, 250000, tzinfo=UTC)


def _validators(*parts, settings) -> http_cache.Validators:
    settings.OMNISHOP_HTTP_CACHE_VERSION_TTL = 10**9
    return http_cache.version_validators(parts or ("v1",), last_modified=CHANGED_AT)


def test_the_same_version_gives_the_same_weak_tag_and_another_version_another(settings):
    first, same, other = (
        _validators("v1", settings=settings),
        _validators("v1", settings=settings),
        _validators("v2", settings=settings),
    )
    assert first.etag == same.etag != other.etag
    assert first.etag.startswith('W/"') and first.etag.endswith('"')


def test_if_none_match_matches_weakly_and_in_a_list(settings):
    validators = _validators(settings=settings)
    strong = validators.etag[2:]

    for header in (validators.etag, strong, f'"other", {validators.etag}', "*"):
        assert http_cache.is_not_modified(validators, if_none_match=header, if_modified_since=None), header
    assert not http_cache.is_not_modified(validators, if_none_match='W/"other"', if_modified_since=None)


def test_if_modified_since_counts_whole_seconds_and_yields_to_if_none_match(settings):
    validators = _validators(settings=settings)
    at_change = http_date(CHANGED_AT.timestamp())
    before = http_date(CHANGED_AT.timestamp() - 1)

    assert http_cache.is_not_modified(validators, if_none_match=None, if_modified_since=at_change)
    assert not http_cache.is_not_modified(validators, if_none_match=None, if_modified_since=before)
    assert not http_cache.is_not_modified(validators, if_none_match=None, if_modified_since="yesterday")
    assert not http_cache.is_not_modified(validators, if_none_match='"other"', if_modified_since=at_change)
    assert not http_cache.is_not_modified(validators, if_none_match=None, if_modified_since=None)


def test_no_tag_outlives_its_version_ttl_bucket(settings, monkeypatch):
    settings.OMNISHOP_HTTP_CACHE_VERSION_TTL = 300
    boundary = (int(CHANGED_AT.timestamp()) // 300 + 10) * 300  # a bucket boundary after the change
    monkeypatch.setattr(http_cache.time, "time", lambda: boundary - 0.5)
    before = http_cache.version_validators(["v1"], last_modified=CHANGED_AT)
    monkeypatch.setattr(http_cache.time, "time", lambda: boundary + 0.5)
    after = http_cache.version_validators(["v1"], last_modified=CHANGED_AT)

    assert before.etag != after.etag
    # Last-Modified is never before its bucket's start, so If-Modified-Since-only clients refresh too.
    assert after.last_modified == datetime.fromtimestamp(boundary, tz=UTC) > before.last_modified


def test_cache_control_is_public_with_the_configured_ages_or_private(settings):
    settings.OMNISHOP_HTTP_CACHE_MAX_AGE = 30
    settings.OMNISHOP_HTTP_CACHE_STALE_WHILE_REVALIDATE = 120

    assert http_cache.cache_control(public=True) == "public, max-age=30, stale-while-revalidate=120"
    assert http_cache.cache_control(public=False) == "private, max-age=0, must-revalidate"
