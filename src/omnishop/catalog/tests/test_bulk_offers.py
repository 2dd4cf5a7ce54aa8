"""Bulk imports use the catalog's rules without its per-row writes: listing terms checked without saving,
many supplier offers saved at once with one preferred offer per variant, the others stepping down."""

from decimal import Decimal

import pytest

from omnishop.catalog import services
from omnishop.catalog.errors import InvalidCompareAtPrice
from omnishop.catalog.models import SupplierOffer
from omnishop.core.errors import ValidationFailed
from omnishop.core.money import CurrencyMismatch, InvalidAmount

pytestmark = pytest.mark.django_db


def test_saving_offers_in_bulk_makes_the_new_preferred_one_the_only_one(supplier, hoodie):
    medium, large = hoodie.variants.order_by("sku")[1], hoodie.variants.order_by("sku")[0]
    old = services.create_offer(supplier=supplier, variant=medium, cost="5.00", is_preferred=True)
    bolt = services.create_supplier(code="bolt", name="Bolt")
    new = [
        SupplierOffer(supplier=bolt, variant=medium, cost=Decimal("4.80"), currency="GBP", is_preferred=True),
        SupplierOffer(supplier=bolt, variant=large, cost=Decimal("5.10"), currency="GBP"),
    ]
    services.save_offers(offers=new)
    assert dict(
        SupplierOffer.objects.filter(variant=medium).values_list("supplier__code", "is_preferred")
    ) == {
        "acme": False,
        "bolt": True,
    }
    assert SupplierOffer.objects.get(pk=old.pk).cost == Decimal("5.0000")  # only its preference changed
    assert SupplierOffer.objects.filter(variant=large).count() == 1


def test_two_preferred_offers_for_one_variant_in_one_save_are_refused_and_nothing_is_written(
    supplier, hoodie
):
    variant = hoodie.variants.first()
    bolt = services.create_supplier(code="bolt", name="Bolt")
    offers = [
        SupplierOffer(supplier=s, variant=variant, cost=Decimal("1"), currency="GBP", is_preferred=True)
        for s in (supplier, bolt)
    ]
    with pytest.raises(ValidationFailed) as raised:
        services.save_offers(offers=offers)
    assert raised.value.field == "is_preferred"
    assert not SupplierOffer.objects.exists()


def test_listing_terms_are_checked_without_saving_a_listing(web_channel):
    listing = services.check_listing_terms(channel=web_channel, price="9.5", compare_at_price="12")
    assert (listing.price, listing.compare_at_price, listing.currency, listing.pk) == (
        Decimal("9.50"),
        Decimal("12.00"),
        web_channel.currency,
        None,
    )
    other = "EUR" if web_channel.currency != "EUR" else "GBP"
    for terms, error in (
        ({"price": "1", "currency": other}, CurrencyMismatch),
        ({"price": "1.005"}, InvalidAmount),
        ({"price": "10000000000"}, InvalidAmount),
        ({"price": "5", "compare_at_price": "4"}, InvalidCompareAtPrice),
    ):
        with pytest.raises(error):
            services.check_listing_terms(channel=web_channel, **terms)
    assert not web_channel.listings.exists()
