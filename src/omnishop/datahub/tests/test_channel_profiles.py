"""Each shipped channel profile on its real shared export: what it creates, the README's quirks handled,
and a second import that changes nothing."""

from __future__ import annotations

import gzip
from decimal import Decimal

import pytest

from omnishop.catalog.models import Category, ChannelListing, Product, Supplier, SupplierOffer, Variant
from omnishop.customers.models import ChannelIdentity
from omnishop.datahub.models import StagedTransactionLine

from .conftest import dataset

pytestmark = pytest.mark.django_db


def test_shopify_handles_group_variant_rows_under_one_product(run_import, retail_channel):
    path = dataset("channel_exports", "shopify", "apparel.csv")
    job = run_import("shopify_products", path, channel=retail_channel)
    assert (job.rows_read, job.imported, job.quarantined) == (22, 22, 0)
    assert Product.objects.count() == 20
    top = Product.objects.get(title="Classic Varsity Top")
    sizes = sorted(v.attributes["size"] for v in top.variants.all())
    assert sizes == ["Large", "Medium", "Small"]  # rows 2 and 3 have no Option1 Name: inherited from row 1
    assert all(v.sku.startswith("classic-varsity-top-") for v in top.variants.all())  # SKUs were empty
    shirt = Product.objects.get(title="Ocean Blue Shirt")
    assert shirt.description.endswith("long sleeves. Comfortable fit and tiled kalidoscope patterns.")
    assert shirt.attributes["tags"] == ["men"]
    listing = ChannelListing.objects.get(variant__product=shirt)
    assert (listing.price, listing.currency, listing.is_published) == (Decimal("50"), "GBP", True)
    assert shirt.variants.get().weight_grams == 0
    again = run_import("shopify_products", path, channel=retail_channel)
    assert (again.unchanged, again.imported, again.updated) == (22, 0, 0)
    assert Product.objects.count() == 20 and Variant.objects.count() == 22


def test_woocommerce_bom_file_types_categories_and_prices(run_import, retail_channel):
    path = dataset("channel_exports", "woocommerce", "experimental_sample_9_products.csv")
    job = run_import("woocommerce_products", path, channel=retail_channel)
    assert (job.rows_read, job.imported, job.quarantined) == (9, 9, 0)
    assert job.encoding == "utf-8-sig"  # the file starts with a BOM
    beanie = Variant.objects.get(sku="woo-beanie")
    listing = ChannelListing.objects.get(variant=beanie)
    assert (listing.price, listing.compare_at_price) == (Decimal("18"), Decimal("20"))  # on sale from 20
    assert beanie.weight_grams == 91  # .2 lbs
    assert beanie.product.category.path == "clothing/accessories"
    assert Category.objects.get(path="clothing/tshirts").parent.path == "clothing"
    grouped = Product.objects.get(title="Logo Collection")
    assert grouped.attributes["grouped_skus"] == ["woo-hoodie-with-logo", "woo-tshirt", "woo-beanie"]
    assert not grouped.variants.exists()  # a grouped product is not sold itself
    assert not Variant.objects.filter(sku="woo-vneck-tee").exists()  # variable: variants come from variations
    again = run_import("woocommerce_products", path, channel=retail_channel)
    assert again.unchanged == 9


def test_woocommerce_variations_attach_to_their_parent(run_import, retail_channel):
    header = "ID,Type,SKU,Name,Published,Regular price,Parent,Attribute 1 name,Attribute 1 value(s)\r\n"
    rows = (
        '44,variable,woo-vneck-tee,V-Neck T-Shirt,1,,,Color,"Blue, Red"\r\n'
        "45,variation,woo-vneck-tee-blue,V-Neck T-Shirt - Blue,1,15,id:44,Color,Blue\r\n"
        "46,variation,woo-vneck-tee-red,V-Neck T-Shirt - Red,1,16,woo-vneck-tee,Color,Red\r\n"
        "47,variation,woo-orphan,Orphan,1,16,id:999,Color,Red\r\n"
    )
    job = run_import("woocommerce_products", (header + rows).encode(), channel=retail_channel)
    assert (job.imported, job.quarantined) == (3, 1)
    tee = Product.objects.get(title="V-Neck T-Shirt")
    assert {v.sku: v.attributes for v in tee.variants.all()} == {
        "woo-vneck-tee-blue": {"color": "Blue"},
        "woo-vneck-tee-red": {"color": "Red"},
    }
    assert job.quarantined_rows.get().reasons[0]["code"] == "unknown_parent"


def _magento_slice(rows: int) -> bytes:
    path = dataset("channel_exports", "magento", "Configurable__products.csv")
    import csv
    import io

    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        out = io.StringIO()
        writer = csv.writer(out)
        for index, row in enumerate(reader):
            if index > rows:
                break
            writer.writerow(row)
    return out.getvalue().encode()


def test_magento_configurable_collects_its_children_listed_before_it(run_import, retail_channel):
    data = _magento_slice(16)  # 15 simple children, then their configurable parent MH01
    job = run_import("magento_products", data, channel=retail_channel)
    assert (job.rows_read, job.imported, job.quarantined) == (16, 16, 0)
    hoodie = Product.objects.get(title="Chaz Kangeroo Hoodie")
    assert Product.objects.count() == 1  # the children's holding products were folded into the parent
    assert hoodie.variants.count() == 15
    assert hoodie.variants.get(sku="MH01-XS-Black").attributes == {"size": "XS", "color": "Black"}
    assert hoodie.category.path == "men/tops/hoodies-sweatshirts"
    assert hoodie.attributes["material"] == "Wool"
    assert hoodie.attributes["climate"] == "All-weather|Cool|Indoor|Spring|Windy"
    assert "<p>" not in hoodie.description and hoodie.description.startswith(
        "Ideal for cold-weather training"
    )
    again = run_import("magento_products", data, channel=retail_channel)
    assert again.unchanged == 16 and Variant.objects.count() == 15


def test_the_same_sku_from_two_channels_is_one_variant(run_import, retail_channel, make_channel):
    data = _magento_slice(3)
    run_import("magento_products", data, channel=retail_channel)
    marketplace = make_channel("amazon", "marketplace", "EUR", country="DE")
    header = "ID,Type,SKU,Name,Published,Regular price\r\n"
    job = run_import(
        "woocommerce_products",
        (header + "7,simple,MH01-XS-Black,Chaz Hoodie XS Black,1,49.5\r\n").encode(),
        channel=marketplace,
    )
    assert (job.merged, job.imported) == (1, 0)
    variant = Variant.objects.get(sku="MH01-XS-Black")
    assert sorted(variant.listings.values_list("channel__code", "price")) == [
        ("amazon", Decimal("49.5000")),
        ("retail", Decimal("52.0000")),
    ]


def test_olist_sellers_become_suppliers_with_padded_zips_and_clean_cities(run_import):
    path = dataset("olist_catalog", "olist_sellers_dataset.csv")
    job = run_import("olist_sellers", path)
    assert (job.rows_read, job.imported, job.quarantined) == (3095, 3094, 1)
    bad = job.quarantined_rows.get()
    assert bad.raw["seller_city"] == "4482255" and bad.reasons[0]["code"] == "invalid_city"
    assert Supplier.objects.get(code="05e107217c7266362fd44b75b2cd4cc4").postcode == "05353"
    assert Supplier.objects.filter(city="Sao Paulo").count() > 500
    assert not Supplier.objects.filter(city__icontains=" - ").exists()
    assert not Supplier.objects.filter(city__contains="  ").exists()
    assert Supplier.objects.get(code="cf1313c6e2c01c2f4b014f97db4bcd2b").city == "Rio de Janeiro"
    assert Supplier.objects.get(code="6025c79c035c3d772133b8b8238463b2").city == "Pinhais"
    assert not Supplier.objects.exclude(postcode__regex=r"^\d{5}$").exists()
    again = run_import("olist_sellers", path)
    assert (again.unchanged, again.quarantined) == (3094, 1)


def test_supplier_offers_need_a_known_supplier_and_sku(run_import, retail_channel):
    run_import("magento_products", _magento_slice(2), channel=retail_channel)
    Supplier.objects.create(code="acme", name="Acme", currency="EUR")
    data = (
        "supplier,sku,cost,currency,lead_time_days,moq,pack_size,preferred\r\n"
        'acme,MH01-XS-Black,"12,50",€,10,6,3,yes\r\n'
        "nobody,MH01-XS-Black,1.00,EUR,1,1,1,no\r\n"
        "acme,NOPE,1.00,EUR,1,1,1,no\r\n"
    )
    job = run_import("supplier_offers", data.encode())
    assert (job.imported, job.quarantined) == (1, 2)
    offer = SupplierOffer.objects.get()
    assert (offer.cost, offer.currency, offer.min_order_quantity, offer.pack_size, offer.is_preferred) == (
        Decimal("12.5"),
        "EUR",
        6,
        3,
        True,
    )
    codes = sorted(r.reasons[0]["code"] for r in job.quarantined_rows.all())
    assert codes == ["unknown_sku", "unknown_supplier"]


def test_cdnow_fixed_width_lines_become_staged_purchases(run_import, make_channel):
    cdnow = make_channel("cdnow", "web", "USD", country="US")
    with gzip.open(dataset("cdnow", "CDNOW_master.txt.gz"), "rb") as handle:
        data = b"".join(handle.readline() for _ in range(2001))
    job = run_import("cdnow", data, name="cdnow.txt", channel=cdnow)
    assert job.format == "fixed_width"
    assert (job.rows_read, job.imported, job.quarantined) == (2000, 2000, 0)
    same_day = StagedTransactionLine.objects.filter(customer_ref="00002").order_by("natural_key")
    assert [(line.natural_key, line.quantity, line.line_total) for line in same_day[:2]] == [
        ("00002-19970112:1", 1, Decimal("12.0000")),
        ("00002-19970112:2", 5, Decimal("77.0000")),
    ]
    assert same_day[0].currency == "USD" and same_day[0].kind == "sale"
    assert ChannelIdentity.objects.filter(channel=cdnow).count() == len(
        set(StagedTransactionLine.objects.values_list("customer_ref", flat=True))
    )
    again = run_import("cdnow", data, name="cdnow.txt", channel=cdnow)
    assert again.unchanged == 2000


def test_a_transactions_profile_without_a_channel_fails_clearly(run_import):
    job = run_import(
        "cdnow",
        b" customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n",
        name="cdnow.txt",
    )
    assert (job.status, job.error_code) == ("failed", "channel_required")
