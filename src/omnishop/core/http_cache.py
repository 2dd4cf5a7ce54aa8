"""HTTP caching of public resources: validators (ETag, Last-Modified), conditional requests, Cache-Control.

Framework-neutral on purpose — it takes header strings and returns header pairs — so the Django views and
the storefront's lean WSGI path (ADR 0003) answer a conditional request the same way, from the same
settings. What a resource's validators are made of (a catalogue version, a body) is its owner's business;
this module turns them into headers and decides `304 Not Modified` (RFC 9110 §13.1–13.2). ADR 0024.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.utils.http import http_date, parse_etags, parse_http_date_safe


@dataclass(frozen=True)
class Validators:
    etag: str  # a quoted entity tag, weak: W/"…"
    last_modified: datetime  # aware UTC

    @property
    def last_modified_header(self) -> str:
        return http_date(self.last_modified.timestamp())


def version_validators(parts: Iterable[object], *, last_modified: datetime) -> Validators:
    """Validators of a resource derived from the version of what it shows (`parts`: any values whose
    change means the representation may have changed), not from its rendered body.

    The tag is weak: it names a version of the data, not bytes (callers put the version of their rendering
    code among the parts: a release may render the same data differently). It also carries the current
    OMNISHOP_HTTP_CACHE_VERSION_TTL bucket:
    a version read from maxima can miss a write whose transaction committed after a later one, so no tag
    outlives one bucket; Last-Modified is never before the bucket's start, for the same reason.
    """
    ttl = max(1, int(settings.OMNISHOP_HTTP_CACHE_VERSION_TTL))
    bucket = version_bucket()
    material = repr((bucket, *parts)).encode()
    tag = hashlib.blake2b(material, digest_size=12).hexdigest()
    floor = datetime.fromtimestamp(bucket * ttl, tz=UTC)
    return Validators(etag=f'W/"{tag}"', last_modified=max(last_modified, floor))


def version_bucket() -> int:
    """The current OMNISHOP_HTTP_CACHE_VERSION_TTL bucket (validators made in another bucket differ)."""
    return int(time.time()) // max(1, int(settings.OMNISHOP_HTTP_CACHE_VERSION_TTL))


def is_not_modified(
    validators: Validators, *, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """True when a GET/HEAD with these headers can be answered `304 Not Modified` (RFC 9110 §13.2.2):
    If-None-Match, when sent, decides alone (weak comparison); otherwise If-Modified-Since."""
    if if_none_match:
        return etag_matches(validators.etag, if_none_match)
    if if_modified_since:
        since = parse_http_date_safe(if_modified_since)
        return since is not None and int(validators.last_modified.timestamp()) <= since
    return False


def etag_matches(etag: str, if_none_match: str) -> bool:
    """Weak comparison of `etag` with an If-None-Match header value (a list of tags, or `*`)."""
    if if_none_match.strip() == "*":
        return True
    return _opaque(etag) in {_opaque(tag) for tag in parse_etags(if_none_match)}


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def cache_control(*, public: bool) -> str:
    """`public` with the configured short max-age and longer stale-while-revalidate, for anything a shared
    cache (CDN, reverse proxy) may keep; otherwise `private` and revalidated on every use."""
    if not public:
        return "private, max-age=0, must-revalidate"
    return (
        f"public, max-age={settings.OMNISHOP_HTTP_CACHE_MAX_AGE}, "
        f"stale-while-revalidate={settings.OMNISHOP_HTTP_CACHE_STALE_WHILE_REVALIDATE}"
    )


def headers(validators: Validators, *, public: bool) -> list[tuple[str, str]]:
    """The caching headers of a 200 or 304 answer."""
    return [
        ("ETag", validators.etag),
        ("Last-Modified", validators.last_modified_header),
        ("Cache-Control", cache_control(public=public)),
    ]
