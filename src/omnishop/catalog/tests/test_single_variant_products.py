"""Products of one variant each, created in bulk for an order-history import's stock codes."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from omnishop.catalog import services
from omnishop.catalog.models import Product, Variant

pytestmark = pytest.mark.django_db

_SET_PER_ROW = {"id", "title", "slug", "attributes", "created_at", "updated_at"}


def _stored(model, pk) -> dict:
    row = model.objects.get(pk=pk)
    return {f.attname: getattr(row, f.attname) for f in model._meta.concrete_fields}


def test_bulk_created_products_are_stored_as_django_would_store_them():
    """Every field the rows do not set holds what `bulk_create` of the same objects stores (on PostgreSQL the
    rows go through one array INSERT per table), and each SKU gets its own product and variant."""
    rows = [
        ("MUG-1", "White mug", "white-mug-mug-1", {"source": "retail"}),
        ("ÉTÉ-2", "Été hat", "ete-hat-ete-2", {"source": "retail", "n": [1, "two"]}),
    ]
    created = services.create_single_variant_products(rows=rows)
    assert set(created) == {"MUG-1", "ÉTÉ-2"}
    reference = Product(title="Reference", slug="reference", attributes={"source": "retail"})
    Product.objects.bulk_create([reference])
    reference_variant = Variant(product_id=reference.pk, sku="REF-1")
    Variant.objects.bulk_create([reference_variant])
    expected_product = _stored(Product, reference.pk)
    expected_variant = _stored(Variant, reference_variant.pk)
    for sku, title, slug, attributes in rows:
        variant = _stored(Variant, created[sku])
        product = _stored(Product, variant["product_id"])
        assert (product["title"], product["slug"], product["attributes"]) == (title, slug, attributes)
        assert {k: v for k, v in product.items() if k not in _SET_PER_ROW} == {
            k: v for k, v in expected_product.items() if k not in _SET_PER_ROW
        }
        assert variant["sku"] == sku
        unset = _SET_PER_ROW | {"product_id", "sku", "sku_key"}
        assert {k: v for k, v in variant.items() if k not in unset} == {
            k: v for k, v in expected_variant.items() if k not in unset
        }
    keys = dict(Variant.objects.filter(pk__in=created.values()).values_list("sku", "sku_key"))
    assert keys == {"MUG-1": "mug-1", "ÉTÉ-2": "été-2"}


def test_a_taken_sku_refuses_the_whole_batch():
    services.create_single_variant_products(rows=[("CUP-1", "Cup", "cup-cup-1", {})])
    with pytest.raises(IntegrityError), transaction.atomic():
        services.create_single_variant_products(
            rows=[("CUP-2", "Cup two", "cup-two-cup-2", {}), ("CUP-1", "Cup again", "cup-again-cup-1", {})]
        )
    assert not Product.objects.filter(slug="cup-two-cup-2").exists()
