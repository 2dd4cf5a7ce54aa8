"""Response shapes of the storefront API, for the OpenAPI document.

The endpoints render their dicts with orjson directly (no per-request pydantic validation on this hot
path); tests check that real responses match these schemas.
"""

from __future__ import annotations

from ninja import Schema


class StorefrontCategoryOut(Schema):
    path: str
    name: str


class StorefrontImageOut(Schema):
    url: str
    alt: str


class PriceRangeOut(Schema):
    currency: str
    min: str
    max: str


class StorefrontAvailabilityOut(Schema):
    in_stock: bool
    quantity: int


class ProductCardOut(Schema):
    id: int
    slug: str
    title: str
    category: StorefrontCategoryOut | None
    image: StorefrontImageOut | None
    price: PriceRangeOut
    compare_at_price: str | None
    availability: StorefrontAvailabilityOut | None


class ProductPageOut(Schema):
    items: list[ProductCardOut]
    next_cursor: str | None


class ProductImageOut(Schema):
    url: str
    alt: str
    variant_id: int | None


class StorefrontVariantOut(Schema):
    id: int
    sku: str
    title: str
    attributes: dict
    price: str
    compare_at_price: str | None
    available: int | None
    in_stock: bool | None


class ProductDetailOut(Schema):
    id: int
    slug: str
    title: str
    description: str
    brand: str
    category: StorefrontCategoryOut | None
    attributes: dict
    images: list[ProductImageOut]
    price: PriceRangeOut
    compare_at_price: str | None
    availability: StorefrontAvailabilityOut | None
    variants: list[StorefrontVariantOut]
