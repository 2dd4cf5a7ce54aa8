"""Channel listings: whether, at what price and under which title each channel sells each variant.

A listing's price is in its channel's currency (a listing in another currency is refused with
`currency_mismatch`, never converted). Upserts are partial: fields a caller leaves out keep their stored
values, so a price feed that sends only SKU and price does not unpublish anything. Bulk upserts are
validated in full before the first write and run in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from omnishop.core import outbox
from omnishop.core.errors import Conflict, ValidationFailed
from omnishop.core.money import CurrencyMismatch, InvalidAmount, parse_amount, validate_currency

from . import events
from .errors import InvalidCompareAtPrice, ListingNotFound, VariantNotFound
from .models import ChannelListing, Variant
from .unset import UNSET

MAX_BULK_LISTINGS = 1000


class MissingField(ValidationFailed):
    code = "required"


class DuplicateInRequest(ValidationFailed):
    code = "duplicate_in_request"


@dataclass(frozen=True)
class ListingChange:
    """One channel's terms for one variant. Name the variant by `variant`, `variant_id` or `sku`; any
    field left UNSET keeps its stored value (`price` is required when the listing is new)."""

    variant: Variant | None = None
    variant_id: int | None = None
    sku: str | None = None
    price: Any = UNSET
    compare_at_price: Any = UNSET
    currency: str | None = None
    is_published: bool = UNSET
    title: str = UNSET


def get_listing(*, channel, variant_id: int) -> ChannelListing:
    listing = (
        ChannelListing.objects.select_related("channel", "variant")
        .filter(channel=channel, variant_id=variant_id)
        .first()
    )
    if listing is None:
        raise ListingNotFound(
            f"Channel '{channel.code}' has no listing for variant {variant_id}.", field="variant_id"
        )
    return listing


def listings_for_channel(
    *,
    channel,
    is_published: bool | None = None,
    sku: str | None = None,
    q: str | None = None,
    updated_since: datetime | None = None,
) -> QuerySet[ChannelListing]:
    qs = ChannelListing.objects.filter(channel=channel).select_related("channel", "variant")
    if is_published is not None:
        qs = qs.filter(is_published=is_published)
    if sku:
        qs = qs.filter(variant__sku=sku)
    if q:
        qs = qs.filter(
            Q(title__icontains=q) | Q(variant__sku__icontains=q) | Q(variant__product__title__icontains=q)
        )
    if updated_since is not None:
        qs = qs.filter(updated_at__gte=updated_since)
    return qs


def sellable_listings(*, channel) -> QuerySet[ChannelListing]:
    """What a storefront may show and sell: published listings of active variants of active products."""
    return ChannelListing.objects.filter(
        channel=channel, is_published=True, variant__is_active=True, variant__product__is_active=True
    )


def _row(prefix: str, index: int) -> str:
    """Field path of row `index`: 'listings[3].' in a batch, '' for a single listing (prefix '')."""
    return f"{prefix}[{index}]." if prefix else ""


def _resolve_variants(changes: Sequence[ListingChange], *, prefix: str) -> list[Variant]:
    ids = {c.variant_id for c in changes if c.variant is None and c.variant_id is not None}
    skus = {c.sku for c in changes if c.variant is None and c.variant_id is None and c.sku}
    by_id = {v.pk: v for v in Variant.objects.filter(pk__in=ids)} if ids else {}
    by_sku = {v.sku: v for v in Variant.objects.filter(sku__in=skus)} if skus else {}
    resolved = []
    for index, change in enumerate(changes):
        if change.variant is not None:
            resolved.append(change.variant)
        elif change.variant_id is not None:
            if change.variant_id not in by_id:
                raise VariantNotFound(
                    f"No variant {change.variant_id}.", field=f"{_row(prefix, index)}variant_id"
                )
            resolved.append(by_id[change.variant_id])
        elif change.sku:
            if change.sku not in by_sku:
                raise VariantNotFound(
                    f"No variant with SKU '{change.sku}'.", field=f"{_row(prefix, index)}sku"
                )
            resolved.append(by_sku[change.sku])
        else:
            raise MissingField("Name the variant by sku or variant_id.", field=f"{_row(prefix, index)}sku")
    return resolved


MAX_PRICE = Decimal("1e10")  # the column holds 10 integer digits


def _money(value: Any, currency: str, *, field: str) -> Decimal:
    amount = parse_amount(value, currency, field=field)
    if amount >= MAX_PRICE:
        raise InvalidAmount("A price must be below 10,000,000,000.", field=field)
    return amount


def apply_terms(listing: ChannelListing, change: ListingChange, *, channel, prefix: str, now) -> None:
    currency = channel.currency
    if change.currency is not None:
        given = validate_currency(change.currency, field=f"{prefix}currency")
        if given != currency:
            raise CurrencyMismatch(
                f"Channel '{channel.code}' sells in {currency}; this listing is in {given}.",
                field=f"{prefix}currency",
                expected=currency,
                got=given,
            )
    listing.currency = currency
    if change.price is not UNSET:
        listing.price = _money(change.price, currency, field=f"{prefix}price")
    elif listing.pk is None:
        raise MissingField("A new listing needs a price.", field=f"{prefix}price")
    if change.compare_at_price is not UNSET:
        listing.compare_at_price = (
            None
            if change.compare_at_price is None
            else _money(change.compare_at_price, currency, field=f"{prefix}compare_at_price")
        )
    if listing.compare_at_price is not None and listing.compare_at_price < listing.price:
        raise InvalidCompareAtPrice(
            "The compare-at ('was') price must not be below the price.",
            field=f"{prefix}compare_at_price",
            price=str(listing.price),
        )
    if change.title is not UNSET:
        title = (change.title or "").strip()
        if len(title) > 500:
            raise ValidationFailed("title is longer than 500 characters.", field=f"{prefix}title")
        listing.title = title
    if change.is_published is not UNSET:
        published = bool(change.is_published)
        if published and not listing.is_published:
            listing.published_at = now
        elif not published:
            listing.published_at = None
        listing.is_published = published
    listing.updated_at = now


def bulk_upsert_listings(
    *, channel, changes: Sequence[ListingChange], prefix: str = "listings"
) -> list[ChannelListing]:
    """Create or change many listings of one channel at once; any invalid row rejects the whole batch."""
    if len(changes) > MAX_BULK_LISTINGS:
        raise ValidationFailed(f"At most {MAX_BULK_LISTINGS} listings per request.", field=prefix or None)
    variants = _resolve_variants(changes, prefix=prefix)
    seen: dict[int, int] = {}
    for index, variant in enumerate(variants):
        if variant.pk in seen:
            raise DuplicateInRequest(
                f"Variant '{variant.sku}' appears twice (rows {seen[variant.pk]} and {index}).",
                field=f"{_row(prefix, index)}variant_id",
            )
        seen[variant.pk] = index
    now = timezone.now()
    try:
        with transaction.atomic():
            existing = {
                listing.variant_id: listing
                for listing in ChannelListing.objects.select_for_update().filter(
                    channel=channel, variant_id__in=list(seen)
                )
            }
            to_create, to_update, announced = [], [], []
            for index, (change, variant) in enumerate(zip(changes, variants, strict=True)):
                listing = existing.get(variant.pk) or ChannelListing(channel=channel, variant=variant)
                before = _announced_state(listing) if listing.pk else None
                apply_terms(listing, change, channel=channel, prefix=_row(prefix, index), now=now)
                (to_update if listing.pk else to_create).append(listing)
                if before != _announced_state(listing):
                    announced.append(listing)
            ChannelListing.objects.bulk_create(to_create)
            ChannelListing.objects.bulk_update(
                to_update,
                [
                    "price",
                    "compare_at_price",
                    "currency",
                    "title",
                    "is_published",
                    "published_at",
                    "updated_at",
                ],
            )
            events.listings_changed(announced)
    except IntegrityError:
        raise Conflict(
            "Another request changed these listings at the same time; retry.", field=prefix or None
        ) from None
    return list(
        ChannelListing.objects.filter(channel=channel, variant_id__in=list(seen))
        .select_related("channel", "variant")
        .order_by("variant_id")
    )


def upsert_listing(
    *, channel, variant: Variant, change: ListingChange | None = None, **fields
) -> ChannelListing:
    """Create or change one channel's listing of one variant (fields as in ListingChange)."""
    change = change or ListingChange(**fields)
    change = ListingChange(
        variant=variant,
        price=change.price,
        compare_at_price=change.compare_at_price,
        currency=change.currency,
        is_published=change.is_published,
        title=change.title,
    )
    (listing,) = bulk_upsert_listings(channel=channel, changes=[change], prefix="")
    return listing


def _announced_state(listing: ChannelListing) -> tuple:
    """What listing.changed tells channels: a change of anything else is not announced."""
    return (listing.price, listing.compare_at_price, listing.currency, listing.is_published, listing.title)


def set_listings_published(*, listings: QuerySet[ChannelListing], published: bool) -> int:
    """Publish or unpublish many listings in one statement; returns how many changed."""
    now = timezone.now()
    with transaction.atomic():
        pks = list(listings.exclude(is_published=published).values_list("pk", flat=True))
        changed = ChannelListing.objects.filter(pk__in=pks).update(
            is_published=published, published_at=now if published else None, updated_at=now
        )
        events.listings_changed(ChannelListing.objects.filter(pk__in=pks))
    return changed


def delete_listing(*, listing: ChannelListing) -> None:
    with transaction.atomic():
        delisted = events.listing_events([listing], deleted=True)
        listing.delete()
        outbox.emit_many(delisted)
