"""SKUs are compared after Unicode NFKC and case folding: 'sku-1', 'SKU-1' and full-width 'ＳＫＵ-1' are one
SKU, so a new SKU that is an existing one spelt differently is refused (409 sku_clash); SKUs that clashed
before the rule are reported by the migration, never rewritten."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from omnishop.catalog import services
from omnishop.catalog.errors import DuplicateSku, SkuClash
from omnishop.catalog.models import Product, Variant
from omnishop.catalog.services import NewVariant
from omnishop.catalog.skus import sku_clashes, sku_key

pytestmark = pytest.mark.django_db


def test_case_and_unicode_width_do_not_make_a_different_sku():
    assert sku_key("sku-1") == sku_key("SKU-1") == sku_key("ＳＫＵ－１")
    assert sku_key("SKU-1") != sku_key("SKU-2")
    assert sku_clashes(["SKU-1", "sku-1", "B", "ＳＫＵ-1", "C"]) == [["SKU-1", "sku-1", "ＳＫＵ-1"]]


@pytest.mark.parametrize("spelling", ["sku-1", "Sku-1", "ＳＫＵ-1", "ＳＫＵ－１"])
def test_a_new_sku_that_is_an_existing_one_spelt_differently_is_refused(staff_api, make_product, spelling):
    make_product("Existing", skus=("SKU-1",))
    before = (Product.objects.count(), Variant.objects.count())
    response = staff_api.post(
        "/catalog/products", {"title": "Copy", "variants": [{"sku": "NEW-9"}, {"sku": spelling}]}
    )
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("sku_clash", "variants[1].sku")
    assert error["details"] == {"sku": spelling, "existing": "SKU-1"}
    assert (Product.objects.count(), Variant.objects.count()) == before


def test_the_same_sku_exactly_is_still_duplicate_sku(make_product):
    make_product("Existing", skus=("SKU-1",))
    with pytest.raises(DuplicateSku):
        services.create_product(title="Again", variants=[NewVariant(sku="SKU-1")])


def test_two_spellings_of_one_sku_in_one_request_are_refused(make_product):
    with pytest.raises(DuplicateSku) as refused:
        services.create_product(title="Twice", variants=[NewVariant(sku="ab-1"), NewVariant(sku="AB-1")])
    assert refused.value.field == "variants[1].sku"


def test_renaming_a_variant_onto_another_skus_spelling_is_refused_but_recasing_its_own_is_not(make_product):
    product = make_product("Two", skus=("TWO-A", "TWO-B"))
    a, b = product.variants.order_by("sku")
    with pytest.raises(SkuClash):
        services.update_variant(variant=b, sku="two-a")
    services.update_variant(variant=a, sku="two-a")  # its own SKU in another case
    a.refresh_from_db()
    assert (a.sku, a.sku_key) == ("two-a", "two-a")


def test_the_migration_reports_existing_clashes_and_rewrites_nothing(make_product, capsys):
    product = make_product("Old", skus=("OLD-1",))
    # As they were before the rule: written without the check.
    Variant.objects.create(product=product, sku="old-1")
    Variant.objects.create(product=product, sku="ＯＬＤ-1")
    Variant.objects.update(sku_key="")
    migration = importlib.import_module("omnishop.catalog.migrations.0002_sku_key")
    migration.fill_keys_and_report_clashes(apps, None)
    out = capsys.readouterr().out
    assert "1 group(s)" in out and "'OLD-1', 'old-1', 'ＯＬＤ-1'" in out
    assert sorted(Variant.objects.values_list("sku", flat=True)) == ["OLD-1", "old-1", "ＯＬＤ-1"]
    assert set(Variant.objects.values_list("sku_key", flat=True)) == {"old-1"}
