"""Small factories for storefront tests: products with variants listed in channels."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.catalog.models import Category, ChannelListing, Product, ProductImage, Variant
from omnishop.inventory import services as inventory
from omnishop.orders.tests.conftest import Shop
from omnishop.search.services import index_products


@pytest.fixture
def make_category(db):
    def make(path: str, name: str | None = None) -> Category:
        parent = None
        built = []
        for slug in path.split("/"):
            built.append(slug)
            parent, _ = Category.objects.get_or_create(
                path="/".join(built), defaults={"parent": parent, "slug": slug, "name": name or slug.title()}
            )
        return parent

    return make


@pytest.fixture
def make_product(db):
    """A product with variants; `listings` maps a channel to per-variant (price, published, compare_at)."""
    counter = {"n": 0}

    def make(
        title: str = "Jumbo bag red retrospot",
        *,
        variants: int = 1,
        category: Category | None = None,
        images: int = 0,
        is_active: bool = True,
        attributes: dict | None = None,
        slug: str | None = None,
    ) -> Product:
        counter["n"] += 1
        n = counter["n"]
        product = Product.objects.create(
            title=title,
            slug=slug or f"product-{n}",
            description=f"{title}, a fine thing.",
            brand="Omnibrand",
            category=category,
            is_active=is_active,
            attributes=attributes or {"material": "cotton"},
        )
        for i in range(variants):
            Variant.objects.create(
                product=product,
                sku=f"SKU-{n}-{i}",
                title=f"Size {i}",
                position=i,
                attributes={"size": str(i)},
            )
        for i in range(images):
            ProductImage.objects.create(
                product=product,
                url=f"https://img.example.com/{product.slug}/{i}.jpg",
                alt=f"{title} {i}",
                position=i,
            )
        return product

    return make


@pytest.fixture
def list_in(db):
    """List every variant of `product` in `channel` (prices may be one value or one per variant)."""

    def list_(product, channel, prices="9.99", *, published=True, compare_at=None, title=""):
        variants = list(product.variants.order_by("position", "id"))
        if not isinstance(prices, list | tuple):
            prices = [prices] * len(variants)
        return [
            ChannelListing.objects.create(
                channel=channel,
                variant=variant,
                is_published=published,
                price=Decimal(price),
                compare_at_price=Decimal(compare_at) if compare_at is not None else None,
                currency=channel.currency,
                title=title,
            )
            for variant, price in zip(variants, prices, strict=True)
        ]

    return list_


@pytest.fixture
def store(web_channel, make_key, settings):
    """The web shop's test catalogue: a hoodie in three sizes (5, 1 and 0 in stock) and a T-shirt with a
    Chinese title, published on the web channel with stock, delivery and tax — built through services."""
    settings.OMNISHOP_WEB_CHANNEL = web_channel.code
    warehouse = inventory.create_location(code="web-wh", name="Warehouse")
    inventory.set_channel_locations(channel=web_channel, location_codes=[warehouse.code])
    shop = Shop(web_channel, warehouse, make_key)
    tops = Category.objects.create(name="Tops", slug="tops", path="tops")
    hoodie = Product.objects.create(
        title="Chaz Kangeroo Hoodie",
        slug="chaz-hoodie",
        brand="Luma",
        category=tops,
        description="A warm hoodie for cold mornings.",
        attributes={"material": "Cotton"},
    )
    for size, stock in (("S", 5), ("M", 1), ("L", 0)):
        variant = Variant.objects.create(
            product=hoodie, sku=f"HOOD-{size}", title=size, attributes={"size": size}
        )
        ChannelListing.objects.create(
            channel=web_channel, variant=variant, is_published=True, price=Decimal("52.00"), currency="GBP"
        )
        if stock:
            inventory.receive_stock(variant=variant, location=warehouse, quantity=stock, reference="test")
    tee = Product.objects.create(title="Zhen 真丝 T-shirt", slug="zhen-tee", brand="Luma", category=tops)
    variant = Variant.objects.create(product=tee, sku="TEE-1", title="One size")
    ChannelListing.objects.create(
        channel=web_channel, variant=variant, is_published=True, price=Decimal("19.50"), currency="GBP"
    )
    inventory.receive_stock(variant=variant, location=warehouse, quantity=20, reference="test")
    index_products()
    return shop


@pytest.fixture
def channels(make_channel):
    """Two web channels, `web` and `other`; made once per test, so Hypothesis's examples share them (and the
    test's transaction)."""
    return {"web": make_channel("web", "web", "GBP"), "other": make_channel("other", "web", "GBP")}
