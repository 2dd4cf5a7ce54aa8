"""A social shop and a web shop sharing one warehouse, products with images, listings and stock."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from omnishop.catalog.models import ChannelListing, Product, ProductImage, Variant
from omnishop.feeds import services
from omnishop.inventory import services as inventory

_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def _feeds_dir(settings, tmp_path):
    settings.OMNISHOP_FEEDS_DIR = tmp_path / "feeds"
    settings.OMNISHOP_FEEDS_BASE_URL = "https://shop.example"


class Catalogue:
    def __init__(self, social, web, warehouse):
        self.social, self.web, self.warehouse = social, web, warehouse
        self.feed = services.ensure_feed(channel=social)

    def product(
        self,
        *,
        title="Mug",
        description="A mug.",
        brand="Acme",
        price="12.50",
        compare_at=None,
        stock=5,
        published=True,
        channel=None,
        gtin=None,
        images=1,
    ) -> Variant:
        n = next(_seq)
        product = Product.objects.create(title=title, slug=f"p-{n}", description=description, brand=brand)
        variant = Variant.objects.create(product=product, sku=f"SKU-{n}", gtin=gtin)
        for i in range(images):
            ProductImage.objects.create(product=product, url=f"https://img.example/{n}/{i}.jpg", position=i)
        ChannelListing.objects.create(
            channel=channel or self.social,
            variant=variant,
            is_published=published,
            price=Decimal(price),
            compare_at_price=Decimal(compare_at) if compare_at else None,
            currency="GBP",
        )
        if stock:
            inventory.receive_stock(variant=variant, location=self.warehouse, quantity=stock, reference="t")
        return variant

    def url(self, name: str, token: str | None = None) -> str:
        return f"/feeds/{self.social.code}/{token or self.feed.token}/{name}"


@pytest.fixture
def catalogue(make_channel):
    social = make_channel("insta", "social", "GBP")
    web = make_channel("web", "web", "GBP")
    warehouse = inventory.create_location(code="wh", name="Warehouse")
    for channel in (social, web):
        inventory.set_channel_locations(channel=channel, location_codes=["wh"])
    return Catalogue(social, web, warehouse)
