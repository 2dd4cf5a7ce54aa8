"""The demo's outward half (issue 11): one channel of each connector type, so a newcomer sees stock pushes and
pulled orders happen.

- `marketplace-eu` is connected to a local fake WooCommerce store (REST v3, EUR);
- `social-shop`, a social-media shop selling the web shop's first 40 published SKUs at web prices, is
  connected to a local fake Shopify store (Admin GraphQL 2025-01, GBP);
- `store-london` has a registered till (`demo-till`) for the offline-first till protocol;
- every channel has catalogue feeds (Meta CSV, Google Merchant RSS) at a secret-token URL.

The fakes run inside the `omnishop demo` process while it serves (`start_fakes`); without it the connections
stay configured and their tasks wait (the relay retries) — marked offline in the banner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction

from omnishop.catalog import listings as catalog_listings
from omnishop.catalog.models import ChannelListing
from omnishop.channels import services as channel_services
from omnishop.channels.models import Channel
from omnishop.connectors import services as connectors
from omnishop.connectors.models import ChannelConnection
from omnishop.inventory import services as inventory
from omnishop.tills import services as tills

SOCIAL = "social-shop"
SOCIAL_SKUS = 40
SHOPIFY = {
    "access_token": "shpat_demo",
    "location_id": "gid://shopify/Location/1",
    "webhook_secret": "shopify-app-secret",
}
WOO = {"consumer_key": "ck_demo", "consumer_secret": "cs_demo", "webhook_secret": "woo-webhook-secret"}
TILL_DEVICE = "demo-till"


def fake_ports(port: int) -> dict[str, int]:
    """Where the fakes listen, next to the demo server: 8000 → Shopify 8701, WooCommerce 8702."""
    return {"shopify": port + 701, "woocommerce": port + 702}


@dataclass
class Integrations:
    connections: dict[str, str] = field(default_factory=dict)  # channel → "kind at url"
    till: str = ""
    feeds: dict[str, dict[str, str]] = field(default_factory=dict)  # channel → {format: path}


def ensure_integrations(channels: dict[str, Channel], *, port: int = 8000) -> Integrations:
    """Create what is missing (idempotent; no network: the fakes are started by the demo command)."""
    from omnishop.feeds import services as feeds

    ports = fake_ports(port)
    with transaction.atomic():
        social = _ensure_social_channel(channels["web"])
        connectors.connect_channel(
            channel=social, kind="shopify", base_url=f"http://127.0.0.1:{ports['shopify']}", **SHOPIFY
        )
        connectors.connect_channel(
            channel=channels["marketplace-eu"],
            kind="woocommerce",
            base_url=f"http://127.0.0.1:{ports['woocommerce']}",
            **WOO,
        )
        till, _ = tills.register_till(
            channel=channels["store-london"], device_id=TILL_DEVICE, location_code="store-london"
        )
        found = Integrations(till=till.public_id)
        for connection in ChannelConnection.objects.select_related("channel"):
            found.connections[connection.channel.code] = f"{connection.kind} at {connection.base_url}"
        for feed in feeds.ensure_feeds():
            found.feeds[feed.channel.code] = feeds.feed_paths(feed)
    return found


def _ensure_social_channel(web: Channel) -> Channel:
    social = Channel.objects.filter(code=SOCIAL).first()
    if social is None:
        social = channel_services.create_channel(
            code=SOCIAL,
            name="Social shop (Shopify, Instagram)",
            kind="social",
            currency="GBP",
            locale="en-GB",
            country="GB",
        )
        # Orders arrive from Shopify with their delivery already chosen: no shipping methods of our own.
        inventory.set_channel_locations(channel=social, location_codes=["warehouse-manchester"])
    if not ChannelListing.objects.filter(channel=social).exists():
        chosen = list(
            ChannelListing.objects.filter(channel=web, is_published=True)
            .select_related("variant")
            .order_by("variant__sku")[:SOCIAL_SKUS]
        )
        catalog_listings.bulk_upsert_listings(
            channel=social,
            changes=[
                catalog_listings.ListingChange(
                    variant=x.variant, price=x.price, compare_at_price=x.compare_at_price, is_published=True
                )
                for x in chosen
            ],
        )
    return social


class Fakes:
    """The two fake services, running in this process (daemon threads) until it ends."""

    def __init__(self, port: int) -> None:
        from omnishop.connectors.fakes import shopify, woocommerce

        ports = fake_ports(port)
        self.servers = {
            "shopify": shopify.serve(ports["shopify"], currency="GBP"),
            "woocommerce": woocommerce.serve(ports["woocommerce"], currency="EUR"),
        }

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


def start_fakes(port: int) -> Fakes:
    """Start the fakes and queue a full sync of both connected channels (the relay does the pushing)."""
    fakes = Fakes(port)
    for connection in ChannelConnection.objects.filter(is_active=True):
        connectors.sync_now(connection=connection)
    return fakes
