"""Catalog API under /api/v1/catalog: categories, attributes, products with variants and images, each
channel's listings, suppliers and their offers. Parse → call a service → serialise; rules live in services.

Who may do what: reads of the product master need staff view permission or a key with `catalog:read`;
writes need the staff add/change/delete permission or `catalog:write`. A channel's listings are read and
written only by that channel's own key or by staff. Suppliers and offers (costs) are private merchant
data: staff or keys with `catalog:write`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Status

from omnishop.auth import channel_key, staff
from omnishop.channels import services as channel_services
from omnishop.core.errors import PermissionDenied, ValidationFailed
from omnishop.core.idempotency import IDEMPOTENCY_KEY, idempotent
from omnishop.core.pagination import PageResult, paginate
from omnishop.core.schemas import ERRORS

from . import services
from .listings import ListingChange
from .models import Attribute, Category, ChannelListing, Product, Supplier, SupplierOffer, Variant
from .schemas import (
    AttributeFilters,
    AttributeIn,
    AttributeOut,
    AttributePage,
    AttributePatch,
    BulkListingsIn,
    BulkListingsOut,
    CategoryFilters,
    CategoryIn,
    CategoryOut,
    CategoryPage,
    CategoryPatch,
    Id,
    ImageIn,
    ImageOut,
    ImagePatch,
    ListingFilters,
    ListingIn,
    ListingOut,
    ListingPage,
    OfferFilters,
    OfferIn,
    OfferOut,
    OfferPage,
    OfferPatch,
    ProductFilters,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
    SupplierFilters,
    SupplierIn,
    SupplierOut,
    SupplierPage,
    SupplierPatch,
    VariantFilters,
    VariantIn,
    VariantOut,
    VariantPage,
    VariantPatch,
)

router = Router(tags=["catalog"])


# A channel key reads the master data and adds to it with catalog:write; changing or deleting what every
# channel shares (deactivating a product takes it off every channel) needs catalog:master, which ordinary
# keys do not get. Staff go by their Django permissions.
SCOPE_FOR_ACTION = {"view": "catalog:read", "add": "catalog:write", "change": "catalog:master"}


def _can(model: str, action: str) -> list:
    """Product-master access: staff with the Django permission, or a channel key with the scope."""
    scope = SCOPE_FOR_ACTION.get(action, "catalog:master")
    return [channel_key(scope), staff(f"catalog.{action}_{model}")]


def _acting_channel(request: HttpRequest):
    """The channel a key acts for (its deletions may not take other channels' listings with them)."""
    return request.auth.channel if request.auth.kind == "channel" else None


def _private(model: str, action: str) -> list:
    """Suppliers and costs: staff with the permission, or a key allowed to write the catalog."""
    return [channel_key("catalog:write"), staff(f"catalog.{action}_{model}")]


LISTING_READ = [channel_key("catalog:read"), staff("catalog.view_channellisting")]
LISTING_WRITE = [channel_key("catalog:write"), staff("catalog.change_channellisting")]
LISTING_DELETE = [channel_key("catalog:write"), staff("catalog.delete_channellisting")]


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _page(page: PageResult) -> dict:
    return {"items": page.items, "next_cursor": page.next_cursor}


# Fields a PATCH may set to null (clearing them); null anywhere else is a 422, not a silent default.
NULLABLE = frozenset({"parent_id", "category_id", "gtin", "weight_grams", "variant_id", "compare_at_price"})


def _changes(body) -> dict:
    """The fields the client sent, for a partial update."""
    changes = body.dict(exclude_unset=True)
    for name, value in changes.items():
        if value is None and name not in NULLABLE:
            raise ValidationFailed(f"{name} may not be null.", field=name)
    return changes


def _may_see_costs(request: HttpRequest) -> bool:
    auth = request.auth
    if auth.kind == "channel":
        return "catalog:write" in auth.scopes
    return auth.kind == "staff" and auth.user.has_perm("catalog.view_supplieroffer")


def _visible_listings(request: HttpRequest) -> QuerySet[ChannelListing]:
    """A channel key sees its own channel's listings only; staff see all with the view permission."""
    auth = request.auth
    if auth.kind == "channel":
        return ChannelListing.objects.filter(channel=auth.channel).select_related("channel")
    if auth.kind == "staff" and auth.user.has_perm("catalog.view_channellisting"):
        return ChannelListing.objects.select_related("channel").order_by("channel__code")
    return ChannelListing.objects.none()


def _variants(request: HttpRequest) -> QuerySet[Variant]:
    return Variant.objects.prefetch_related(
        Prefetch("listings", queryset=_visible_listings(request), to_attr="visible_listings")
    )


def _products(request: HttpRequest) -> QuerySet[Product]:
    return Product.objects.select_related("category").prefetch_related(
        Prefetch("variants", queryset=_variants(request).order_by("position", "id")), "images"
    )


def _channel(request: HttpRequest, code: str):
    """The channel in the path, if the caller may see it; another channel's key gets the same 404 as a
    channel that does not exist, so keys cannot probe which channels exist."""
    if "\x00" in code:  # PostgreSQL cannot compare NUL characters; no channel code has one
        raise channel_services.ChannelNotFound(f"No channel '{code}'.", field="code")
    channel = channel_services.get_channel(code)
    if not request.auth.can_see_channel(channel):
        raise channel_services.ChannelNotFound(f"No channel '{code}'.", field="code")
    return channel


def _category(category_id: Id | None, *, field: str = "category_id") -> Category | None:
    if category_id is None:
        return None
    return services.get_category(category_id, field=field)


# --- categories ---------------------------------------------------------------------------------


@router.get("/categories", response={200: CategoryPage, **ERRORS}, auth=_can("category", "view"))
def list_categories(request: HttpRequest, filters: Query[CategoryFilters]):
    qs = Category.objects.all()
    if filters.parent is not None:
        qs = qs.filter(parent=services.get_category(filters.parent, field="parent"))
    if filters.within is not None:
        qs = qs & services.category_subtree(services.get_category(filters.within, field="within"))
    if filters.q:
        qs = qs.filter(Q(name__icontains=filters.q) | Q(path__icontains=filters.q))
    page = paginate(
        qs,
        cursor=filters.cursor,
        limit=filters.limit,
        ordering=filters.ordering,
        allowed=("id", "path", "name", "position"),
    )
    return _page(page)


@router.post("/categories", response={201: CategoryOut, **ERRORS}, auth=_can("category", "add"))
def create_category(request: HttpRequest, body: CategoryIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    def build():
        parent = _category(body.parent_id, field="parent_id")
        category = services.create_category(
            name=body.name, slug=body.slug, parent=parent, position=body.position
        )
        return CategoryOut.from_orm(category)

    return idempotent(request, idempotency_key, 201, build)


@router.get("/categories/{category_id}", response={200: CategoryOut, **ERRORS}, auth=_can("category", "view"))
def get_category(request: HttpRequest, category_id: Id):
    return services.get_category(category_id)


@router.patch(
    "/categories/{category_id}", response={200: CategoryOut, **ERRORS}, auth=_can("category", "change")
)
def update_category(request: HttpRequest, category_id: Id, body: CategoryPatch):
    category = services.get_category(category_id)
    changes = _changes(body)
    if "parent_id" in changes:
        parent_id = changes.pop("parent_id")
        changes["parent"] = (
            services.get_category(parent_id, field="parent_id") if parent_id is not None else None
        )
    return services.update_category(category=category, **changes)


@router.delete("/categories/{category_id}", response={204: None, **ERRORS}, auth=_can("category", "delete"))
def delete_category(request: HttpRequest, category_id: Id):
    services.delete_category(category=services.get_category(category_id))
    return Status(204, None)


# --- attributes ---------------------------------------------------------------------------------


@router.get("/attributes", response={200: AttributePage, **ERRORS}, auth=_can("attribute", "view"))
def list_attributes(request: HttpRequest, filters: Query[AttributeFilters]):
    qs = Attribute.objects.all()
    if filters.q:
        qs = qs.filter(Q(code__icontains=filters.q) | Q(name__icontains=filters.q))
    if filters.is_variant_axis is not None:
        qs = qs.filter(is_variant_axis=filters.is_variant_axis)
    page = paginate(
        qs,
        cursor=filters.cursor,
        limit=filters.limit,
        ordering=filters.ordering,
        allowed=("id", "code", "name"),
    )
    return _page(page)


@router.post("/attributes", response={201: AttributeOut, **ERRORS}, auth=_can("attribute", "add"))
def create_attribute(request: HttpRequest, body: AttributeIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    return idempotent(
        request, idempotency_key, 201, lambda: AttributeOut.from_orm(services.create_attribute(**body.dict()))
    )


@router.get(
    "/attributes/{attribute_id}", response={200: AttributeOut, **ERRORS}, auth=_can("attribute", "view")
)
def get_attribute(request: HttpRequest, attribute_id: Id):
    return services.get_attribute(attribute_id)


@router.patch(
    "/attributes/{attribute_id}", response={200: AttributeOut, **ERRORS}, auth=_can("attribute", "change")
)
def update_attribute(request: HttpRequest, attribute_id: Id, body: AttributePatch):
    return services.update_attribute(attribute=services.get_attribute(attribute_id), **_changes(body))


@router.delete("/attributes/{attribute_id}", response={204: None, **ERRORS}, auth=_can("attribute", "delete"))
def delete_attribute(request: HttpRequest, attribute_id: Id):
    services.delete_attribute(attribute=services.get_attribute(attribute_id))
    return Status(204, None)


# --- products -----------------------------------------------------------------------------------


@router.get("/products", response={200: ProductPage, **ERRORS}, auth=_can("product", "view"))
def list_products(request: HttpRequest, filters: Query[ProductFilters]):
    """Products with their variants, images and the caller's visible channel listings; no N+1."""
    if filters.supplier is not None and not _may_see_costs(request):
        raise PermissionDenied("Filtering by supplier needs access to supplier data.", field="supplier")
    qs = services.products_matching(
        q=filters.q,
        category=_category(filters.category, field="category"),
        is_active=filters.is_active,
        updated_since=_aware(filters.updated_since),
        sku=filters.sku,
        supplier_id=filters.supplier,
        queryset=_products(request),
    )
    page = paginate(
        qs,
        cursor=filters.cursor,
        limit=filters.limit,
        ordering=filters.ordering,
        allowed=("id", "title", "created_at", "updated_at"),
    )
    return _page(page)


@router.post("/products", response={201: ProductOut, **ERRORS}, auth=_can("product", "add"))
def create_product(request: HttpRequest, body: ProductIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    """Create a product with nested variants and images: all of it or, on any error, nothing."""

    def build():
        product = services.create_product(
            title=body.title,
            slug=body.slug,
            description=body.description,
            brand=body.brand,
            category=_category(body.category_id),
            attributes=body.attributes,
            is_active=body.is_active,
            variants=[services.NewVariant(**v.dict()) for v in body.variants],
            images=[services.NewImage(**i.dict()) for i in body.images],
        )
        return ProductOut.from_orm(_products(request).get(pk=product.pk))

    return idempotent(request, idempotency_key, 201, build)


@router.get("/products/{product_id}", response={200: ProductOut, **ERRORS}, auth=_can("product", "view"))
def get_product(request: HttpRequest, product_id: Id):
    return services.get_product(product_id, queryset=_products(request))


@router.patch("/products/{product_id}", response={200: ProductOut, **ERRORS}, auth=_can("product", "change"))
def update_product(request: HttpRequest, product_id: Id, body: ProductPatch):
    changes = _changes(body)
    if "category_id" in changes:
        changes["category"] = _category(changes.pop("category_id"))
    product = services.update_product(product=services.get_product(product_id), **changes)
    return _products(request).get(pk=product.pk)


@router.delete("/products/{product_id}", response={204: None, **ERRORS}, auth=_can("product", "delete"))
def delete_product(request: HttpRequest, product_id: Id):
    services.delete_product(product=services.get_product(product_id), acting_channel=_acting_channel(request))
    return Status(204, None)


# --- variants and images ------------------------------------------------------------------------


@router.get("/variants", response={200: VariantPage, **ERRORS}, auth=_can("variant", "view"))
def list_variants(request: HttpRequest, filters: Query[VariantFilters]):
    if filters.supplier is not None and not _may_see_costs(request):
        raise PermissionDenied("Filtering by supplier needs access to supplier data.", field="supplier")
    qs = services.variants_matching(
        q=filters.q,
        product_id=filters.product,
        category=_category(filters.category, field="category"),
        is_active=filters.is_active,
        updated_since=_aware(filters.updated_since),
        sku=filters.sku,
        gtin=filters.gtin,
        supplier_id=filters.supplier,
    ).prefetch_related(Prefetch("listings", queryset=_visible_listings(request), to_attr="visible_listings"))
    page = paginate(
        qs,
        cursor=filters.cursor,
        limit=filters.limit,
        ordering=filters.ordering,
        allowed=("id", "sku", "created_at", "updated_at"),
    )
    return _page(page)


@router.post(
    "/products/{product_id}/variants", response={201: VariantOut, **ERRORS}, auth=_can("variant", "add")
)
def add_variant(
    request: HttpRequest, product_id: Id, body: VariantIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    def build():
        variant = services.add_variant(
            product=services.get_product(product_id), variant=services.NewVariant(**body.dict())
        )
        return VariantOut.from_orm(_variants(request).get(pk=variant.pk))

    return idempotent(request, idempotency_key, 201, build)


@router.get("/variants/{variant_id}", response={200: VariantOut, **ERRORS}, auth=_can("variant", "view"))
def get_variant(request: HttpRequest, variant_id: Id):
    services.get_variant(variant_id)
    return _variants(request).get(pk=variant_id)


@router.patch("/variants/{variant_id}", response={200: VariantOut, **ERRORS}, auth=_can("variant", "change"))
def update_variant(request: HttpRequest, variant_id: Id, body: VariantPatch):
    variant = services.update_variant(variant=services.get_variant(variant_id), **_changes(body))
    return _variants(request).get(pk=variant.pk)


@router.delete("/variants/{variant_id}", response={204: None, **ERRORS}, auth=_can("variant", "delete"))
def delete_variant(request: HttpRequest, variant_id: Id):
    services.delete_variant(variant=services.get_variant(variant_id), acting_channel=_acting_channel(request))
    return Status(204, None)


@router.post(
    "/products/{product_id}/images", response={201: ImageOut, **ERRORS}, auth=_can("productimage", "add")
)
def add_image(
    request: HttpRequest, product_id: Id, body: ImageIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    def build():
        product = services.get_product(product_id)
        variant = services.get_variant(body.variant_id) if body.variant_id is not None else None
        image = services.add_image(
            product=product, url=body.url, alt=body.alt, position=body.position, variant=variant
        )
        return ImageOut.from_orm(image)

    return idempotent(request, idempotency_key, 201, build)


@router.patch("/images/{image_id}", response={200: ImageOut, **ERRORS}, auth=_can("productimage", "change"))
def update_image(request: HttpRequest, image_id: Id, body: ImagePatch):
    changes = _changes(body)
    if "variant_id" in changes:
        variant_id = changes.pop("variant_id")
        changes["variant"] = services.get_variant(variant_id) if variant_id is not None else None
    return services.update_image(image=services.get_image(image_id), **changes)


@router.delete("/images/{image_id}", response={204: None, **ERRORS}, auth=_can("productimage", "delete"))
def delete_image(request: HttpRequest, image_id: Id):
    services.delete_image(image=services.get_image(image_id))
    return Status(204, None)


# --- channel listings ---------------------------------------------------------------------------


def _listing_change(body, **extra) -> ListingChange:
    return ListingChange(**{**_changes(body), **extra})


@router.get("/channels/{code}/listings", response={200: ListingPage, **ERRORS}, auth=LISTING_READ)
def list_listings(request: HttpRequest, code: str, filters: Query[ListingFilters]):
    qs = services.listings_for_channel(
        channel=_channel(request, code),
        is_published=filters.is_published,
        sku=filters.sku,
        q=filters.q,
        updated_since=_aware(filters.updated_since),
    )
    page = paginate(
        qs,
        cursor=filters.cursor,
        limit=filters.limit,
        ordering=filters.ordering,
        allowed=("id", "price", "updated_at"),
    )
    return _page(page)


@router.post("/channels/{code}/listings/bulk", response={200: BulkListingsOut, **ERRORS}, auth=LISTING_WRITE)
def bulk_upsert_listings(
    request: HttpRequest, code: str, body: BulkListingsIn, idempotency_key: str | None = IDEMPOTENCY_KEY
):
    """Create or change up to 1000 listings of one channel; one bad row rejects the batch."""
    channel = _channel(request, code)

    def build():
        listings = services.bulk_upsert_listings(
            channel=channel, changes=[_listing_change(item) for item in body.listings]
        )
        return {"items": listings}  # conformed to BulkListingsOut, resolvers and all, by idempotent()

    return idempotent(request, idempotency_key, 200, build, schema=BulkListingsOut)


@router.get("/channels/{code}/listings/{variant_id}", response={200: ListingOut, **ERRORS}, auth=LISTING_READ)
def get_listing(request: HttpRequest, code: str, variant_id: Id):
    return services.get_listing(channel=_channel(request, code), variant_id=variant_id)


@router.put(
    "/channels/{code}/listings/{variant_id}", response={200: ListingOut, **ERRORS}, auth=LISTING_WRITE
)
def put_listing(request: HttpRequest, code: str, variant_id: Id, body: ListingIn):
    """Create or change this channel's listing of one variant (fields left out keep their values)."""
    channel = _channel(request, code)
    variant = services.get_variant(variant_id)
    return services.upsert_listing(channel=channel, variant=variant, change=_listing_change(body))


@router.delete("/channels/{code}/listings/{variant_id}", response={204: None, **ERRORS}, auth=LISTING_DELETE)
def delete_listing(request: HttpRequest, code: str, variant_id: Id):
    services.delete_listing(
        listing=services.get_listing(channel=_channel(request, code), variant_id=variant_id)
    )
    return Status(204, None)


# --- suppliers and offers -----------------------------------------------------------------------


@router.get("/suppliers", response={200: SupplierPage, **ERRORS}, auth=_private("supplier", "view"))
def list_suppliers(request: HttpRequest, filters: Query[SupplierFilters]):
    qs = Supplier.objects.all()
    if filters.q:
        qs = qs.filter(Q(code__icontains=filters.q) | Q(name__icontains=filters.q))
    if filters.is_active is not None:
        qs = qs.filter(is_active=filters.is_active)
    if filters.country:
        qs = qs.filter(country=filters.country.upper())
    page = paginate(
        qs,
        cursor=filters.cursor,
        limit=filters.limit,
        ordering=filters.ordering,
        allowed=("id", "code", "name"),
    )
    return _page(page)


@router.post("/suppliers", response={201: SupplierOut, **ERRORS}, auth=_private("supplier", "add"))
def create_supplier(request: HttpRequest, body: SupplierIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    return idempotent(
        request, idempotency_key, 201, lambda: SupplierOut.from_orm(services.create_supplier(**body.dict()))
    )


@router.get(
    "/suppliers/{supplier_id}", response={200: SupplierOut, **ERRORS}, auth=_private("supplier", "view")
)
def get_supplier(request: HttpRequest, supplier_id: Id):
    return services.get_supplier(supplier_id)


@router.patch(
    "/suppliers/{supplier_id}", response={200: SupplierOut, **ERRORS}, auth=_private("supplier", "change")
)
def update_supplier(request: HttpRequest, supplier_id: Id, body: SupplierPatch):
    return services.update_supplier(supplier=services.get_supplier(supplier_id), **_changes(body))


@router.delete(
    "/suppliers/{supplier_id}", response={204: None, **ERRORS}, auth=_private("supplier", "delete")
)
def delete_supplier(request: HttpRequest, supplier_id: Id):
    services.delete_supplier(supplier=services.get_supplier(supplier_id))
    return Status(204, None)


@router.get("/supplier-offers", response={200: OfferPage, **ERRORS}, auth=_private("supplieroffer", "view"))
def list_offers(request: HttpRequest, filters: Query[OfferFilters]):
    qs = SupplierOffer.objects.select_related("supplier", "variant")
    if filters.supplier is not None:
        qs = qs.filter(supplier_id=filters.supplier)
    if filters.variant is not None:
        qs = qs.filter(variant_id=filters.variant)
    if filters.sku:
        qs = qs.filter(variant__sku=filters.sku)
    if filters.is_preferred is not None:
        qs = qs.filter(is_preferred=filters.is_preferred)
    page = paginate(
        qs,
        cursor=filters.cursor,
        limit=filters.limit,
        ordering=filters.ordering,
        allowed=("id", "cost", "lead_time_days", "updated_at"),
    )
    return _page(page)


@router.post("/supplier-offers", response={201: OfferOut, **ERRORS}, auth=_private("supplieroffer", "add"))
def create_offer(request: HttpRequest, body: OfferIn, idempotency_key: str | None = IDEMPOTENCY_KEY):
    def build():
        fields = body.dict()
        supplier = services.get_supplier(fields.pop("supplier_id"))
        variant = services.get_variant(fields.pop("variant_id"))
        return OfferOut.from_orm(services.create_offer(supplier=supplier, variant=variant, **fields))

    return idempotent(request, idempotency_key, 201, build)


@router.get(
    "/supplier-offers/{offer_id}", response={200: OfferOut, **ERRORS}, auth=_private("supplieroffer", "view")
)
def get_offer(request: HttpRequest, offer_id: Id):
    return services.get_offer(offer_id)


@router.patch(
    "/supplier-offers/{offer_id}",
    response={200: OfferOut, **ERRORS},
    auth=_private("supplieroffer", "change"),
)
def update_offer(request: HttpRequest, offer_id: Id, body: OfferPatch):
    return services.update_offer(offer=services.get_offer(offer_id), **_changes(body))


@router.delete(
    "/supplier-offers/{offer_id}", response={204: None, **ERRORS}, auth=_private("supplieroffer", "delete")
)
def delete_offer(request: HttpRequest, offer_id: Id):
    services.delete_offer(offer=services.get_offer(offer_id))
    return Status(204, None)
