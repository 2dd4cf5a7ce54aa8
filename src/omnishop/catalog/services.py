"""Catalog operations: products with their variants and images, and the queries that find them.

The category tree and attributes live in `taxonomy`, channel listings (prices per channel) in `listings`,
suppliers and their offers in `suppliers`; all are re-exported here so other apps import one module.

Every write validates first, then runs in one transaction, so a failed multi-row create leaves nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError, QuerySet, RestrictedError
from django.utils import timezone
from django.utils.text import slugify

from omnishop.core import outbox
from omnishop.core.errors import Conflict, ValidationFailed

from . import events
from . import gtin as gtins
from .errors import (
    DuplicateGtin,
    DuplicateSku,
    DuplicateSlug,
    DuplicateVariantAttributes,
    ListedOnOtherChannels,
    ProductInUse,
    ProductNotFound,
    SkuClash,
    VariantInUse,
    VariantNotFound,
    VariantNotInProduct,
)
from .fields import non_negative_int as _non_negative_int
from .fields import slug as _slug
from .fields import text as _text
from .gtin import validate_gtin
from .images import add_image, delete_image, get_image, update_image, validate_image_url
from .models import Attribute, Category, ChannelListing, Product, ProductImage, SupplierOffer, Variant
from .pricing import (
    PriceChange,
    PriceChangeResult,
    PricePreview,
    PricePreviewRow,
    PriceRule,
    apply_price_change,
    preview_price_change,
)
from .queries import products_matching, recently_changed_listings, unpublished_products, variants_matching
from .skus import sku_key
from .taxonomy import (
    attribute_registry,
    category_subtree,
    check_attribute_values,
    create_attribute,
    create_category,
    delete_attribute,
    delete_category,
    get_attribute,
    get_category,
    update_attribute,
    update_category,
)
from .unset import UNSET

# --- small validators ---------------------------------------------------------------------------


def _validate_sku(sku: object, *, field: str) -> str:
    sku = _text(sku, field=field, max_length=64)
    if not sku.isprintable():
        raise ValidationFailed("A SKU may not contain control characters.", field=field)
    return sku


# --- products and variants ----------------------------------------------------------------------


@dataclass(frozen=True)
class NewVariant:
    sku: str
    gtin: str | None = None
    title: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    weight_grams: int | None = None
    position: int | None = None
    is_active: bool = True


@dataclass(frozen=True)
class NewImage:
    url: str
    alt: str = ""
    position: int | None = None
    variant_sku: str | None = None  # the image shows this variant (one of the product's)


def get_product(product_id: int, *, queryset: QuerySet[Product] | None = None) -> Product:
    try:
        return (queryset if queryset is not None else Product.objects.all()).get(pk=product_id)
    except (Product.DoesNotExist, ValueError, TypeError):
        raise ProductNotFound(f"No product {product_id}.", field="product_id") from None


def get_variant(variant_id: int, *, field: str = "variant_id") -> Variant:
    try:
        return Variant.objects.select_related("product").get(pk=variant_id)
    except (Variant.DoesNotExist, ValueError, TypeError):
        raise VariantNotFound(f"No variant {variant_id}.", field=field) from None


def get_variant_by_sku(sku: str) -> Variant:
    try:
        return Variant.objects.select_related("product").get(sku=sku)
    except Variant.DoesNotExist:
        raise VariantNotFound(f"No variant with SKU '{sku}'.", field="sku") from None


def find_variant_by_gtin(code: str) -> Variant | None:
    """The variant a scanned barcode names, whichever GTIN length it was stored or scanned as."""
    normalised = validate_gtin(code)
    if normalised is None:
        return None
    return (
        Variant.objects.select_related("product").filter(gtin__in=gtins.equivalent_forms(normalised)).first()
    )


def _unique_slug(title: str) -> str:
    base = (slugify(title, allow_unicode=True) or "product")[:180]
    taken = set(Product.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _check_variants_free(
    specs: Sequence[tuple[str, str | None]], *, field_of, exclude_pk: int | None = None
) -> None:
    """Raise duplicate_sku / duplicate_gtin for the first (sku, gtin) pair already taken, in one query each."""
    seen_skus: dict[str, int] = {}  # by sku_key: 'sku-1' and 'SKU-1' are one SKU
    seen_gtins: dict[str, int] = {}
    for index, (sku, gtin) in enumerate(specs):
        if sku_key(sku) in seen_skus:
            raise DuplicateSku(
                f"SKU '{sku}' appears twice in the request.", field=field_of(index, "sku"), sku=sku
            )
        seen_skus[sku_key(sku)] = index
        if gtin:
            canonical = gtins.as_gtin14(gtin)
            if canonical in seen_gtins:
                raise DuplicateGtin(
                    f"GTIN '{gtin}' appears twice in the request.", field=field_of(index, "gtin"), gtin=gtin
                )
            seen_gtins[canonical] = index
    others = Variant.objects.exclude(pk=exclude_pk) if exclude_pk else Variant.objects.all()
    taken = dict(others.filter(sku_key__in=list(seen_skus)).values_list("sku_key", "sku"))
    if taken:
        index = min(seen_skus[k] for k in taken)
        sku = specs[index][0]
        existing = taken[sku_key(sku)]
        if existing == sku:
            raise DuplicateSku(f"SKU '{sku}' is already in use.", field=field_of(index, "sku"), sku=sku)
        raise SkuClash(
            f"SKU '{sku}' is the same as the existing SKU '{existing}' (SKUs ignore case and Unicode width).",
            field=field_of(index, "sku"),
            sku=sku,
            existing=existing,
        )
    if seen_gtins:
        forms = [f for g in seen_gtins for f in gtins.equivalent_forms(g.lstrip("0") or "0")]
        clashes = {gtins.as_gtin14(g) for g in others.filter(gtin__in=forms).values_list("gtin", flat=True)}
        if clashes:
            index = min(seen_gtins[c] for c in clashes)
            gtin = specs[index][1]
            raise DuplicateGtin(
                f"GTIN '{gtin}' is already used by another variant.", field=field_of(index, "gtin"), gtin=gtin
            )


def _check_distinct_options(attribute_sets: Sequence[Mapping], *, field_of, existing: Iterable[Mapping] = ()):
    seen = {tuple(sorted(a.items())) for a in existing if a}
    for index, attrs in enumerate(attribute_sets):
        if not attrs:
            continue
        key = tuple(sorted(attrs.items()))
        if key in seen:
            raise DuplicateVariantAttributes(
                "Another variant of this product has the same attribute values.",
                field=field_of(index, "attributes"),
            )
        seen.add(key)


def _clean_variant(spec: NewVariant, *, prefix: str, registry: Mapping[str, Attribute]) -> dict:
    weight = spec.weight_grams
    if weight is not None:
        weight = _non_negative_int(weight, field=f"{prefix}weight_grams")
    return {
        "sku": _validate_sku(spec.sku, field=f"{prefix}sku"),
        "gtin": validate_gtin(spec.gtin, field=f"{prefix}gtin"),
        "title": _text(spec.title or "", field=f"{prefix}title", max_length=300, required=False),
        "attributes": check_attribute_values(spec.attributes, field=f"{prefix}attributes", registry=registry),
        "weight_grams": weight,
        "is_active": bool(spec.is_active),
    }


def _raise_for_integrity(rows: Sequence[dict], *, field_of, exclude_pk: int | None = None) -> None:
    """After a unique violation lost to a concurrent writer, name the field that clashed."""
    _check_variants_free([(r["sku"], r["gtin"]) for r in rows], field_of=field_of, exclude_pk=exclude_pk)


def create_single_variant_products(*, rows: Sequence[tuple[str, str, str, dict]]) -> dict[str, int]:
    """Products of one variant each, in bulk, for rows of (sku, title, slug, attributes) — the stock codes
    an order-history import meets — exactly as `bulk_create` of the products and their variants writes them
    (defaults for every other field, no `save()`, no events); returns sku → variant id. On PostgreSQL one
    `INSERT … SELECT FROM unnest(arrays) RETURNING` per table instead of Django's per-object, per-field
    preparation (~100 µs a product). The caller owns the transaction; a taken slug or SKU raises
    IntegrityError, as `bulk_create` does."""
    if not rows:
        return {}
    if connection.vendor != "postgresql":
        products = [
            Product(title=title, slug=slug, attributes=attributes) for _, title, slug, attributes in rows
        ]
        Product.objects.bulk_create(products, batch_size=1000)
        variants = [Variant(product_id=p.pk, sku=row[0]) for row, p in zip(rows, products, strict=True)]
        Variant.objects.bulk_create(variants, batch_size=1000)
        return {variant.sku: variant.pk for variant in variants}
    now = timezone.now()
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(Product._meta.db_table)} (title, slug, description, brand, category_id, attributes, "
            "is_active, created_at, updated_at) SELECT r.title, r.slug, '', '', NULL, r.attributes::jsonb, TRUE, "
            "%s, %s FROM unnest(%s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS r(title, slug, attributes, n) "
            "ORDER BY r.n RETURNING slug, id",
            [
                now,
                now,
                [r[1] for r in rows],
                [r[2] for r in rows],
                [orjson.dumps(r[3]).decode() for r in rows],
            ],
        )
        product_ids = dict(cursor.fetchall())
        cursor.execute(
            f"INSERT INTO {qn(Variant._meta.db_table)} (product_id, sku, sku_key, gtin, title, attributes, "
            "weight_grams, position, is_active, created_at, updated_at) SELECT r.product_id, r.sku, r.sku_key, "
            "NULL, '', '{}'::jsonb, NULL, 0, TRUE, %s, %s FROM unnest(%s::bigint[], %s::text[], %s::text[]) "
            "WITH ORDINALITY AS r(product_id, sku, sku_key, n) ORDER BY r.n RETURNING sku, id",
            [
                now,
                now,
                [product_ids[r[2]] for r in rows],
                [r[0] for r in rows],
                [sku_key(r[0]) for r in rows],
            ],
        )
        return dict(cursor.fetchall())


def create_product(
    *,
    title: str,
    variants: Sequence[NewVariant] = (),
    images: Sequence[NewImage] = (),
    slug: str | None = None,
    description: str = "",
    brand: str = "",
    category: Category | None = None,
    attributes: Mapping[str, Any] | None = None,
    is_active: bool = True,
) -> Product:
    """Create a product with its variants and images in one transaction: all of it, or nothing."""
    title = _text(title, field="title", max_length=500)
    description = _text(description or "", field="description", max_length=100_000, required=False)
    brand = _text(brand or "", field="brand", max_length=200, required=False)
    registry = attribute_registry([attributes or {}, *(v.attributes or {} for v in variants)])
    attributes = check_attribute_values(attributes, field="attributes", registry=registry)

    def field_of(index: int, name: str) -> str:
        return f"variants[{index}].{name}"

    rows = [_clean_variant(v, prefix=f"variants[{i}].", registry=registry) for i, v in enumerate(variants)]
    _check_distinct_options([r["attributes"] for r in rows], field_of=field_of)
    skus = {r["sku"] for r in rows}
    image_rows: list[dict[str, Any]] = []
    for index, image in enumerate(images):
        prefix = f"images[{index}]."
        if image.variant_sku is not None and image.variant_sku not in skus:
            raise VariantNotInProduct(
                f"Image shows SKU '{image.variant_sku}', which is not one of this product's variants.",
                field=f"{prefix}variant_sku",
            )
        image_rows.append(
            {
                "url": validate_image_url(image.url, field=f"{prefix}url"),
                "alt": _text(image.alt or "", field=f"{prefix}alt", max_length=300, required=False),
                "position": index
                if image.position is None
                else _non_negative_int(image.position, field=f"{prefix}position"),
                "variant_sku": image.variant_sku,
            }
        )
    if slug is not None:
        slug = _slug(slug, field="slug", max_length=200)
        if Product.objects.filter(slug=slug).exists():
            raise DuplicateSlug(f"A product with slug '{slug}' exists.", field="slug")
    _check_variants_free([(r["sku"], r["gtin"]) for r in rows], field_of=field_of)
    try:
        with transaction.atomic():
            product = Product.objects.create(
                title=title,
                slug=slug or _unique_slug(title),
                description=description,
                brand=brand,
                category=category,
                attributes=attributes,
                is_active=is_active,
            )
            created = Variant.objects.bulk_create(
                [
                    Variant(product=product, position=i if v.position is None else v.position, **row)
                    for i, (v, row) in enumerate(zip(variants, rows, strict=True))
                ]
            )
            by_sku = {v.sku: v for v in created}
            ProductImage.objects.bulk_create(
                [
                    ProductImage(
                        product=product,
                        variant=by_sku.get(r["variant_sku"]),
                        url=r["url"],
                        alt=r["alt"],
                        position=r["position"],
                    )
                    for r in image_rows
                ]
            )
            events.product_event("product.created", product)
    except IntegrityError:
        if slug and Product.objects.filter(slug=slug).exists():
            raise DuplicateSlug(f"A product with slug '{slug}' exists.", field="slug") from None
        _raise_for_integrity(rows, field_of=field_of)
        raise
    return product


def update_product(
    *,
    product: Product,
    title: str = UNSET,
    slug: str = UNSET,
    description: str = UNSET,
    brand: str = UNSET,
    category: Category | None = UNSET,
    attributes: Mapping[str, Any] = UNSET,
    is_active: bool = UNSET,
) -> Product:
    """Change a product's own fields; variants and images have their own operations."""
    if title is not UNSET:
        product.title = _text(title, field="title", max_length=500)
    if description is not UNSET:
        product.description = _text(
            description or "", field="description", max_length=100_000, required=False
        )
    if brand is not UNSET:
        product.brand = _text(brand or "", field="brand", max_length=200, required=False)
    if category is not UNSET:
        product.category = category
    if attributes is not UNSET:
        product.attributes = check_attribute_values(
            attributes, field="attributes", registry=attribute_registry([attributes or {}])
        )
    if is_active is not UNSET:
        product.is_active = bool(is_active)
    if slug is not UNSET:
        product.slug = _slug(slug, field="slug", max_length=200)
        if Product.objects.filter(slug=product.slug).exclude(pk=product.pk).exists():
            raise DuplicateSlug(f"A product with slug '{product.slug}' exists.", field="slug")
    try:
        with transaction.atomic():
            product.save()
            events.product_event("product.updated", product)
    except IntegrityError:
        raise DuplicateSlug(f"A product with slug '{product.slug}' exists.", field="slug") from None
    return product


def _refuse_if_listed_elsewhere(variants: QuerySet[Variant], acting_channel, *, field: str) -> None:
    """A channel may delete master data only when no other channel sells it (the listings would cascade)."""
    if acting_channel is None:
        return
    others = sorted(
        set(
            ChannelListing.objects.filter(variant__in=variants)
            .exclude(channel=acting_channel)
            .values_list("channel__code", flat=True)
        )
    )
    if others:
        raise ListedOnOtherChannels(
            f"Listed on other channels ({', '.join(others)}); remove this channel's listing instead.",
            field=field,
            channels=others,
        )


def delete_product(*, product: Product, acting_channel=None) -> None:
    """Delete a product and its variants, images and listings, unless orders or stock still refer to it
    (then 409 `product_in_use`: deactivate it instead), or, for a channel's key, another channel lists it
    (409 `listed_on_other_channels`)."""
    try:
        with transaction.atomic():
            _refuse_if_listed_elsewhere(
                Variant.objects.filter(product=product), acting_channel, field="product_id"
            )
            delisted = events.listing_events(
                ChannelListing.objects.filter(variant__product=product), deleted=True
            )
            gone = Product(pk=product.pk, title=product.title, slug=product.slug)
            product.delete()
            outbox.emit_many(delisted)
            events.product_event("product.deleted", gone)
    except (ProtectedError, RestrictedError):
        raise ProductInUse(
            "Other records (stock, orders) refer to this product's variants; deactivate it instead.",
            field="product_id",
        ) from None


def add_variant(*, product: Product, variant: NewVariant) -> Variant:
    """Add one sellable SKU to an existing product."""
    registry = attribute_registry([variant.attributes or {}])
    row = _clean_variant(variant, prefix="", registry=registry)

    def field_of(index: int, name: str) -> str:
        return name

    _check_distinct_options(
        [row["attributes"]],
        field_of=field_of,
        existing=Variant.objects.filter(product=product).values_list("attributes", flat=True),
    )
    _check_variants_free([(row["sku"], row["gtin"])], field_of=field_of)
    position = variant.position
    if position is None:
        position = Variant.objects.filter(product=product).count()
    try:
        with transaction.atomic():
            created = Variant.objects.create(product=product, position=position, **row)
            events.touch_product(product.pk)
    except IntegrityError:
        _raise_for_integrity([row], field_of=field_of)
        raise
    return created


def update_variant(
    *,
    variant: Variant,
    sku: str = UNSET,
    gtin: str | None = UNSET,
    title: str = UNSET,
    attributes: Mapping[str, Any] = UNSET,
    weight_grams: int | None = UNSET,
    position: int = UNSET,
    is_active: bool = UNSET,
) -> Variant:
    if sku is not UNSET:
        variant.sku = _validate_sku(sku, field="sku")
    if gtin is not UNSET:
        variant.gtin = validate_gtin(gtin)
    if title is not UNSET:
        variant.title = _text(title or "", field="title", max_length=300, required=False)
    if attributes is not UNSET:
        variant.attributes = check_attribute_values(
            attributes, field="attributes", registry=attribute_registry([attributes or {}])
        )
        _check_distinct_options(
            [variant.attributes],
            field_of=lambda i, name: name,
            existing=Variant.objects.filter(product_id=variant.product_id)
            .exclude(pk=variant.pk)
            .values_list("attributes", flat=True),
        )
    if weight_grams is not UNSET:
        variant.weight_grams = (
            None if weight_grams is None else _non_negative_int(weight_grams, field="weight_grams")
        )
    if position is not UNSET:
        variant.position = _non_negative_int(position, field="position")
    if is_active is not UNSET:
        variant.is_active = bool(is_active)

    def field_of(index: int, name: str) -> str:
        return name

    _check_variants_free([(variant.sku, variant.gtin)], field_of=field_of, exclude_pk=variant.pk)
    try:
        with transaction.atomic():
            variant.save()
            events.touch_product(variant.product_id)
    except IntegrityError:
        _raise_for_integrity(
            [{"sku": variant.sku, "gtin": variant.gtin}], field_of=field_of, exclude_pk=variant.pk
        )
        raise
    return variant


def delete_variant(*, variant: Variant, acting_channel=None) -> None:
    try:
        with transaction.atomic():
            _refuse_if_listed_elsewhere(
                Variant.objects.filter(pk=variant.pk), acting_channel, field="variant_id"
            )
            product_id = variant.product_id
            delisted = events.listing_events(ChannelListing.objects.filter(variant=variant), deleted=True)
            variant.delete()
            outbox.emit_many(delisted)
            events.touch_product(product_id)
    except (ProtectedError, RestrictedError):
        raise VariantInUse(
            f"Other records (stock, orders) refer to '{variant.sku}'; deactivate it instead.",
            field="variant_id",
        ) from None


from .listings import (  # noqa: E402  (re-exported: other apps import catalog.services only)
    ListingChange,
    bulk_upsert_listings,
    delete_listing,
    get_listing,
    listings_for_channel,
    sellable_listings,
    set_listings_published,
    upsert_listing,
)
from .listings import apply_terms as _apply_listing_terms  # noqa: E402
from .suppliers import (  # noqa: E402
    create_offer,
    create_supplier,
    delete_offer,
    delete_supplier,
    get_offer,
    get_supplier,
    landed_unit_cost,
    normalise_email,
    normalise_phone,
    offer_landed_unit_cost,
    parse_cost,
    parse_percent,
    save_offer,
    update_offer,
    update_supplier,
    validate_country,
)


def check_listing_terms(
    *, channel, price: Any, compare_at_price: Any = None, currency: str | None = None
) -> ChannelListing:
    """A new listing's terms checked exactly as upsert_listing checks them, without saving (bulk imports
    check each row, then write the batch at once): the channel's currency, amounts in its minor unit and
    below 10,000,000,000, no compare-at price below the price. Returns the unsaved ChannelListing."""
    listing = ChannelListing(channel=channel)
    change = ListingChange(price=price, compare_at_price=compare_at_price, currency=currency)
    _apply_listing_terms(listing, change, channel=channel, prefix="", now=timezone.now())
    return listing


def save_offers(*, offers: Sequence[SupplierOffer]) -> list[SupplierOffer]:
    """Save many checked offers at once (bulk imports) under save_offer's rule: an offer saved as preferred
    unsets every other preferred offer of its variant. At most one of `offers` per variant may be
    preferred; the variants are locked, the others unset first (the one-preferred index is checked row by
    row), then the changed offers are updated and the new ones inserted."""
    preferred: dict[int, SupplierOffer] = {}
    for offer in offers:
        if offer.is_preferred and preferred.setdefault(offer.variant_id, offer) is not offer:
            raise ValidationFailed(
                "Two offers for one variant are both marked preferred.", field="is_preferred"
            )
    now = timezone.now()
    try:
        with transaction.atomic():
            variant_ids = sorted({offer.variant_id for offer in offers})
            for start in range(0, len(variant_ids), 2000):
                list(
                    Variant.objects.select_for_update()
                    .filter(pk__in=variant_ids[start : start + 2000])
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
            keep = [offer.pk for offer in preferred.values() if offer.pk is not None]
            chosen = list(preferred)
            for start in range(0, len(chosen), 2000):
                SupplierOffer.objects.filter(
                    variant_id__in=chosen[start : start + 2000], is_preferred=True
                ).exclude(pk__in=keep).update(is_preferred=False)
            changed = [offer for offer in offers if offer.pk is not None]
            for offer in changed:
                offer.updated_at = now
            SupplierOffer.objects.bulk_update(
                changed,
                [
                    "cost",
                    "currency",
                    "supplier_sku",
                    "lead_time_days",
                    "min_order_quantity",
                    "pack_size",
                    "is_preferred",
                    "freight_per_unit",
                    "duty_percent",
                    "updated_at",
                ],
                batch_size=500,
            )
            SupplierOffer.objects.bulk_create([o for o in offers if o.pk is None], batch_size=500)
    except IntegrityError:
        raise Conflict("Another request changed these variants' offers at the same time; retry.") from None
    return list(offers)


__all__ = [
    "UNSET",
    "ListingChange",
    "NewImage",
    "NewVariant",
    "PriceChange",
    "PriceChangeResult",
    "PricePreview",
    "PricePreviewRow",
    "PriceRule",
    "add_image",
    "add_variant",
    "apply_price_change",
    "bulk_upsert_listings",
    "category_subtree",
    "check_listing_terms",
    "create_attribute",
    "create_category",
    "create_offer",
    "create_product",
    "create_supplier",
    "delete_attribute",
    "delete_category",
    "delete_image",
    "delete_listing",
    "delete_offer",
    "delete_product",
    "delete_supplier",
    "delete_variant",
    "find_variant_by_gtin",
    "get_attribute",
    "get_category",
    "get_image",
    "get_listing",
    "get_offer",
    "get_product",
    "get_supplier",
    "get_variant",
    "get_variant_by_sku",
    "landed_unit_cost",
    "listings_for_channel",
    "normalise_email",
    "normalise_phone",
    "offer_landed_unit_cost",
    "parse_cost",
    "parse_percent",
    "preview_price_change",
    "products_matching",
    "recently_changed_listings",
    "save_offer",
    "save_offers",
    "sellable_listings",
    "set_listings_published",
    "unpublished_products",
    "update_attribute",
    "update_category",
    "update_image",
    "update_offer",
    "update_product",
    "update_supplier",
    "update_variant",
    "upsert_listing",
    "validate_country",
    "validate_gtin",
    "validate_image_url",
    "variants_matching",
]
