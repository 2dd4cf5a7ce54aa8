"""The catalogue's outbox events: product.* for shared product data, listing.changed per channel and SKU."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from omnishop.core import outbox

from .models import ChannelListing, Product


def listing_event(
    listing: ChannelListing, *, sku: str, channel_code: str, deleted: bool = False
) -> outbox.NewEvent:
    return outbox.NewEvent(
        type="listing.changed",
        aggregate_type="listing",
        aggregate_id=f"{channel_code}:{sku}",
        channel=channel_code,
        payload={
            "sku": sku,
            "variant_id": listing.variant_id,
            "product_id": None,
            "channel": channel_code,
            "price": None if deleted else str(listing.price),
            "compare_at_price": None
            if deleted or listing.compare_at_price is None
            else str(listing.compare_at_price),
            "currency": listing.currency,
            "published": False if deleted else bool(listing.is_published),
            "title": listing.title,  # the channel's own title; "" = the product's
            "deleted": deleted,
        },
    )


def listings_changed(listings: Iterable[ChannelListing], *, deleted: bool = False) -> int:
    """listing.changed for each listing, recorded now."""
    return outbox.emit_many(listing_events(listings, deleted=deleted))


def listing_events(listings: Iterable[ChannelListing], *, deleted: bool = False) -> list[outbox.NewEvent]:
    """The listing.changed events of `listings` (built before a delete, recorded after it)."""
    listings = list(listings)
    if not listings:
        return []
    from omnishop.channels.models import Channel

    from .models import Variant

    codes = dict(Channel.objects.filter(pk__in={x.channel_id for x in listings}).values_list("pk", "code"))
    variants = {
        pk: (sku, product_id)
        for pk, sku, product_id in Variant.objects.filter(
            pk__in={x.variant_id for x in listings}
        ).values_list("pk", "sku", "product_id")
    }
    events = []
    for listing in listings:
        if listing.variant_id not in variants:
            continue
        sku, product_id = variants[listing.variant_id]
        event = listing_event(listing, sku=sku, channel_code=codes[listing.channel_id], deleted=deleted)
        event.payload["product_id"] = product_id
        events.append(event)
    return events


def product_event(type: str, product: Product) -> None:
    outbox.emit(
        type,
        aggregate_type="product",
        aggregate_id=product.pk,
        payload={"product_id": product.pk, "title": product.title, "slug": product.slug},
    )


def products_changed(type: str, products: Iterable[Product]) -> int:
    return outbox.emit_many(
        [
            outbox.NewEvent(
                type=type,
                aggregate_type="product",
                aggregate_id=str(p.pk),
                payload={"product_id": p.pk, "title": p.title, "slug": p.slug},
            )
            for p in products
        ]
    )


def touch_product(product_id: int) -> None:
    """A change to a variant or image is a change to the product, for `updated_since` sync clients and
    for the outbox (product.updated)."""
    Product.objects.filter(pk=product_id).update(updated_at=timezone.now())
    product = Product.objects.only("pk", "title", "slug").filter(pk=product_id).first()
    if product is not None:
        product_event("product.updated", product)
