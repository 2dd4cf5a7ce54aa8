"""WooCommerce's product CSV loses nothing the catalogue can hold: a simple product's attributes, the
parent's weight on variations that leave theirs empty, an external product's URL and button text, a
downloadable product's files. On the shared real export (`experimental_sample_9_products.csv`) and on rows
written in its exact 51 columns for the product types the shared files lack."""

from __future__ import annotations

import csv
import io

import pytest

from omnishop.catalog.models import Product, Variant

from .conftest import dataset

pytestmark = pytest.mark.django_db

SAMPLE = ("channel_exports", "woocommerce", "experimental_sample_9_products.csv")


def _header() -> list[str]:
    with dataset(*SAMPLE).open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle))


def _csv(rows: list[dict]) -> bytes:
    header = _header()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**dict.fromkeys(header, ""), "Published": "1", **row})
    return out.getvalue().encode()


def test_a_simple_products_attributes_are_kept(run_import, retail_channel):
    job = run_import("woocommerce_products", dataset(*SAMPLE), channel=retail_channel)
    assert job.quarantined == 0
    tshirt = Variant.objects.get(sku="woo-tshirt").product
    assert tshirt.attributes["color"] == "Gray"  # Attribute 1 name: Color, Attribute 1 value(s): Gray
    assert Variant.objects.get(sku="woo-beanie").product.attributes["color"] == "Red"
    assert "color" not in Variant.objects.get(sku="woo-belt").product.attributes  # the belt has none
    again = run_import("woocommerce_products", dataset(*SAMPLE), channel=retail_channel)
    assert again.unchanged == again.rows_read


def test_a_simple_product_with_several_values_keeps_them_all(run_import, retail_channel):
    data = _csv(
        [
            {
                "ID": "10",
                "Type": "simple",
                "SKU": "scarf",
                "Name": "Scarf",
                "Regular price": "12",
                "Attribute 1 name": "Material",
                "Attribute 1 value(s)": "Wool, Silk",
                "Attribute 2 name": "Season",
                "Attribute 2 value(s)": "Winter",
            }
        ]
    )
    run_import("woocommerce_products", data, channel=retail_channel)
    scarf = Variant.objects.get(sku="scarf")
    assert scarf.product.attributes["material"] == ["Wool", "Silk"]
    assert scarf.product.attributes["season"] == "Winter"
    assert scarf.attributes == {}  # a simple product's attributes are not variant axes


def test_variations_inherit_the_parents_weight_when_theirs_is_empty(run_import, retail_channel):
    rows = [
        {"ID": "44", "Type": "variable", "SKU": "tee", "Name": "Tee", "Weight (lbs)": ".5",
         "Attribute 1 name": "Color", "Attribute 1 value(s)": "Blue, Red"},
        {"ID": "45", "Type": "variation", "SKU": "tee-blue", "Name": "Tee - Blue", "Regular price": "15",
         "Parent": "id:44", "Attribute 1 name": "Color", "Attribute 1 value(s)": "Blue"},
        {"ID": "46", "Type": "variation", "SKU": "tee-red", "Name": "Tee - Red", "Regular price": "15",
         "Parent": "tee", "Weight (lbs)": "1", "Attribute 1 name": "Color", "Attribute 1 value(s)": "Red"},
    ]  # fmt: skip
    job = run_import("woocommerce_products", _csv(rows), channel=retail_channel)
    assert job.quarantined == 0
    assert Variant.objects.get(sku="tee-blue").weight_grams == 227  # .5 lb, the parent's
    assert Variant.objects.get(sku="tee-red").weight_grams == 454  # its own 1 lb
    again = run_import("woocommerce_products", _csv(rows), channel=retail_channel)
    assert again.unchanged == 3
    rows[0]["Weight (lbs)"] = "1.5"  # the parent's weight changes: the variation that inherits follows
    third = run_import("woocommerce_products", _csv(rows), channel=retail_channel)
    assert third.quarantined == 0
    assert Variant.objects.get(sku="tee-blue").weight_grams == 680
    assert Variant.objects.get(sku="tee-red").weight_grams == 454


def test_an_external_products_url_and_button_text_are_kept(run_import, retail_channel):
    row = {"ID": "70", "Type": "external", "SKU": "ext-book", "Name": "A Book", "Regular price": "9.99",
           "External URL": "https://publisher.example.com/a-book", "Button text": "Buy at the publisher"}  # fmt: skip
    job = run_import("woocommerce_products", _csv([row]), channel=retail_channel)
    assert job.quarantined == 0
    book = Product.objects.get(title="A Book")
    assert book.attributes["external_url"] == "https://publisher.example.com/a-book"
    assert book.attributes["button_text"] == "Buy at the publisher"


def test_a_downloadable_products_files_are_kept(run_import, retail_channel):
    row = {"ID": "80", "Type": "simple, downloadable, virtual", "SKU": "album", "Name": "Album",
           "Regular price": "5", "Download limit": "3", "Download expiry days": "30",
           "Download 1 name": "Single", "Download 1 URL": "https://files.example.com/single.mp3",
           "Download 2 name": "Album", "Download 2 URL": "https://files.example.com/album.zip"}  # fmt: skip
    job = run_import("woocommerce_products", _csv([row]), channel=retail_channel)
    assert job.quarantined == 0
    album = Product.objects.get(title="Album")
    assert album.attributes["downloads"] == [
        {"name": "Single", "url": "https://files.example.com/single.mp3"},
        {"name": "Album", "url": "https://files.example.com/album.zip"},
    ]
    assert (album.attributes["download_limit"], album.attributes["download_expiry_days"]) == (3, 30)
    assert job.quality["unknown_columns"].count("Download 1 URL") == 0
