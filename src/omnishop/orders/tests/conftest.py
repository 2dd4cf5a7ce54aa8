"""Small factories for order tests: a shop (channel, warehouse, listings, stock, methods, tax) built via services."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.inventory import services as inventory
from omnishop.inventory.models import StockLevel
from omnishop.orders import services
from omnishop.payments import credit

_seq = itertools.count(1)

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Analytical Row",
    "city": "London",
    "postcode": "N1 1AA",
    "country": "GB",
}
CARD_OK = "4242424242424242"


class Shop:
    def __init__(self, channel, warehouse, make_key):
        self.channel = channel
        self.warehouse = warehouse
        self.key = make_key(channel)
        self.standard = services.create_shipping_method(
            channel=channel, code="standard", name="Standard", kind="flat", price="4.95"
        )
        services.set_tax_rate(channel=channel, country="GB", rate="0.20")
        services.set_tax_rate(channel=channel, country="*", rate="0.10")

    def variant(
        self,
        *,
        price: str = "10.00",
        stock: int = 10,
        sku: str | None = None,
        weight: int | None = None,
        published: bool = True,
        location=None,
    ) -> Variant:
        n = next(_seq)
        product = Product.objects.create(title=f"Product {n}", slug=f"product-{n}")
        variant = Variant.objects.create(product=product, sku=sku or f"SKU-{n}", weight_grams=weight)
        ChannelListing.objects.create(
            channel=self.channel,
            variant=variant,
            is_published=published,
            price=Decimal(price),
            currency=self.channel.currency,
        )
        if stock:
            inventory.receive_stock(
                variant=variant, location=location or self.warehouse, quantity=stock, reference="test"
            )
        return variant

    def stock(self, variant, location=None) -> StockLevel:
        return StockLevel.objects.get(variant=variant, location=location or self.warehouse)

    def checkout(
        self,
        lines: dict,
        *,
        key: str = "k1",
        card: str = CARD_OK,
        provider: str = "test_card",
        customer=None,
        method: str = "standard",
        address=ADDRESS,
    ):
        return services.place_order(
            channel=self.channel,
            quantities={v.sku if hasattr(v, "sku") else v: q for v, q in lines.items()},
            shipping_method=method,
            shipping_address=address,
            payment=services.PaymentRequest(provider=provider, token=card),
            key=key,
            customer=customer,
            email="ada@example.com",
            actor="test",
        )


@pytest.fixture
def shop(web_channel, make_key):
    warehouse = inventory.create_location(code="main-wh", name="Main warehouse")
    inventory.set_channel_locations(channel=web_channel, location_codes=[warehouse.code])
    return Shop(web_channel, warehouse, make_key)


@pytest.fixture
def customer(db):
    from omnishop.customers.models import Customer

    return Customer.objects.create(email="ada@example.com", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def give_credit():
    def give(customer, amount: str, currency: str = "GBP"):
        return credit.issue_credit(
            customer=customer, amount=Decimal(amount), currency=currency, key=f"gift-{next(_seq)}"
        )

    return give


def assert_books_balance():
    assert inventory.verify_ledger() == []
    assert credit.verify_credit_ledger() == []
