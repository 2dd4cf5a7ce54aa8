"""A merchandiser changes many prices of one channel at once: a preview shows old → new for every listing,
refuses the rows that would be wrong with a reason each, and the confirmation applies the rest in one
transaction, announced to the channel as single price changes are, and only once however often it is sent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.catalog import services
from omnishop.catalog.models import ChannelListing
from omnishop.catalog.services import PriceChange
from omnishop.core.errors import DomainError
from omnishop.core.models import OutboxEvent

pytestmark = pytest.mark.django_db


def listed(product, channel, *prices, compare_at=None):
    for variant, price in zip(product.variants.order_by("position", "pk"), prices, strict=True):
        services.upsert_listing(
            channel=channel, variant=variant, price=price, compare_at_price=compare_at, is_published=True
        )
    return product


def price_of(sku, channel):
    return ChannelListing.objects.get(variant__sku=sku, channel=channel).price


def test_a_ten_percent_rise_rounds_half_up_to_pence_and_previews_every_listing(hoodie, web_channel):
    listed(hoodie, web_channel, "9.99", "0.05")
    preview = services.preview_price_change(
        channel=web_channel, product_ids=[hoodie.pk], change=PriceChange("percent", Decimal("10"))
    )
    assert [(r.sku, r.old_price, r.new_price, r.refused) for r in preview.rows] == [
        ("HOOD-M", Decimal("9.99"), Decimal("10.99"), ""),  # 10.989 → 10.99
        ("HOOD-L", Decimal("0.05"), Decimal("0.06"), ""),  # 0.055 → 0.06 (half up)
    ]
    assert price_of("HOOD-M", web_channel) == Decimal("9.99")  # a preview writes nothing


def test_yen_prices_round_to_whole_yen(make_product, make_channel):
    yen = make_channel("jp", "web", "JPY")
    product = listed(make_product("Tea", skus=("TEA-1",)), yen, "1005")
    preview = services.preview_price_change(
        channel=yen, product_ids=[product.pk], change=PriceChange("percent", Decimal("-5"))
    )
    assert preview.rows[0].new_price == Decimal("955")  # 954.75 → 955


def test_zero_negative_and_above_compare_at_prices_are_refused_with_a_reason_per_row(
    make_product, web_channel
):
    cheap = listed(make_product("Sticker", skus=("STK-1", "STK-2")), web_channel, "3.00", "5.00")
    preview = services.preview_price_change(
        channel=web_channel, product_ids=[cheap.pk], change=PriceChange("amount", Decimal("-3.00"))
    )
    assert [r.sku for r in preview.refused] == ["STK-1"]
    assert "above zero" in preview.refused[0].refused
    assert [(r.sku, r.new_price) for r in preview.accepted] == [("STK-2", Decimal("2.00"))]

    sale = listed(make_product("Mug", skus=("MUG-1",)), web_channel, "8.00", compare_at="10.00")
    preview = services.preview_price_change(
        channel=web_channel, product_ids=[sale.pk], change=PriceChange("set", Decimal("12"))
    )
    assert "compare-at price 10.00 GBP" in preview.rows[0].refused


def test_confirming_applies_the_accepted_rows_once_and_announces_each_like_a_single_change(
    make_product, web_channel, market_channel
):
    product = listed(
        make_product("Cap", skus=("CAP-1", "CAP-2", "CAP-3")), web_channel, "10.00", "20.00", "1.00"
    )
    listed(product, market_channel, "11.00", "21.00", "2.00")
    before = OutboxEvent.objects.filter(type="listing.changed").count()
    change = PriceChange("amount", Decimal("-1.50"))
    preview = services.preview_price_change(channel=web_channel, product_ids=[product.pk], change=change)
    assert [r.sku for r in preview.refused] == ["CAP-3"]  # 1.00 - 1.50 < 0

    result = services.apply_price_change(channel=web_channel, change=change, expected=preview.expected)
    assert (result.changed, result.unchanged) == (2, 0)
    assert [price_of(s, web_channel) for s in ("CAP-1", "CAP-2", "CAP-3")] == [
        Decimal("8.50"),
        Decimal("18.50"),
        Decimal("1.00"),
    ]
    assert price_of("CAP-1", market_channel) == Decimal("11.00")  # another channel is untouched
    announced = OutboxEvent.objects.filter(type="listing.changed").order_by("id")[before:]
    assert sorted((e.channel, e.payload["sku"], e.payload["price"]) for e in announced) == [
        ("web", "CAP-1", "8.50"),
        ("web", "CAP-2", "18.50"),
    ]

    again = services.apply_price_change(channel=web_channel, change=change, expected=preview.expected)
    assert (again.changed, again.unchanged) == (0, 2)  # a double submit changes nothing
    assert price_of("CAP-1", web_channel) == Decimal("8.50")
    assert OutboxEvent.objects.filter(type="listing.changed").count() == before + 2


def test_a_price_changed_since_the_preview_refuses_the_whole_change(make_product, web_channel):
    product = listed(make_product("Bag", skus=("BAG-1", "BAG-2")), web_channel, "10.00", "20.00")
    change = PriceChange("percent", Decimal("50"))
    preview = services.preview_price_change(channel=web_channel, product_ids=[product.pk], change=change)
    services.upsert_listing(channel=web_channel, variant=product.variants.get(sku="BAG-2"), price="25.00")
    with pytest.raises(DomainError) as refused:
        services.apply_price_change(channel=web_channel, change=change, expected=preview.expected)
    assert refused.value.code == "prices_changed_since_preview"
    assert price_of("BAG-1", web_channel) == Decimal("10.00")  # nothing applied


def test_products_not_listed_on_the_channel_cannot_be_repriced(hoodie, web_channel):
    with pytest.raises(DomainError) as refused:
        services.preview_price_change(
            channel=web_channel, product_ids=[hoodie.pk], change=PriceChange("set", Decimal("5"))
        )
    assert (refused.value.code, refused.value.field) == ("no_listings_to_price", "products")


def test_an_unknown_rule_is_refused_on_its_field():
    with pytest.raises(DomainError) as refused:
        PriceChange("double", Decimal("2"))
    assert (refused.value.code, refused.value.field) == ("invalid_price_change", "rule")


def test_products_are_filtered_by_brand_channel_and_publication(make_product, web_channel, market_channel):
    hoodie = listed(make_product("Hoodie", skus=("H-1",), brand="Northwind"), web_channel, "30.00")
    cap = make_product("Cap", skus=("C-1",), brand="Contoso")
    services.upsert_listing(channel=market_channel, variant=cap.variants.get(), price="9.00")  # unpublished
    bare = make_product("Scarf", skus=("S-1",), brand="Northwind")

    def found(**filters):
        return sorted(p.title for p in services.products_matching(**filters))

    assert found(brand="northwind") == ["Hoodie", "Scarf"]
    assert found(channel=web_channel) == ["Hoodie"]
    assert found(published=True) == ["Hoodie"]
    assert found(published=False) == ["Cap", "Scarf"]
    assert found(channel=market_channel, published=False) == ["Cap"]
    assert found(channel=web_channel, published=False) == []
    assert {hoodie.pk, cap.pk, bare.pk} == set(services.products_matching().values_list("pk", flat=True))
