"""The Olist product master through `olist_products`: each problem the dataset README lists, on rows of the
real file — misspelt columns, products without category or measurements, weight 0, categories missing
from the translation table, the translation table's BOM — and a second import that changes nothing."""

from __future__ import annotations

import csv
import gzip
import io

import pytest

from omnishop.catalog.models import Category, Product, Variant
from omnishop.datahub import profiles

from .conftest import dataset

pytestmark = pytest.mark.django_db

NO_CATEGORY_NO_WEIGHT = "5eb564652db742ff8f28759cd8d2652a"
NO_WEIGHT = "09ff539a621711667c43eba6a3bd8466"
WEIGHT_ZERO = "81781c0fed9fe1ad6e8c81fca1e1cb08"
PC_GAMER = "0105b5323d24fc655f73052694dbbb3a"
KITCHEN = "6fd83eb3e0799b775e4f946bd66657c0"
UNQUOTED = "cef67bcfe19066a932b7673e239eb23d"  # the file quotes most ids, not this one
PICKED = {NO_CATEGORY_NO_WEIGHT, NO_WEIGHT, WEIGHT_ZERO, PC_GAMER, KITCHEN}


def olist_slice(first: int = 100) -> bytes:
    """The header, the first `first` products and the README's problem rows, as the file has them."""
    lines = []
    with gzip.open(
        dataset("olist_catalog", "olist_products_dataset.csv.gz"), "rt", encoding="utf-8"
    ) as handle:
        for index, line in enumerate(handle):
            if index <= first or line.split(",", 1)[0].strip('"') in PICKED:
                lines.append(line)
    return "".join(lines).encode()


@pytest.fixture(scope="module")
def data() -> bytes:
    return olist_slice()


def test_olist_products_become_products_with_one_variant_and_english_categories(run_import, data):
    job = run_import("olist_products", data, name="olist_products.csv")
    assert (job.rows_read, job.imported, job.quarantined) == (105, 105, 0)
    assert Product.objects.count() == Variant.objects.count() == 105
    perfume = Variant.objects.select_related("product__category").get(sku="1e9e8ef04dbcff4541ed26657ea517e5")
    assert perfume.product.category.name == "Perfumery"
    assert perfume.weight_grams == 225
    # the misspelt `_lenght` columns and the package size are product attributes
    assert perfume.product.attributes == {
        "name_length": 40,
        "description_length": 287,
        "photos": 1,
        "length_cm": 16,
        "height_cm": 10,
        "width_cm": 14,
    }
    assert Variant.objects.filter(sku=UNQUOTED).exists()
    again = run_import("olist_products", data, name="olist_products.csv")
    assert (again.unchanged, again.imported, again.updated) == (105, 0, 0)


def test_products_without_category_or_measurements_import_without_them(run_import, data):
    run_import("olist_products", data, name="olist_products.csv")
    bare = Variant.objects.select_related("product").get(sku=NO_CATEGORY_NO_WEIGHT)
    assert bare.product.category is None and bare.weight_grams is None
    assert bare.product.attributes == {}
    unweighed = Variant.objects.select_related("product__category").get(sku=NO_WEIGHT)
    assert unweighed.weight_grams is None and unweighed.product.category.name == "Baby"
    assert "length_cm" not in unweighed.product.attributes
    assert Variant.objects.get(sku=WEIGHT_ZERO).weight_grams == 0  # kept as published


def test_categories_missing_from_the_translation_table_still_get_english_names(run_import, data):
    run_import("olist_products", data, name="olist_products.csv")
    assert Product.objects.get(variants__sku=PC_GAMER).category.name == "Pc gamer"
    assert (
        Product.objects.get(variants__sku=KITCHEN).category.name
        == "Small appliances kitchen and food preparers"
    )
    assert not Category.objects.filter(name__contains="_").exists()  # no Portuguese snake_case left


def test_every_row_of_the_translation_file_is_in_the_profile():
    path = dataset("olist_catalog", "product_category_name_translation.csv")
    with open(path, encoding="utf-8-sig", newline="") as handle:  # the file starts with a BOM
        table = {
            row["product_category_name"]: row["product_category_name_english"]
            for row in csv.DictReader(handle)
        }
    assert "beleza_saude" in table  # the first column's name is only right once the BOM is dropped
    profile = profiles.get_profile("olist_products")
    (field,) = [f for f in profile.fields if f.name == "categories"]
    (mapping,) = [
        step["values"] for step in field.steps if isinstance(step, dict) and step.get("name") == "map"
    ]
    assert {k: v.lower().replace(" ", "_") for k, v in mapping.items() if k in table} == table
    assert set(mapping) - set(table) == {"pc_gamer", "portateis_cozinha_e_preparadores_de_alimentos"}


def test_a_product_id_that_is_not_32_hex_digits_is_quarantined(run_import):
    header = io.StringIO()
    csv.writer(header).writerow(["product_id", "product_category_name", "product_weight_g"])
    job = run_import(
        "olist_products",
        (header.getvalue() + "not-an-id,perfumaria,10\r\n").encode(),
        name="olist_products.csv",
    )
    assert job.quarantined == 1
    assert job.quarantined_rows.get().reasons[0]["field"] == "sku"
