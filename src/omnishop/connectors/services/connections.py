"""Connections: connecting a channel, "sync now", and the channel's own webhooks (verified, then queued)."""

from __future__ import annotations

from omnishop.catalog.models import ChannelListing
from omnishop.channels.models import Channel
from omnishop.core.errors import ValidationFailed

from ..base import connector_for
from ..errors import BadWebhookSignature, ChannelRejected, ConnectionNotFound
from ..models import ChannelConnection
from .queue import enqueue


def connect_channel(
    *,
    channel: Channel,
    kind: str,
    base_url: str,
    access_token: str = "",
    consumer_key: str = "",
    consumer_secret: str = "",
    webhook_secret: str = "",
    location_id: str = "",
    rate_per_second: float = 2.0,
    burst: int = 10,
) -> ChannelConnection:
    """Connect a sales channel to its remote shop (one connection per channel)."""
    if kind not in ChannelConnection.Kind.values:
        raise ValidationFailed(f"Choose one of {', '.join(ChannelConnection.Kind.values)}.", field="kind")
    if kind == "shopify" and not (access_token and location_id):
        raise ValidationFailed("Shopify needs an access token and a location id.", field="access_token")
    if kind == "woocommerce" and not (consumer_key and consumer_secret):
        raise ValidationFailed("WooCommerce needs a consumer key and secret.", field="consumer_key")
    connection, _ = ChannelConnection.objects.update_or_create(
        channel=channel,
        defaults={
            "kind": kind,
            "base_url": base_url.rstrip("/"),
            "access_token": access_token,
            "consumer_key": consumer_key,
            "consumer_secret": consumer_secret,
            "webhook_secret": webhook_secret,
            "location_id": location_id,
            "rate_per_second": rate_per_second,
            "burst": burst,
            "tokens": float(burst),
            "is_active": True,
        },
    )
    return connection


def get_connection(*, kind: str, channel_code: str) -> ChannelConnection:
    found = (
        ChannelConnection.objects.select_related("channel")
        .filter(kind=kind, channel__code=channel_code, is_active=True)
        .first()
    )
    if found is None:
        raise ConnectionNotFound(
            f"Channel '{channel_code}' has no active {kind} connection.", field="channel_code"
        )
    return found


def handle_webhook(*, kind: str, channel_code: str, headers, body: bytes) -> dict:
    """Verify the channel's signature over the raw body, then queue what it asks (pull that order).

    Nothing is applied from the webhook's body itself: the order is fetched from the API by the worker, so a
    forged or replayed body can at most cause one more (idempotent) pull.
    """
    connection = get_connection(kind=kind, channel_code=channel_code)
    connector = connector_for(connection)
    if connector.is_ping(headers=headers, body=body):
        return {"topic": "ping", "queued": False}
    if not connector.verify_webhook(headers=headers, body=body):
        raise BadWebhookSignature()
    try:
        intent = connector.parse_webhook(headers=headers, body=body)
    except ChannelRejected as exc:
        raise ValidationFailed(exc.message, field="body") from None
    queued = False
    if intent.remote_order_id:
        enqueue(connection=connection, operation="pull_order", key=intent.remote_order_id)
        queued = True
    return {"topic": intent.topic, "queued": queued}


def sync_now(*, connection: ChannelConnection, listings: bool = True) -> int:
    """Pull orders and push every published SKU's stock — and its listing (price, publication; created on
    the channel when missing), unless `listings=False` (admin "sync now"); returns the tasks queued."""
    enqueue(connection=connection, operation="pull_orders")
    skus = ChannelListing.objects.filter(channel=connection.channel, is_published=True).values_list(
        "variant__sku", flat=True
    )
    n = 1
    for sku in skus.iterator():
        if listings:
            enqueue(connection=connection, operation="listing", key=sku, payload={"reason": "sync_now"})
            n += 1
        enqueue(connection=connection, operation="stock", key=sku, payload={"reason": "sync_now"})
        n += 1
    return n


def pull_all_connections() -> int:
    """Scheduled: queue an order pull for every active connection (webhooks make it faster, not needed)."""
    n = 0
    for connection in ChannelConnection.objects.filter(is_active=True):
        enqueue(connection=connection, operation="pull_orders")
        n += 1
    return n
