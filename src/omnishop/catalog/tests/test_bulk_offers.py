"""Saving many supplier offers at once (bulk imports) keeps the catalog's rule: one preferred offer per
variant, the others stepping down in the same transaction."""

from decimal import Decimal

import pytest

from omnishop.catalog import services
from omnishop.catalog.models import SupplierOffer
from omnishop.core.errors import ValidationFailed

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
