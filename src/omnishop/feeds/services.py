"""Catalogue feeds: which channels have one, the secret token in their URL, when the file is stale.

A feed file is generated once per *version* and kept on disk (OMNISHOP_FEEDS_DIR): its ETag is a hash of
the feed's version counter (bumped by the outbox `sink` on listing, product and stock events) and a cheap
fingerprint of what it shows (a few aggregates over the channel's listings, their products and variants and
the stock levels of its locations), so a change is seen even by a deployment without the relay running.
Conditional GETs with a matching ETag are answered 304 without touching the file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db.models import Count, F, Max
from django.utils import timezone

from omnishop.catalog.models import ChannelListing
from omnishop.channels.models import Channel
from omnishop.inventory.models import ChannelLocation, StockLevel

from .errors import FeedNotFound, UnknownFeedFormat
from .formats import feed_items, write_google_xml, write_meta_csv
from .models import ChannelFeed, GoogleCategory

FEED_KINDS = (Channel.Kind.WEB, Channel.Kind.SOCIAL, Channel.Kind.MARKETPLACE)


@dataclass(frozen=True)
class Format:
    name: str  # the URL's last part
    content_type: str


FORMATS = {
    "meta.csv": Format("meta.csv", "text/csv; charset=utf-8"),
    "google.xml": Format("google.xml", "application/xml; charset=utf-8"),
}
# Events after which a feed may show something else (core.outbox event types).
FEED_EVENTS = ("listing.changed", "stock.availability_changed", "product.")


def _new_token() -> str:
    return secrets.token_urlsafe(24)


def ensure_feed(*, channel: Channel) -> ChannelFeed:
    """The channel's feed, created (with a fresh token) the first time it is asked for."""
    feed, _ = ChannelFeed.objects.get_or_create(channel=channel, defaults={"token": _new_token()})
    return feed


def ensure_feeds() -> list[ChannelFeed]:
    """A feed for every active web, social and marketplace channel."""
    channels = Channel.objects.filter(is_active=True, kind__in=FEED_KINDS).order_by("code")
    return [ensure_feed(channel=channel) for channel in channels]


def rotate_token(*, feed: ChannelFeed) -> ChannelFeed:
    """A new secret: the old URL stops working at once (give the new one to the platforms)."""
    feed.token = _new_token()
    feed.token_rotated_at = timezone.now()
    feed.save(update_fields=["token", "token_rotated_at"])
    return feed


def feed_paths(feed: ChannelFeed) -> dict[str, str]:
    """The feed's URL paths (without scheme and host), one per format."""
    return {name: f"/feeds/{feed.channel.code}/{feed.token}/{name}" for name in FORMATS}


def find_feed(*, channel_code: str, token: str) -> ChannelFeed:
    """The enabled feed whose channel and token both match. Every failure is the same FeedNotFound, and the
    token is compared in constant time (against a dummy when the channel has no feed), so a caller learns
    nothing about which part was wrong."""
    feed = (
        ChannelFeed.objects.select_related("channel")
        .filter(channel__code=channel_code, channel__is_active=True, is_enabled=True)
        .first()
    )
    expected = feed.token if feed is not None else "x" * 32
    if not hmac.compare_digest(expected.encode(), (token or "").encode()) or feed is None:
        raise FeedNotFound()
    return feed


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise UnknownFeedFormat(field="format")
    return FORMATS[name]


def fingerprint(*, feed: ChannelFeed) -> str:
    """A cheap summary of everything the feed shows: if none of it changed, the file has not either."""
    channel = feed.channel
    listings = ChannelListing.objects.filter(channel=channel).aggregate(
        n=Count("pk"),
        listing_at=Max("updated_at"),
        variant_at=Max("variant__updated_at"),
        product_at=Max("variant__product__updated_at"),
    )
    locations = ChannelLocation.objects.filter(channel=channel).values_list("location_id", flat=True)
    stock = StockLevel.objects.filter(location_id__in=list(locations)).aggregate(
        n=Count("pk"), at=Max("updated_at")
    )
    parts = [
        feed.version,
        listings["n"],
        listings["listing_at"],
        listings["variant_at"],
        listings["product_at"],
    ]
    parts += [stock["n"], stock["at"], channel.updated_at]
    # The category mapping is a small table edited by hand: its content is part of the fingerprint.
    parts.append(sorted(GoogleCategory.objects.values_list("category_id", "google_product_category")))
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def etag(*, feed: ChannelFeed, fmt: Format, base_url: str) -> str:
    digest = hashlib.sha256(f"{fingerprint(feed=feed)}|{fmt.name}|{base_url}".encode()).hexdigest()
    return f'"{digest[:40]}"'


def _feeds_dir() -> Path:
    return Path(getattr(settings, "OMNISHOP_FEEDS_DIR", settings.VAR_DIR / "feeds"))


def open_feed_file(*, feed: ChannelFeed, fmt: Format, tag: str, base_url: str) -> BinaryIO:
    """The generated file for this ETag, opened for reading. An open file outlives its removal, so a
    concurrent request that replaces it with a newer one cannot pull it from under this reader."""
    for _ in range(3):
        path = feed_file(feed=feed, fmt=fmt, tag=tag, base_url=base_url)
        try:
            return path.open("rb")
        except FileNotFoundError:  # removed by a newer generation between the two calls: make ours again
            continue
    raise FileNotFoundError(path)


def feed_file(*, feed: ChannelFeed, fmt: Format, tag: str, base_url: str) -> Path:
    """The generated file for this ETag, written now if it is not on disk yet (streamed row by row into a
    temporary file, then renamed into place, so a reader never sees half a file). Older files of the same
    feed and format are removed."""
    folder = _feeds_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{feed.channel.code}-{fmt.name}"
    path = folder / f"{stem}-{tag.strip(chr(34))}"
    if path.exists():
        return path
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{stem}-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            items = feed_items(channel=feed.channel, base_url=base_url)
            if fmt.name == "meta.csv":
                write_meta_csv(items, out)
            else:
                write_google_xml(items, out, channel=feed.channel, base_url=base_url)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    for old in folder.glob(f"{stem}-*"):
        if old != path:
            old.unlink(missing_ok=True)
    return path


def sink(events: Iterable) -> None:
    """Outbox sink (settings OMNISHOP_OUTBOX_SINKS): bump the version of every feed an event may change —
    the event's channel, or every feed for a product event (a product is shown on many channels). Writes
    one UPDATE; no I/O."""
    channels: set[str] = set()
    every = False
    for event in events:
        if not event.type.startswith(FEED_EVENTS):
            continue
        if event.type.startswith("product.") or not event.channel:
            every = True
        else:
            channels.add(event.channel)
    feeds = ChannelFeed.objects.all()
    if not every:
        if not channels:
            return
        feeds = feeds.filter(channel__code__in=channels)
    feeds.update(version=F("version") + 1)
