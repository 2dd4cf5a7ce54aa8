"""A store: a POS channel selling from one retail location, its listings and stock, one registered till."""

from __future__ import annotations

import itertools
import uuid
from decimal import Decimal

import pytest

from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.inventory import services as inventory
from omnishop.inventory.models import StockLevel, StockLocation
from omnishop.orders import services as orders

_seq = itertools.count(1)


class Store:
    def __init__(self, channel, location, key, api):
        self.channel = channel
        self.location = location
        self.key = key
        self.api = api.with_key(key)
        response = self.api.post(
            "/tills", {"device_id": "ipad-1", "location": location.code, "name": "Till 1"}
        )
        assert response.status_code == 201, response.content
        self.till = response.json()["id"]
        self.device = {"X-Till-Device": "ipad-1"}

    def variant(self, *, price: str = "10.00", stock: int = 5, published: bool = True) -> Variant:
        n = next(_seq)
        product = Product.objects.create(title=f"Mug {n}", slug=f"mug-{n}", description="A <b>mug</b>")
        variant = Variant.objects.create(product=product, sku=f"MUG-{n}")
        ChannelListing.objects.create(
            channel=self.channel,
            variant=variant,
            is_published=published,
            price=Decimal(price),
            currency="GBP",
        )
        if stock:
            inventory.receive_stock(variant=variant, location=self.location, quantity=stock, reference="t")
        return variant

    def level(self, variant) -> StockLevel:
        return StockLevel.objects.get(variant=variant, location=self.location)

    def allow_negative(self, allowed: bool = True) -> None:
        StockLocation.objects.filter(pk=self.location.pk).update(allows_negative_stock=allowed)

    def upload(self, sales: list[dict], *, sent_at: str | None = None):
        body = {"sales": sales}
        if sent_at:
            body["sent_at"] = sent_at
        return self.api.post(f"/tills/{self.till}/sales:batch", body, headers=self.device)


def sale(*lines, id: str | None = None, paid: str | None = None, currency: str = "GBP", **extra) -> dict:
    """A sale as a till queues it: lines are (variant or sku, quantity, unit price)."""
    lines = [{"sku": v if isinstance(v, str) else v.sku, "quantity": q, "unit_price": p} for v, q, p in lines]
    total = sum((Decimal(x["unit_price"]) * x["quantity"] for x in lines), Decimal(0))
    return {
        "id": id or str(uuid.uuid4()),
        "sold_at": "2026-12-01T09:30:00+01:00",
        "currency": currency,
        "lines": lines,
        "payments": [{"method": "cash", "amount": paid or f"{total:.2f}"}],
        **extra,
    }


@pytest.fixture
def store(make_channel, make_key, api):
    channel = make_channel("store-1", "pos_store", "GBP")
    location = inventory.create_location(
        code="store-1", name="Store 1", kind="retail_store", serves_pickup=True, ships_to_customers=False
    )
    inventory.set_channel_locations(channel=channel, location_codes=[location.code])
    orders.set_tax_rate(channel=channel, country="GB", rate="0.20")
    return Store(channel, location, make_key(channel), api)


def assert_books_balance():
    assert inventory.verify_ledger() == []
