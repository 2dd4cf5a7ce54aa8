"""Small factories for storefront tests: products with variants listed in channels."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.catalog.models import Category, ChannelListing, Product, ProductImage, Variant


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
