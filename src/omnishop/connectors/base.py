"""The connector interface a channel type implements, and the value objects it speaks in.

A connector is a thin translator between these objects and one channel's wire format. It never touches
our database: the shared machinery (services/) owns the queue, the mappings, cursors, rate limits, batching
and logs, and calls a connector with a batch of plain values. To add a channel type: subclass `Connector`,
implement each method for the channel's API, register the class in `KINDS` (and the kind in
`ChannelConnection.Kind`), write a fake of the channel under fakes/ and run the shared tests against it
(docs/connectors.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

from django.conf import settings

from omnishop.core import egress

from .errors import ChannelRateLimited, ChannelRejected, ChannelUnavailable
from .models import ChannelConnection


@dataclass
class RemoteRef:
    """Where one of our SKUs lives on the channel."""

    sku: str
    product_id: str
    variant_id: str = ""
    inventory_item_id: str = ""


@dataclass
class StockUpdate:
    ref: RemoteRef
    quantity: int
    expected: int | None = None  # the quantity we believe the channel shows (compare-and-set)


@dataclass
class ListingUpdate:
    """Price and publication of one SKU on the channel (title/description/images when creating)."""

    sku: str
    price: Decimal
    currency: str
    published: bool
    compare_at_price: Decimal | None = None
    ref: RemoteRef | None = None
    title: str = ""
    description: str = ""
    images: list[str] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class ItemResult:
    """The outcome of one item of a batch: ok, or the channel's error for just this item."""

    key: str
    ok: bool
    error_code: str = ""
    error_message: str = ""
    retryable: bool = False
    ref: RemoteRef | None = None
    quantity: int | None = None


@dataclass
class RemoteLine:
    sku: str
    quantity: int
    unit_price: str | None = None


@dataclass
class RemoteOrder:
    remote_id: str
    name: str
    updated_at: datetime
    status: str
    currency: str
    lines: list[RemoteLine]
    email: str = ""
    total: str | None = None
    shipping_total: str | None = None
    shipping_address: dict | None = None
    cancelled: bool = False
    paid: bool = False  # the channel took the money: only paid orders become our orders
    raw: dict = field(default_factory=dict)
    error: str = ""  # the channel sent something we cannot read: recorded as a failed import, not dropped


@dataclass
class OrderPage:
    orders: list[RemoteOrder]
    next_page: str | None  # opaque: a GraphQL endCursor, a page number


@dataclass
class ChannelView:
    """What the channel shows for one SKU (for reconcile)."""

    sku: str
    quantity: int | None
    price: Decimal | None
    published: bool | None = None


@dataclass
class WebhookIntent:
    """What a verified webhook asks of us: pull this order (or nothing)."""

    topic: str
    remote_order_id: str = ""


class Connector:
    """One channel type. Methods take and return the value objects above and raise `ChannelError`s."""

    kind: str = ""
    max_stock_batch: int = 100
    max_listing_batch: int = 100

    def __init__(self, connection: ChannelConnection) -> None:
        self.connection = connection

    # -- catalogue ---------------------------------------------------------------------------------------
    def find_listings(self, skus: list[str]) -> dict[str, RemoteRef]:
        """Look SKUs up on the channel (to map products that exist there already)."""
        raise NotImplementedError

    def publish_listings(self, updates: list[ListingUpdate]) -> list[ItemResult]:
        """Create (ref None) or update price/publication of listings; results carry the refs."""
        raise NotImplementedError

    def push_stock(self, updates: list[StockUpdate]) -> list[ItemResult]:
        raise NotImplementedError

    def read_listings(self, refs: list[RemoteRef]) -> dict[str, ChannelView]:
        """What the channel shows now, by SKU (reconcile); missing SKUs are absent."""
        raise NotImplementedError

    # -- orders ------------------------------------------------------------------------------------------
    def pull_orders(self, *, updated_since: datetime | None, page: str | None) -> OrderPage:
        raise NotImplementedError

    def fetch_order(self, remote_id: str) -> RemoteOrder:
        raise NotImplementedError

    def acknowledge_order(self, *, remote_id: str, our_number: str) -> None:
        raise NotImplementedError

    def push_fulfilment(
        self, *, remote_id: str, marker: str, carrier: str, tracking_number: str, tracking_url: str = ""
    ) -> bool:
        """Mark the order fulfilled with tracking; False when it already was (idempotent by `marker`)."""
        raise NotImplementedError

    def push_cancellation(self, *, remote_id: str, reason: str) -> bool:
        raise NotImplementedError

    def push_refund(
        self, *, remote_id: str, amount: Decimal, currency: str, reason: str, marker: str
    ) -> bool:
        raise NotImplementedError

    # -- webhooks ----------------------------------------------------------------------------------------
    def verify_webhook(self, *, headers, body: bytes) -> bool:
        raise NotImplementedError

    def parse_webhook(self, *, headers, body: bytes) -> WebhookIntent:
        raise NotImplementedError

    def is_ping(self, *, headers, body: bytes) -> bool:
        """The channel's unsigned "is this URL alive" call when a webhook is created (answered, nothing done)."""
        return False

    # -- shared helpers ----------------------------------------------------------------------------------
    def http(self, method: str, url: str, *, headers: dict, json=None) -> egress.Response:
        """One call through the egress client; transport failures and 429/5xx become ChannelErrors."""
        try:
            response = egress.request(
                method,
                url,
                headers=headers,
                json=json,
                timeout=settings.OMNISHOP_CONNECTOR_TIMEOUT,
                max_bytes=settings.OMNISHOP_CONNECTOR_MAX_BYTES,
                follow_redirects=False,
            )
        except egress.EgressFailed as exc:
            if exc.code == "too_large":
                raise ChannelRejected(
                    f"{method} {_path(url)}: the answer is too large", code="too_large"
                ) from None
            raise ChannelUnavailable(f"{method} {_path(url)}: {exc.code}", code=exc.code) from None
        except egress.EgressRefused as exc:
            raise ChannelRejected(
                f"Refused to call {_path(url)}: {exc.code}", code=f"egress_{exc.code}"
            ) from None
        if response.status_code == 429:
            raise ChannelRateLimited(
                f"{method} {_path(url)}: 429", retry_after=retry_after(response.headers.get("Retry-After"))
            )
        if response.status_code >= 500:
            raise ChannelUnavailable(f"{method} {_path(url)}: HTTP {response.status_code}", code="http_5xx")
        if response.status_code in (401, 403):
            raise ChannelRejected(
                f"{method} {_path(url)}: HTTP {response.status_code} (check the credentials)",
                code="unauthorised",
            )
        return response

    def require_https(self) -> None:
        """Credentials travel only over HTTPS (loopback fakes excepted when egress allows loopback)."""
        parts = urlsplit(self.connection.base_url)
        if parts.scheme == "https":
            return
        loopback_allowed = getattr(settings, "OMNISHOP_EGRESS_ALLOW_LOOPBACK", False)
        if (
            parts.scheme == "http"
            and loopback_allowed
            and parts.hostname in ("127.0.0.1", "localhost", "::1")
        ):
            return
        raise ChannelRejected("Credentials are only sent over HTTPS.", code="https_required")


def retry_after(value: str | None, default: float = 1.0) -> float:
    """Seconds from a Retry-After header (delta-seconds; an HTTP date counts as the default)."""
    try:
        return max(0.0, min(float(value), 3600.0)) if value is not None else default
    except ValueError:
        return default


def hmac_base64(secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, body)): the signature Shopify and WooCommerce both put on webhooks."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signature_matches(secret: str, body: bytes, given: str | None) -> bool:
    if not secret or not given:
        return False
    return hmac.compare_digest(hmac_base64(secret, body), given.strip())


def _path(url: str) -> str:
    # Errors name the path only: query strings may carry credentials on some channels.
    return urlsplit(url).path


def parse_order(parse, item) -> RemoteOrder:
    """`parse(item)`, or — for a malformed order — a RemoteOrder that carries the error and the raw payload,
    so one unreadable order is recorded instead of stopping every pull after it."""
    try:
        return parse(item)
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, ChannelRejected) as exc:
        raw = item if isinstance(item, dict) else {"value": repr(item)[:2000]}
        remote_id = (
            str(raw.get("id") or "") or "malformed:" + hashlib.sha256(repr(raw).encode()).hexdigest()[:16]
        )
        return RemoteOrder(
            remote_id=remote_id[:100],
            name=str(raw.get("name") or raw.get("number") or remote_id)[:100],
            updated_at=datetime(1970, 1, 1, tzinfo=UTC),
            status="",
            currency="",
            lines=[],
            raw=raw,
            error=f"{type(exc).__name__}: {exc}"[:500],
        )


def iterate_pages(fetch, first: str | None = None) -> Iterator[OrderPage]:
    page = fetch(first)
    yield page
    while page.next_page:
        page = fetch(page.next_page)
        yield page


KINDS: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    KINDS[cls.kind] = cls
    return cls


def connector_for(connection: ChannelConnection) -> Connector:
    from . import shopify, woocommerce  # noqa: F401  (each registers itself)

    try:
        return KINDS[connection.kind](connection)
    except KeyError:
        raise ChannelRejected(f"No connector for kind '{connection.kind}'.", code="unknown_kind") from None
