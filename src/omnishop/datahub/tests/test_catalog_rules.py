"""Imported catalog rows obey the catalog's own rules (GTINs, listing currency and prices, supplier contact
details, one preferred offer per variant): a row that breaks one is quarantined with the catalog's error
code, the others are written as before."""

from __future__ import annotations

from decimal import Decimal

import pytest

from omnishop.catalog import services as catalog
from omnishop.catalog.models import ChannelListing, Supplier, SupplierOffer, Variant
from omnishop.datahub import profiles

pytestmark = pytest.mark.django_db

# A plain product feed whose GTIN and currency columns are only trimmed, so the target's checks are the
# ones that decide (the shipped Shopify profile already rejects a bad check digit while cleaning).
FEED_PROFILE = """
name = "rules_feed"
target = "products"
source = "rules_feed"
[fields.sku]
column = "sku"
required = true
clean = ["text"]
[fields.title]
column = "title"
clean = ["text"]
[fields.gtin]
column = "gtin"
clean = ["text"]
[fields.price]
column = "price"
clean = ["decimal"]
[fields.compare_at_price]
column = "compare_at"
clean = ["decimal"]
[fields.currency]
column = "currency"
clean = ["text"]
"""

SUPPLIER_PROFILE = """
name = "rules_suppliers"
target = "suppliers"
source = "rules_suppliers"
[fields.code]
column = "code"
required = true
clean = ["text"]
[fields.name]
column = "name"
clean = ["text"]
[fields.email]
column = "email"
clean = ["text"]
[fields.phone]
column = "phone"
clean = ["text"]
[fields.country]
column = "country"
clean = ["text"]
[fields.currency]
column = "currency"
clean = ["text"]
"""


@pytest.fixture
def own_profiles(tmp_path, settings):
    directory = tmp_path / "profiles"
    directory.mkdir()
    (directory / "rules_feed.toml").write_text(FEED_PROFILE)
    (directory / "rules_suppliers.toml").write_text(SUPPLIER_PROFILE)
    settings.OMNISHOP_DATAHUB_PROFILE_DIRS = [str(directory)]
    profiles._index.cache_clear()
    yield
    profiles._index.cache_clear()


def reasons(job) -> dict[int, tuple[str, str]]:
    """Quarantined rows by line: (field, code) of their first reason."""
    return {q.line: (q.reasons[0]["field"], q.reasons[0]["code"]) for q in job.quarantined_rows.all()}


def csv(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def test_a_row_with_a_wrong_gtin_check_digit_is_quarantined_and_the_rest_import(
    run_import, retail_channel, own_profiles
):
    job = run_import(
        "rules_feed",
        csv(
            "sku,title,gtin,price",
            "GOOD-1,Good mug,4006381333931,9.50",
            "BAD-1,Bad mug,4006381333932,9.50",
            "NOGTIN-1,Plain mug,,9.50",
        ),
        channel=retail_channel,
    )
    assert (job.imported, job.quarantined) == (2, 1)
    assert list(reasons(job).values()) == [("gtin", "invalid_gtin")]
    assert not Variant.objects.filter(sku="BAD-1").exists()
    assert Variant.objects.get(sku="GOOD-1").gtin == "4006381333931"


def test_shopify_barcode_with_a_wrong_check_digit_is_quarantined_as_invalid_gtin(run_import, retail_channel):
    job = run_import(
        "shopify_products",
        csv(
            "Handle,Title,Variant SKU,Variant Price,Variant Barcode",
            "mug,Mug,MUG-1,9.50,4006381333932",
        ),
        channel=retail_channel,
    )
    assert job.quarantined == 1 and set(reasons(job).values()) == {("gtin", "invalid_gtin")}
    assert not Variant.objects.exists()


def test_a_upc12_for_another_variants_ean13_is_quarantined_as_duplicate_gtin(run_import, retail_channel):
    catalog.create_product(
        title="Soup",
        variants=[
            catalog.NewVariant(sku="SOUP-EAN", gtin="0036000291452"),
            catalog.NewVariant(sku="SOUP-OTHER"),
        ],
    )
    job = run_import(
        "shopify_products",
        csv(
            "Handle,Title,Variant SKU,Variant Price,Variant Barcode",
            "soup,Soup,SOUP-OTHER,2.00,036000291452",  # the same trade item as SOUP-EAN, 12 digits
        ),
        channel=retail_channel,
    )
    assert reasons(job) == {2: ("gtin", "duplicate_gtin")}
    assert Variant.objects.get(sku="SOUP-OTHER").gtin in (None, "")
    assert not ChannelListing.objects.exists()


def test_a_new_sku_whose_upc12_is_a_known_ean13_merges_into_that_variant(run_import, retail_channel):
    catalog.create_product(title="Soup", variants=[catalog.NewVariant(sku="SOUP-EAN", gtin="0036000291452")])
    job = run_import(
        "shopify_products",
        csv(
            "Handle,Title,Variant SKU,Variant Price,Variant Barcode",
            "soup,Soup,SHOP-SOUP,2.00,036000291452",
        ),
        channel=retail_channel,
    )
    assert (job.merged, job.imported, job.quarantined) == (1, 0, 0)
    assert Variant.objects.count() == 1  # not a second variant carrying the same GTIN
    assert ChannelListing.objects.get().variant.sku == "SOUP-EAN"


def test_listings_in_another_currency_than_the_channel_are_quarantined(
    run_import, retail_channel, own_profiles
):
    job = run_import(
        "rules_feed",
        csv(
            "sku,title,price,currency",
            "MUG-GBP,Mug,9.50,GBP",
            "MUG-EUR,Mug euro,9.50,EUR",
        ),
        channel=retail_channel,
    )
    assert (job.imported, job.quarantined) == (1, 1)
    assert reasons(job) == {3: ("currency", "currency_mismatch")}
    assert not Variant.objects.filter(sku="MUG-EUR").exists()
    assert ChannelListing.objects.get().currency == "GBP"


def test_a_shopify_file_priced_in_another_currency_is_quarantined(run_import, retail_channel):
    job = run_import(
        "shopify_products",
        csv("Handle,Title,Variant SKU,Variant Price", "mug,Mug,MUG-1,9.50"),
        channel=retail_channel,
        options={"target": {"currency": "USD"}},
    )
    assert reasons(job) == {2: ("currency", "currency_mismatch")}
    assert not Variant.objects.exists()


def test_listing_prices_follow_the_currency_minor_unit_and_the_compare_at_rule(
    run_import, retail_channel, own_profiles
):
    job = run_import(
        "rules_feed",
        csv(
            "sku,title,price,compare_at",
            "OK-1,Mug,9.5,12",
            "PRECISE-1,Mug two,9.505,",
            "WAS-1,Mug three,9.50,8.00",
        ),
        channel=retail_channel,
    )
    assert reasons(job) == {
        3: ("price", "invalid_amount"),
        4: ("compare_at_price", "invalid_compare_at_price"),
    }
    listing = ChannelListing.objects.get()
    assert (listing.price, listing.compare_at_price) == (Decimal("9.50"), Decimal("12.00"))


def test_two_preferred_offers_for_one_variant_leave_exactly_one_preferred(run_import, retail_channel):
    catalog.create_product(title="Mug", variants=[catalog.NewVariant(sku="MUG-1")])
    for code in ("acme", "bolt"):
        catalog.create_supplier(code=code, name=code.title(), currency="EUR")
    job = run_import(
        "supplier_offers",
        csv(
            "supplier,sku,cost,currency,preferred",
            "acme,MUG-1,2.50,EUR,yes",
            "bolt,MUG-1,2.40,EUR,yes",
        ),
    )
    assert (job.imported, job.quarantined) == (2, 0)
    assert list(SupplierOffer.objects.filter(is_preferred=True).values_list("supplier__code", flat=True)) == [
        "bolt"
    ]
    again = run_import(
        "supplier_offers", csv("supplier,sku,cost,currency,preferred", "acme,MUG-1,2.45,EUR,yes")
    )
    assert again.updated == 1
    assert list(SupplierOffer.objects.filter(is_preferred=True).values_list("supplier__code", flat=True)) == [
        "acme"
    ]


def test_an_offer_marked_not_preferred_stops_being_preferred(run_import, retail_channel):
    catalog.create_product(title="Mug", variants=[catalog.NewVariant(sku="MUG-1")])
    catalog.create_supplier(code="acme", name="Acme", currency="EUR")
    run_import("supplier_offers", csv("supplier,sku,cost,preferred", "acme,MUG-1,2.50,yes"))
    job = run_import("supplier_offers", csv("supplier,sku,cost,preferred", "acme,MUG-1,2.50,no"))
    assert job.updated == 1
    assert not SupplierOffer.objects.get().is_preferred


def test_an_offer_cost_with_more_than_four_decimals_is_quarantined(run_import, retail_channel):
    catalog.create_product(title="Mug", variants=[catalog.NewVariant(sku="MUG-1")])
    catalog.create_supplier(code="acme", name="Acme", currency="EUR")
    job = run_import("supplier_offers", csv("supplier,sku,cost", "acme,MUG-1,2.123456"))
    assert reasons(job) == {2: ("cost", "invalid_amount")}
    assert not SupplierOffer.objects.exists()


def test_a_price_list_carries_freight_and_duty_and_one_without_them_keeps_them(run_import, retail_channel):
    catalog.create_product(
        title="Mug", variants=[catalog.NewVariant(sku="MUG-1"), catalog.NewVariant(sku="MUG-2")]
    )
    catalog.create_supplier(code="acme", name="Acme", currency="EUR")
    job = run_import(
        "supplier_offers",
        csv(
            "supplier,sku,cost,freight_per_unit,duty_percent",
            "acme,MUG-1,2.00,0.25,12.5",
            "acme,MUG-2,2.00,-1,",
        ),
    )
    assert (job.imported, job.quarantined) == (1, 1)
    assert reasons(job) == {3: ("freight_per_unit", "invalid_amount")}
    offer = SupplierOffer.objects.get()
    assert (offer.freight_per_unit, offer.duty_percent) == (Decimal("0.2500"), Decimal("12.5000"))
    assert catalog.offer_landed_unit_cost(offer) == Decimal("2.5000")
    run_import("supplier_offers", csv("supplier,sku,cost", "acme,MUG-1,2.10"))  # a plain price list
    offer.refresh_from_db()
    assert (offer.cost, offer.freight_per_unit, offer.duty_percent) == (
        Decimal("2.1000"),
        Decimal("0.2500"),
        Decimal("12.5000"),
    )


def test_supplier_contact_details_are_checked_and_stored_as_the_catalog_stores_them(run_import, own_profiles):
    job = run_import(
        "rules_suppliers",
        csv(
            "code,name,email,phone,country,currency",
            "acme,Acme, sales@Acme.EXAMPLE ,020 7946 0018,gb,gbp",
            "bad-mail,Bad mail,not-an-email,,GB,GBP",
            "bad-country,Bad country,,,XX,GBP",
            "bad-phone,Bad phone,,12,GB,GBP",
            "bad-currency,Bad currency,,,GB,XYZ",
        ),
    )
    assert (job.imported, job.quarantined) == (1, 4)
    assert reasons(job) == {
        3: ("email", "invalid_email"),
        4: ("country", "invalid_country"),
        5: ("phone", "invalid_phone"),
        6: ("currency", "invalid_currency"),
    }
    acme = Supplier.objects.get()
    assert (acme.email, acme.phone, acme.country, acme.currency) == (
        "sales@acme.example",
        "+442079460018",
        "GB",
        "GBP",
    )
