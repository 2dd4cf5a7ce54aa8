"""The catalogue tells channels what changed: product.* for shared data, listing.changed per channel and SKU."""

from __future__ import annotations

import pytest

from omnishop.catalog import listings, services
from omnishop.catalog.models import ChannelListing
from omnishop.core.errors import DomainError
from omnishop.core.models import OutboxEvent

pytestmark = pytest.mark.django_db


def events(type):
    return list(OutboxEvent.objects.filter(type=type).order_by("id"))


def test_creating_changing_and_deleting_a_product_announces_each_step(hoodie):
    assert [e.payload["product_id"] for e in events("product.created")] == [hoodie.pk]
    services.update_product(product=hoodie, title="Organic Hoodie v2")
    services.add_variant(product=hoodie, variant=services.NewVariant(sku="HOOD-XL"))
    updated = events("product.updated")
    assert len(updated) == 2 and updated[0].payload["title"] == "Organic Hoodie v2"
    assert [e.sequence for e in OutboxEvent.objects.filter(aggregate_type="product").order_by("id")] == [
        1,
        2,
        3,
    ]
    product_id = hoodie.pk
    services.delete_product(product=hoodie)
    assert events("product.deleted")[0].payload["product_id"] == product_id


def test_a_price_change_is_announced_to_the_channel_and_an_unchanged_save_is_not(hoodie, web_channel):
    variant = hoodie.variants.get(sku="HOOD-M")
    listings.upsert_listing(channel=web_channel, variant=variant, price="30.00", is_published=True)
    listings.upsert_listing(
        channel=web_channel, variant=variant, price="30.00"
    )  # nothing channels see changed
    listings.upsert_listing(channel=web_channel, variant=variant, price="27.50", compare_at_price="30.00")
    announced = events("listing.changed")
    assert [e.payload["price"] for e in announced] == ["30.00", "27.50"]
    last = announced[-1].envelope()
    assert last["aggregate"] == {"type": "listing", "id": "web:HOOD-M", "sequence": 2}
    assert last["channel"] == "web"
    assert last["data"]["published"] is True and last["data"]["product_id"] == hoodie.pk


def test_a_change_of_the_channels_own_title_is_announced_with_it(hoodie, web_channel):
    variant = hoodie.variants.get(sku="HOOD-M")
    listings.upsert_listing(channel=web_channel, variant=variant, price="30.00", is_published=True)
    listings.upsert_listing(channel=web_channel, variant=variant, title="Hoodie – organic cotton, M")
    listings.upsert_listing(channel=web_channel, variant=variant, title="Hoodie – organic cotton, M")
    listings.upsert_listing(channel=web_channel, variant=variant, title="")
    assert [e.payload["title"] for e in events("listing.changed")] == ["", "Hoodie – organic cotton, M", ""]


def test_unpublishing_and_deleting_listings_are_announced(hoodie, web_channel):
    for variant in hoodie.variants.all():
        listings.upsert_listing(channel=web_channel, variant=variant, price="30.00", is_published=True)
    before = len(events("listing.changed"))
    assert (
        listings.set_listings_published(
            listings=ChannelListing.objects.filter(channel=web_channel), published=False
        )
        == 2
    )
    unpublished = events("listing.changed")[before:]
    assert [e.payload["published"] for e in unpublished] == [False, False]
    listings.delete_listing(listing=ChannelListing.objects.filter(channel=web_channel).first())
    gone = events("listing.changed")[-1].payload
    assert gone["deleted"] is True and gone["published"] is False and gone["price"] is None


def test_a_refused_listing_change_announces_nothing(hoodie, web_channel):
    variant = hoodie.variants.get(sku="HOOD-M")
    with pytest.raises(DomainError) as refused:
        listings.upsert_listing(channel=web_channel, variant=variant, price="-1")
    assert refused.value.field == "price"
    assert events("listing.changed") == []
