"""Finding products and variants for list endpoints, the back office and the merchandiser's desk."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from . import gtin as gtins
from .models import Category, ChannelListing, Product, SupplierOffer, Variant


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
        qs = qs.filter(gtin__in=gtins.equivalent_forms(gtins.validate_gtin(gtin, field="gtin") or ""))
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
