"""Request and response shapes of the catalog API. Money travels as decimal strings with an ISO currency."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import Field

from omnishop.core.money import quantize, quantize_unit_cost
from omnishop.core.schemas import Id, InputSchema, Int32, OutputSchema, Page, RefusesNul

from .suppliers import offer_landed_unit_cost

AttributeType = Literal["text", "number", "boolean", "choice"]
AttributeValues = dict[str, Any]
# Ids and counts the database can hold: an id past 64 bits or a count past 32 bits is a 422, not a 500.
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
Positive = Annotated[int, Field(ge=1, le=2**31 - 1)]


class CatalogQuery(RefusesNul):
    """The catalog's query parameters: NUL characters refused as input (422), as in every body."""


class CatalogIn(InputSchema, CatalogQuery):
    """Request bodies: unknown fields and NUL characters are refused."""


# --- categories and attributes ------------------------------------------------------------------


class CategoryIn(CatalogIn):
    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(default=None, max_length=100)
    parent_id: Id | None = None
    position: Count = 0


class CategoryPatch(CatalogIn):
    name: str | None = Field(default=None, max_length=200)
    slug: str | None = Field(default=None, max_length=100)
    parent_id: Id | None = None
    position: Count | None = None


class CategoryOut(OutputSchema):
    id: int
    name: str
    slug: str
    path: str
    parent_id: int | None
    position: int


class CategoryPage(Page):
    items: list[CategoryOut]


class AttributeIn(CatalogIn):
    code: str = Field(min_length=1, max_length=50)
    name: str = Field(min_length=1, max_length=200)
    type: AttributeType = "text"
    choices: list[str] = Field(default_factory=list, max_length=500)
    is_variant_axis: bool = False


class AttributePatch(CatalogIn):
    name: str | None = Field(default=None, max_length=200)
    type: AttributeType | None = None
    choices: list[str] | None = Field(default=None, max_length=500)
    is_variant_axis: bool | None = None


class AttributeOut(OutputSchema):
    id: int
    code: str
    name: str
    type: str
    choices: list[str]
    is_variant_axis: bool


class AttributePage(Page):
    items: list[AttributeOut]


# --- listings -----------------------------------------------------------------------------------


class ListingIn(CatalogIn):
    """Upsert of one listing; fields left out keep their stored values (price is needed for a new one)."""

    price: str | None = Field(default=None, description='Decimal string, e.g. "19.99".')
    compare_at_price: str | None = None
    currency: str | None = Field(default=None, description="Must equal the channel's currency if sent.")
    is_published: bool | None = None
    title: str | None = Field(default=None, max_length=500)


class BulkListingItem(ListingIn):
    sku: str | None = Field(default=None, max_length=64)
    variant_id: Id | None = None


class BulkListingsIn(CatalogIn):
    listings: list[BulkListingItem] = Field(min_length=1, max_length=1000)


class ListingOut(OutputSchema):
    channel: str
    variant_id: int
    sku: str
    is_published: bool
    price: str
    compare_at_price: str | None
    currency: str
    title: str
    published_at: datetime | None
    updated_at: datetime

    @staticmethod
    def resolve_channel(obj) -> str:
        return obj.channel.code

    @staticmethod
    def resolve_sku(obj) -> str:
        return obj.variant.sku

    @staticmethod
    def resolve_price(obj) -> str:
        return str(quantize(obj.price, obj.currency))

    @staticmethod
    def resolve_compare_at_price(obj) -> str | None:
        return None if obj.compare_at_price is None else str(quantize(obj.compare_at_price, obj.currency))


class ListingPage(Page):
    items: list[ListingOut]


class BulkListingsOut(Schema):
    items: list[ListingOut]


# --- products, variants, images -----------------------------------------------------------------


class VariantIn(CatalogIn):
    sku: str = Field(min_length=1, max_length=64)
    gtin: str | None = Field(default=None, max_length=14)
    title: str = Field(default="", max_length=300)
    attributes: AttributeValues = Field(default_factory=dict)
    weight_grams: Count | None = None
    position: Count | None = None
    is_active: bool = True


class VariantPatch(CatalogIn):
    sku: str | None = Field(default=None, max_length=64)
    gtin: str | None = Field(default=None, max_length=14)
    title: str | None = Field(default=None, max_length=300)
    attributes: AttributeValues | None = None
    weight_grams: Count | None = None
    position: Count | None = None
    is_active: bool | None = None


class NestedImageIn(CatalogIn):
    url: str = Field(min_length=1, max_length=1000)
    alt: str = Field(default="", max_length=300)
    position: Count | None = None
    variant_sku: str | None = Field(default=None, description="SKU of one of the new variants it shows.")


class ImageIn(CatalogIn):
    url: str = Field(min_length=1, max_length=1000)
    alt: str = Field(default="", max_length=300)
    position: Count | None = None
    variant_id: Id | None = None


class ImagePatch(CatalogIn):
    url: str | None = Field(default=None, max_length=1000)
    alt: str | None = Field(default=None, max_length=300)
    position: Count | None = None
    variant_id: Id | None = None


class ProductIn(CatalogIn):
    title: str = Field(min_length=1, max_length=500)
    slug: str | None = Field(default=None, max_length=200)
    description: str = ""
    brand: str = Field(default="", max_length=200)
    category_id: Id | None = None
    attributes: AttributeValues = Field(default_factory=dict)
    is_active: bool = True
    variants: list[VariantIn] = Field(default_factory=list, max_length=500)
    images: list[NestedImageIn] = Field(default_factory=list, max_length=100)


class ProductPatch(CatalogIn):
    title: str | None = Field(default=None, max_length=500)
    slug: str | None = Field(default=None, max_length=200)
    description: str | None = None
    brand: str | None = Field(default=None, max_length=200)
    category_id: Id | None = None
    attributes: AttributeValues | None = None
    is_active: bool | None = None


class ImageOut(OutputSchema):
    id: int
    product_id: int
    variant_id: int | None
    url: str
    alt: str
    position: int


class VariantOut(OutputSchema):
    id: int
    product_id: int
    sku: str
    gtin: str | None
    title: str
    attributes: AttributeValues
    weight_grams: int | None
    position: int
    is_active: bool
    created_at: datetime
    updated_at: datetime
    listings: list[ListingOut] = Field(description="Listings of the channels the caller may see.")

    @staticmethod
    def resolve_listings(obj) -> list:
        return getattr(obj, "visible_listings", [])


class VariantPage(Page):
    items: list[VariantOut]


class CategoryRef(OutputSchema):
    id: int
    path: str


class ProductOut(OutputSchema):
    id: int
    title: str
    slug: str
    description: str
    brand: str
    category: CategoryRef | None
    attributes: AttributeValues
    is_active: bool
    created_at: datetime
    updated_at: datetime
    variants: list[VariantOut]
    images: list[ImageOut]

    @staticmethod
    def resolve_variants(obj) -> list:
        return list(obj.variants.all())

    @staticmethod
    def resolve_images(obj) -> list:
        return list(obj.images.all())


class ProductPage(Page):
    items: list[ProductOut]


# --- suppliers and offers -----------------------------------------------------------------------


class SupplierIn(CatalogIn):
    code: str = Field(min_length=1, max_length=50)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(default="", max_length=254)
    phone: str = Field(default="", max_length=40)
    country: str = Field(default="", max_length=2)
    city: str = Field(default="", max_length=200)
    postcode: str = Field(default="", max_length=20)
    currency: str = Field(default="GBP", max_length=3)
    default_lead_time_days: Int32 = Field(default=7, ge=0, le=3650)
    is_active: bool = True


class SupplierPatch(CatalogIn):
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=40)
    country: str | None = Field(default=None, max_length=2)
    city: str | None = Field(default=None, max_length=200)
    postcode: str | None = Field(default=None, max_length=20)
    currency: str | None = Field(default=None, max_length=3)
    default_lead_time_days: Int32 | None = Field(default=None, ge=0, le=3650)
    is_active: bool | None = None


class SupplierOut(OutputSchema):
    id: int
    code: str
    name: str
    email: str
    phone: str
    country: str
    city: str
    postcode: str
    currency: str
    default_lead_time_days: int
    is_active: bool


class SupplierPage(Page):
    items: list[SupplierOut]


class OfferIn(CatalogIn):
    supplier_id: Id
    variant_id: Id
    cost: str = Field(description='Unit cost as a decimal string (up to 4 places), e.g. "2.1250".')
    currency: str | None = Field(default=None, description="Defaults to the supplier's currency.")
    lead_time_days: Int32 | None = Field(default=None, ge=0, le=3650)
    min_order_quantity: Positive = 1
    pack_size: Positive = 1
    supplier_sku: str = Field(default="", max_length=100)
    is_preferred: bool = False
    freight_per_unit: str = Field(
        default="0",
        description='Freight a unit in the offer\'s currency, decimal string (up to 4 places), e.g. "0.3500".',
    )
    duty_percent: str = Field(
        default="0", description='Import duty as a percentage of the cost, 0 to 999.9999, e.g. "12.5".'
    )


class OfferPatch(CatalogIn):
    cost: str | None = None
    currency: str | None = None
    lead_time_days: Int32 | None = Field(default=None, ge=0, le=3650)
    min_order_quantity: Positive | None = None
    pack_size: Positive | None = None
    supplier_sku: str | None = Field(default=None, max_length=100)
    is_preferred: bool | None = None
    freight_per_unit: str | None = None
    duty_percent: str | None = None


class OfferOut(OutputSchema):
    id: int
    supplier_id: int
    supplier_code: str
    variant_id: int
    sku: str
    supplier_sku: str
    cost: str
    currency: str
    lead_time_days: int
    min_order_quantity: int
    pack_size: int
    is_preferred: bool
    freight_per_unit: str
    duty_percent: str
    landed_unit_cost: str = Field(
        description="cost + freight_per_unit + duty_percent % of cost, rounded half up to 4 places."
    )
    updated_at: datetime

    @staticmethod
    def resolve_supplier_code(obj) -> str:
        return obj.supplier.code

    @staticmethod
    def resolve_sku(obj) -> str:
        return obj.variant.sku

    @staticmethod
    def resolve_cost(obj) -> str:
        return str(obj.cost)

    @staticmethod
    def resolve_freight_per_unit(obj) -> str:
        return str(quantize_unit_cost(Decimal(obj.freight_per_unit)))

    @staticmethod
    def resolve_duty_percent(obj) -> str:
        return str(quantize_unit_cost(Decimal(obj.duty_percent)))

    @staticmethod
    def resolve_landed_unit_cost(obj) -> str:
        return str(offer_landed_unit_cost(obj))


class OfferPage(Page):
    items: list[OfferOut]


# --- list filters -------------------------------------------------------------------------------


class ListParams(CatalogQuery):
    cursor: str | None = None
    limit: Int32 = 20
    ordering: str = "id"


class ProductFilters(ListParams):
    q: str | None = Field(default=None, description="Substring of title, description, brand or SKU.")
    category: Id | None = Field(default=None, description="Category id; includes its whole subtree.")
    is_active: bool | None = None
    updated_since: datetime | None = None
    sku: str | None = None
    supplier: Id | None = Field(default=None, description="Supplier id (needs cost access).")


class VariantFilters(ProductFilters):
    product: Id | None = None
    gtin: str | None = Field(default=None, description="Any GTIN length; matches the same trade item.")


class ListingFilters(ListParams):
    is_published: bool | None = None
    sku: str | None = None
    q: str | None = None
    updated_since: datetime | None = None


class CategoryFilters(ListParams):
    ordering: str = "path"
    parent: Id | None = Field(default=None, description="Direct children of this category.")
    within: Id | None = Field(default=None, description="The whole subtree of this category.")
    q: str | None = None


class AttributeFilters(ListParams):
    ordering: str = "code"
    q: str | None = None
    is_variant_axis: bool | None = None


class SupplierFilters(ListParams):
    ordering: str = "code"
    q: str | None = None
    is_active: bool | None = None
    country: str | None = None


class OfferFilters(ListParams):
    supplier: Id | None = None
    variant: Id | None = None
    sku: str | None = None
    is_preferred: bool | None = None
