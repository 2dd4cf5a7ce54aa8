"""Fixtures for connector tests: a shop with stock and listings on a marketplace channel, the two fakes
(real HTTP servers on 127.0.0.1) and a connection to each."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.connectors import services
from omnishop.connectors.fakes import shopify as fake_shopify
from omnishop.connectors.fakes import woocommerce as fake_woo
from omnishop.inventory import services as inventory

_seq = itertools.count(1)


@dataclass
class Event:
    """The fields of core.OutboxEvent the sink reads."""

    type: str
    channel: str
    payload: dict
    event_id: str = field(default_factory=lambda: f"evt_{next(_seq):026d}")


@pytest.fixture(autouse=True)
def connector_settings(settings):
    settings.OMNISHOP_EGRESS_ALLOW_LOOPBACK = True
    settings.OMNISHOP_CONNECTOR_TIMEOUT = 0.5
    settings.OMNISHOP_CONNECTOR_BACKOFF_SECONDS = 0.0
    return settings


class Shop:
    def __init__(self, channel, warehouse):
        self.channel = channel
        self.warehouse = warehouse

    def variant(self, *, sku: str, price: str = "10.00", stock: int = 10, published: bool = True) -> Variant:
        n = next(_seq)
        product = Product.objects.create(title=f"Product {sku}", slug=f"product-{n}", description="Nice.")
        variant = Variant.objects.create(product=product, sku=sku)
        ChannelListing.objects.create(
            channel=self.channel,
            variant=variant,
            is_published=published,
            price=Decimal(price),
            currency=self.channel.currency,
        )
        if stock:
            inventory.receive_stock(
                variant=variant, location=self.warehouse, quantity=stock, reference="test"
            )
        return variant

    def available(self, variant) -> int:
        return inventory.availability_for(channel=self.channel, variant_ids=[variant.pk])[variant.pk]


def make_shop(make_channel, code: str) -> Shop:
    channel = make_channel(code, "marketplace", "GBP")
    warehouse = inventory.create_location(code=f"wh-{code}", name=f"Warehouse {code}")
    inventory.set_channel_locations(channel=channel, location_codes=[warehouse.code])
    from omnishop.orders import services as orders

    orders.set_tax_rate(channel=channel, country="GB", rate="0.20")
    return Shop(channel, warehouse)


@pytest.fixture
def shopify_fake():
    server = fake_shopify.serve()
    server.app.hang_seconds = 1.5
    yield server
    server.stop()


@pytest.fixture
def woo_fake():
    server = fake_woo.serve()
    server.app.hang_seconds = 1.5
    yield server
    server.stop()


@pytest.fixture
def shopify_shop(make_channel, shopify_fake):
    shop = make_shop(make_channel, "shopify-uk")
    shop.fake = shopify_fake.app
    shop.connection = services.connect_channel(
        channel=shop.channel,
        kind="shopify",
        base_url=shopify_fake.url,
        access_token="shpat_demo",
        webhook_secret="shopify-app-secret",
        location_id=fake_shopify.LOCATION,
        rate_per_second=1000,
        burst=1000,
    )
    return shop


@pytest.fixture
def woo_shop(make_channel, woo_fake):
    shop = make_shop(make_channel, "woo-uk")
    shop.fake = woo_fake.app
    shop.connection = services.connect_channel(
        channel=shop.channel,
        kind="woocommerce",
        base_url=woo_fake.url,
        consumer_key="ck_demo",
        consumer_secret="cs_demo",
        webhook_secret="woo-webhook-secret",
        rate_per_second=1000,
        burst=1000,
    )
    return shop


def drain(max_rounds: int = 50) -> int:
    """Run the worker until nothing is due (tasks waiting for a backoff are made due at once)."""
    from django.utils import timezone

    from omnishop.connectors.models import ChannelConnection, ConnectorTask

    total = 0
    for _ in range(max_rounds):
        ChannelConnection.objects.update(next_allowed_at=None)
        ConnectorTask.objects.filter(status="pending").update(next_attempt_at=timezone.now())
        worked = services.work_due()
        total += worked
        if not ConnectorTask.objects.filter(status__in=["pending", "running"]).exists():
            break
    return total
