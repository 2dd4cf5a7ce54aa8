"""Small factories for inventory tests: variants, locations linked to channels, stock received through services."""

from __future__ import annotations

import itertools

import pytest

from omnishop.catalog.models import Product, Supplier, SupplierOffer, Variant
from omnishop.inventory import services
from omnishop.inventory.models import StockLevel

_seq = itertools.count(1)


@pytest.fixture
def make_variant(db):
    def make(sku: str | None = None) -> Variant:
        n = next(_seq)
        product = Product.objects.create(title=f"Product {n}", slug=f"product-{n}")
        return Variant.objects.create(product=product, sku=sku or f"SKU-{n}")

    return make


@pytest.fixture
def make_location(db):
    def make(code: str, kind: str = "warehouse", **kwargs):
        return services.create_location(code=code, name=code.title(), kind=kind, **kwargs)

    return make


@pytest.fixture
def warehouse(make_location):
    return make_location("main-wh")


@pytest.fixture
def shop(web_channel, warehouse):
    """The web channel served by one warehouse."""
    services.set_channel_locations(channel=web_channel, location_codes=[warehouse.code])
    return web_channel


@pytest.fixture
def stock():
    def put(variant, location, quantity: int):
        services.receive_stock(variant=variant, location=location, quantity=quantity, reference="test")
        return StockLevel.objects.get(variant=variant, location=location)

    return put


@pytest.fixture
def level():
    def get(variant, location) -> StockLevel:
        return StockLevel.objects.get(variant=variant, location=location)

    return get


@pytest.fixture
def make_offer(db):
    def make(variant, supplier_code="acme", **kwargs):
        supplier, _ = Supplier.objects.get_or_create(
            code=supplier_code, defaults={"name": supplier_code.title()}
        )
        defaults = {"cost": "2.50", "currency": "GBP", "lead_time_days": 7, "is_preferred": True}
        return SupplierOffer.objects.create(supplier=supplier, variant=variant, **{**defaults, **kwargs})

    return make


def assert_books_balance():
    mismatches = services.verify_ledger()
    assert mismatches == []
