"""Bulk price changes of the merchandiser's desk: a rule (set, percent, amount) previewed per listing, then
applied exactly as previewed — or refused when a price moved in between."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from omnishop.core.money import quantize

from .errors import InvalidPriceChange, NoListingsToPrice, PricesChangedSincePreview
from .listings import MAX_BULK_LISTINGS, MAX_PRICE, ListingChange, bulk_upsert_listings
from .models import ChannelListing


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
