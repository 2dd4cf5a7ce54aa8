"""Response shapes of the storefront API, for the OpenAPI document.

The endpoints render their dicts with orjson directly (no per-request pydantic validation on this hot
path); tests check that real responses match these schemas.
"""

from __future__ import annotations

from ninja import Schema


class CategoryOut(Schema):
    path: str
    name: str


class ImageOut(Schema):
    url: str
    alt: str


class PriceRangeOut(Schema):
    currency: str
    min: str
    max: str


class AvailabilityOut(Schema):
    in_stock: bool
    quantity: int


class ProductCardOut(Schema):
    id: int
    slug: str
    title: str
    category: CategoryOut | None
    image: ImageOut | None
    price: PriceRangeOut
    compare_at_price: str | None
    availability: AvailabilityOut | None


class ProductPageOut(Schema):
    items: list[ProductCardOut]
    next_cursor: str | None


class ProductImageOut(Schema):
    url: str
    alt: str
    variant_id: int | None


class VariantOut(Schema):
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
    category: CategoryOut | None
    attributes: dict
    images: list[ProductImageOut]
    price: PriceRangeOut
    compare_at_price: str | None
    availability: AvailabilityOut | None
    variants: list[VariantOut]
