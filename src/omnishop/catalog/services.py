"""Catalog operations: products with their variants and images, and the queries that find them.

The category tree and attributes live in `taxonomy`, channel listings (prices per channel) in `listings`,
suppliers and their offers in `suppliers`; all are re-exported here so other apps import one module.

Every write validates first, then runs in one transaction, so a failed multi-row create leaves nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, ProtectedError, Q, QuerySet, RestrictedError
from django.utils import timezone
from django.utils.text import slugify

from omnishop.core import outbox
from omnishop.core.errors import Conflict, ValidationFailed
from omnishop.core.money import quantize

from . import events
from . import gtin as gtins
from .errors import (
    DuplicateGtin,
    DuplicateSku,
    DuplicateSlug,
    DuplicateVariantAttributes,
    ImageNotFound,
    InvalidGtin,
    InvalidPriceChange,
    InvalidUrl,
    ListedOnOtherChannels,
    NoListingsToPrice,
    PricesChangedSincePreview,
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
from .models import Attribute, Category, ChannelListing, Product, ProductImage, SupplierOffer, Variant
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


_url_validator = URLValidator(schemes=["http", "https"])


def validate_image_url(url: object, *, field: str = "url") -> str:
    url = _text(url, field=field, max_length=1000)
    try:
        _url_validator(url)
    except DjangoValidationError:
        raise InvalidUrl(f"'{url}' is not an http(s) URL.", field=field) from None
    return url


def validate_gtin(code: object, *, field: str = "gtin") -> str | None:
    """Return the GTIN as digits, None for blank, or raise `invalid_gtin` (wrong length or check digit)."""
    if code is None:
        return None
    if not isinstance(code, str):
        raise InvalidGtin("A GTIN is sent as a string of digits.", field=field)
    code = code.strip()
    if not code:
        return None
    if not gtins.is_valid_gtin(code):
        raise InvalidGtin(
            f"'{code}' is not a valid GTIN-8/12/13/14: wrong length, non-digits or wrong check digit.",
            field=field,
        )
    return code


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


def _touch(product_id: int) -> None:
    """A change to a variant or image is a change to the product, for `updated_since` sync clients and
    for the outbox (product.updated)."""
    Product.objects.filter(pk=product_id).update(updated_at=timezone.now())
    product = Product.objects.only("pk", "title", "slug").filter(pk=product_id).first()
    if product is not None:
        events.product_event("product.updated", product)


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
            _touch(product.pk)
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
            _touch(variant.product_id)
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
            _touch(product_id)
    except (ProtectedError, RestrictedError):
        raise VariantInUse(
            f"Other records (stock, orders) refer to '{variant.sku}'; deactivate it instead.",
            field="variant_id",
        ) from None


# --- images -------------------------------------------------------------------------------------


def get_image(image_id: int) -> ProductImage:
    try:
        return ProductImage.objects.get(pk=image_id)
    except (ProductImage.DoesNotExist, ValueError, TypeError):
        raise ImageNotFound(f"No image {image_id}.", field="image_id") from None


def _image_variant(product_id: int, variant: Variant | None) -> Variant | None:
    if variant is not None and variant.product_id != product_id:
        raise VariantNotInProduct(f"Variant '{variant.sku}' belongs to another product.", field="variant_id")
    return variant


def add_image(
    *, product: Product, url: str, alt: str = "", position: int | None = None, variant: Variant | None = None
) -> ProductImage:
    url = validate_image_url(url)
    alt = _text(alt or "", field="alt", max_length=300, required=False)
    variant = _image_variant(product.pk, variant)
    if position is None:
        position = ProductImage.objects.filter(product=product).count()
    position = _non_negative_int(position, field="position")
    with transaction.atomic():
        image = ProductImage.objects.create(
            product=product, variant=variant, url=url, alt=alt, position=position
        )
        _touch(product.pk)
    return image


def update_image(
    *,
    image: ProductImage,
    url: str = UNSET,
    alt: str = UNSET,
    position: int = UNSET,
    variant: Variant | None = UNSET,
) -> ProductImage:
    if url is not UNSET:
        image.url = validate_image_url(url)
    if alt is not UNSET:
        image.alt = _text(alt or "", field="alt", max_length=300, required=False)
    if position is not UNSET:
        image.position = _non_negative_int(position, field="position")
    if variant is not UNSET:
        image.variant = _image_variant(image.product_id, variant)
    with transaction.atomic():
        image.save()
        _touch(image.product_id)
    return image


def delete_image(*, image: ProductImage) -> None:
    with transaction.atomic():
        image.delete()
        _touch(image.product_id)


# --- finding products ---------------------------------------------------------------------------


def products_matching(
    *,
    q: str | None = None,
    category: Category | None = None,
    is_active: bool | None = None,
    updated_since: datetime | None = None,
    sku: str | None = None,
    supplier_id: int | None = None,
    brand: str | None = None,
    channel=None,
    published: bool | None = None,
    queryset: QuerySet[Product] | None = None,
) -> QuerySet[Product]:
    """Products filtered as list endpoints and the back office need. Text search is a plain
    case-insensitive substring match over title, description, brand and SKU (real search comes later).
    `channel` keeps products listed there; `published` keeps those with (True) or without (False) a
    published listing — on `channel` when given, on any channel otherwise."""
    qs = queryset if queryset is not None else Product.objects.all()
    if brand:
        qs = qs.filter(brand__iexact=brand.strip())
    listed = ChannelListing.objects.filter(variant__product=OuterRef("pk"))
    if channel is not None:
        listed = listed.filter(channel=channel)
        qs = qs.filter(Exists(listed))
    if published is not None:
        on_sale = Exists(listed.filter(is_published=True))
        qs = qs.filter(on_sale if published else ~on_sale)
    if q:
        q = q.strip()
        sku_hit = Variant.objects.filter(product=OuterRef("pk"), sku__icontains=q)
        qs = qs.filter(
            Q(title__icontains=q) | Q(description__icontains=q) | Q(brand__icontains=q) | Q(Exists(sku_hit))
        )
    if category is not None:
        qs = qs.filter(Q(category__path=category.path) | Q(category__path__startswith=category.path + "/"))
    if is_active is not None:
        qs = qs.filter(is_active=is_active)
    if updated_since is not None:
        qs = qs.filter(updated_at__gte=updated_since)
    if sku:
        qs = qs.filter(Exists(Variant.objects.filter(product=OuterRef("pk"), sku=sku)))
    if supplier_id is not None:
        qs = qs.filter(
            Exists(SupplierOffer.objects.filter(variant__product=OuterRef("pk"), supplier_id=supplier_id))
        )
    return qs


def variants_matching(
    *,
    q: str | None = None,
    product_id: int | None = None,
    category: Category | None = None,
    is_active: bool | None = None,
    updated_since: datetime | None = None,
    sku: str | None = None,
    gtin: str | None = None,
    supplier_id: int | None = None,
) -> QuerySet[Variant]:
    qs = Variant.objects.select_related("product")
    if gtin:
        qs = qs.filter(gtin__in=gtins.equivalent_forms(validate_gtin(gtin, field="gtin") or ""))
    if q:
        q = q.strip()
        qs = qs.filter(
            Q(sku__icontains=q)
            | Q(title__icontains=q)
            | Q(product__title__icontains=q)
            | Q(product__brand__icontains=q)
            | Q(product__description__icontains=q)
        )
    if product_id is not None:
        qs = qs.filter(product_id=product_id)
    if category is not None:
        qs = qs.filter(
            Q(product__category__path=category.path)
            | Q(product__category__path__startswith=category.path + "/")
        )
    if is_active is not None:
        qs = qs.filter(is_active=is_active)
    if updated_since is not None:
        qs = qs.filter(updated_at__gte=updated_since)
    if sku:
        qs = qs.filter(sku=sku)
    if supplier_id is not None:
        qs = qs.filter(Exists(SupplierOffer.objects.filter(variant=OuterRef("pk"), supplier_id=supplier_id)))
    return qs


from .listings import (  # noqa: E402  (re-exported: other apps import catalog.services only)
    MAX_BULK_LISTINGS,
    MAX_PRICE,
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
    normalise_email,
    normalise_phone,
    parse_cost,
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
                    "updated_at",
                ],
                batch_size=500,
            )
            SupplierOffer.objects.bulk_create([o for o in offers if o.pk is None], batch_size=500)
    except IntegrityError:
        raise Conflict("Another request changed these variants' offers at the same time; retry.") from None
    return list(offers)


# --- What the merchandiser looks at first (the back-office merchandising desk) -----------------------------


def recently_changed_listings(*, limit: int = 25) -> list[ChannelListing]:
    """Listings whose price, title or publication changed last, newest first."""
    qs = ChannelListing.objects.select_related("channel", "variant", "variant__product")
    return list(qs.order_by("-updated_at", "-pk")[:limit])


def unpublished_products(*, limit: int = 25) -> list[Product]:
    """Active products that no channel shows (no published listing anywhere), newest change first."""
    published = ChannelListing.objects.filter(variant__product=OuterRef("pk"), is_published=True)
    qs = Product.objects.filter(is_active=True).exclude(Exists(published))
    return list(qs.order_by("-updated_at", "-pk")[:limit])


# --- bulk price changes (the back office's merchandiser desk) -----------------------------------


class PriceRule:
    """How a bulk change computes each listing's new price from its old one."""

    SET = "set"  # every listing gets `value`
    PERCENT = "percent"  # old × (1 + value / 100); value may be negative
    AMOUNT = "amount"  # old + value; value may be negative
    CHOICES = (SET, PERCENT, AMOUNT)


@dataclass(frozen=True)
class PriceChange:
    rule: str
    value: Decimal

    def __post_init__(self) -> None:
        if self.rule not in PriceRule.CHOICES:
            raise InvalidPriceChange(f"Unknown price rule '{self.rule}'.", field="rule")
        if not isinstance(self.value, Decimal) or not self.value.is_finite():
            raise InvalidPriceChange("The change needs a decimal value.", field="value")
        if abs(self.value) >= MAX_PRICE:
            raise InvalidPriceChange("The value is larger than any price.", field="value")

    def new_price(self, old: Decimal, currency: str) -> Decimal:
        """Rounded once, to the currency's minor unit (core.money's half-up rule)."""
        if self.rule == PriceRule.SET:
            raw = self.value
        elif self.rule == PriceRule.PERCENT:
            raw = old * (Decimal(100) + self.value) / Decimal(100)
        else:
            raw = old + self.value
        return quantize(raw, currency)


@dataclass(frozen=True)
class PricePreviewRow:
    listing_id: int
    product_id: int
    product_title: str
    sku: str
    currency: str
    old_price: Decimal
    new_price: Decimal
    compare_at_price: Decimal | None
    refused: str = ""  # why this listing will not change; empty when it will


@dataclass(frozen=True)
class PricePreview:
    channel: Any
    change: PriceChange
    rows: list[PricePreviewRow]

    @property
    def accepted(self) -> list[PricePreviewRow]:
        return [row for row in self.rows if not row.refused]

    @property
    def refused(self) -> list[PricePreviewRow]:
        return [row for row in self.rows if row.refused]

    @property
    def expected(self) -> dict[int, Decimal]:
        """Listing id → the old price the staff member saw, for `apply_price_change`."""
        return {row.listing_id: row.old_price for row in self.accepted}


@dataclass(frozen=True)
class PriceChangeResult:
    changed: int
    unchanged: int  # already at the new price (a repeated confirmation) or the same price


def _listings_to_price(channel, product_ids: Iterable[int]) -> QuerySet[ChannelListing]:
    return (
        ChannelListing.objects.filter(channel=channel, variant__product_id__in=list(product_ids))
        .select_related("variant", "variant__product")
        .order_by("variant__product_id", "variant__position", "variant_id")
    )


def _refusal(new: Decimal, compare_at: Decimal | None, currency: str) -> str:
    if new <= 0:
        return f"The new price would be {new} {currency}; a price must be above zero."
    if new >= MAX_PRICE:
        return "The new price is larger than a price can be."
    if compare_at is not None and compare_at < new:
        return f"The new price is above the compare-at price {compare_at} {currency}; change that first."
    return ""


def preview_price_change(*, channel, product_ids: Iterable[int], change: PriceChange) -> PricePreview:
    """Old → new for every listing of the chosen products on `channel`, each refused row with its reason;
    nothing is written. A change of more listings than a bulk upsert takes is refused as a whole."""
    listings = list(_listings_to_price(channel, product_ids)[: MAX_BULK_LISTINGS + 1])
    if not listings:
        raise NoListingsToPrice(field="products")
    if len(listings) > MAX_BULK_LISTINGS:
        raise InvalidPriceChange(
            f"At most {MAX_BULK_LISTINGS} listings per change; narrow the selection.", field="products"
        )
    rows = []
    for listing in listings:
        currency = channel.currency
        old = quantize(listing.price, currency)
        new = change.new_price(old, currency)
        compare_at = (
            None if listing.compare_at_price is None else quantize(listing.compare_at_price, currency)
        )
        rows.append(
            PricePreviewRow(
                listing_id=listing.pk,
                product_id=listing.variant.product_id,
                product_title=listing.variant.product.title,
                sku=listing.variant.sku,
                currency=currency,
                old_price=old,
                new_price=new,
                compare_at_price=compare_at,
                refused=_refusal(new, compare_at, currency),
            )
        )
    return PricePreview(channel=channel, change=change, rows=rows)


def apply_price_change(*, channel, change: PriceChange, expected: Mapping[int, Decimal]) -> PriceChangeResult:
    """Apply a previewed change to the listings it accepted (`expected`: listing id → old price seen), in
    one transaction and through the listing upsert, so each price announces listing.changed exactly as a
    single change does. Confirming twice changes nothing the second time: a listing already at its new
    price is left alone. A listing whose price moved since the preview refuses the whole change."""
    if not expected:
        raise NoListingsToPrice("No listing in the preview can change.", field="products")
    with transaction.atomic():
        listings = list(
            ChannelListing.objects.select_for_update()
            .filter(channel=channel, pk__in=list(expected))
            .select_related("variant")
            .order_by("pk")
        )
        if len(listings) != len(expected):
            raise PricesChangedSincePreview("A listing was removed since the preview.", field="products")
        changes, unchanged = [], 0
        for listing in listings:
            old = expected[listing.pk]
            new = change.new_price(old, channel.currency)
            current = quantize(listing.price, channel.currency)
            if current == new:
                unchanged += 1
                continue
            if current != old:
                raise PricesChangedSincePreview(
                    f"The price of {listing.variant.sku} is now {current}, not {old}; preview again.",
                    field="products",
                    sku=listing.variant.sku,
                )
            refused = _refusal(new, listing.compare_at_price, channel.currency)
            if refused:
                raise InvalidPriceChange(f"{listing.variant.sku}: {refused}", field="products")
            changes.append(ListingChange(variant_id=listing.variant_id, price=new))
        if changes:
            bulk_upsert_listings(channel=channel, changes=changes, prefix="products")
    return PriceChangeResult(changed=len(changes), unchanged=unchanged)


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
    "listings_for_channel",
    "normalise_email",
    "normalise_phone",
    "parse_cost",
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
