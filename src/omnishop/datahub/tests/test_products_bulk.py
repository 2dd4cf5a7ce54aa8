"""Product, supplier-offer imports write per batch: the catalog they leave is the one a row-by-row import
leaves, whatever the batch size, and the number of queries does not grow with the number of rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from omnishop.catalog import services as catalog
from omnishop.catalog.models import Category, ChannelListing, Product, SupplierOffer, Variant
from omnishop.datahub import profiles
from omnishop.datahub.models import ImportedRecord

from .test_catalog_rules import FEED_PROFILE, csv
from .test_channel_profiles import _magento_slice

pytestmark = pytest.mark.django_db


@pytest.fixture
def feed_profile(tmp_path, settings):
    directory = tmp_path / "profiles"
    directory.mkdir()
    (directory / "rules_feed.toml").write_text(FEED_PROFILE)
    settings.OMNISHOP_DATAHUB_PROFILE_DIRS = [str(directory)]
    profiles._index.cache_clear()
    yield
    profiles._index.cache_clear()


def catalog_state() -> dict:
    return {
        "products": sorted(
            (
                p.title,
                p.category.path if p.category else None,
                sorted(p.variants.values_list("sku", flat=True)),
            )
            for p in Product.objects.select_related("category")
        ),
        "variants": sorted(
            Variant.objects.values_list("sku", "product__title", "attributes", "weight_grams")
        ),
        "listings": sorted(ChannelListing.objects.values_list("variant__sku", "price", "compare_at_price")),
    }


def test_magento_children_in_earlier_batches_still_move_under_their_configurable(
    run_import, retail_channel, settings
):
    data = _magento_slice(40)
    one_batch = run_import("magento_products", data, channel=retail_channel)
    expected = catalog_state()
    counts = (one_batch.imported, one_batch.merged, one_batch.quarantined, one_batch.entity_counts)
    Product.objects.all().delete()
    for category in sorted(Category.objects.all(), key=lambda c: -c.path.count("/")):
        category.delete()  # leaves first: a category protects its children's parent link
    ImportedRecord.objects.all().delete()
    settings.OMNISHOP_DATAHUB_BATCH_SIZE = 4  # the parents' rows land several batches after their children
    small_batches = run_import("magento_products", data, channel=retail_channel)
    assert catalog_state() == expected
    assert (
        small_batches.imported,
        small_batches.merged,
        small_batches.quarantined,
        small_batches.entity_counts,
    ) == counts
    assert Product.objects.count() == counts[3]["products_created"]
    assert not Product.objects.filter(variants__isnull=True).exists()  # no holding product is left


def test_importing_more_rows_does_not_take_more_queries(run_import, retail_channel, make_channel):
    small, large = _magento_slice(60), _magento_slice(600)
    with CaptureQueriesContext(connection) as few:
        run_import("magento_products", small, channel=retail_channel)
    other = make_channel("outlet", "web", "GBP")
    with CaptureQueriesContext(connection) as many:
        job = run_import("magento_products", large, channel=other)
    assert job.rows_read == 600 and job.merged == 60 and job.imported == 540
    # categories are created one by one (a few dozen per catalog); everything else is per batch
    assert len(many) < len(few) + 60, (len(few), len(many))


def test_accented_and_plain_spellings_of_a_title_are_one_product(run_import, retail_channel, feed_profile):
    run_import("rules_feed", csv("sku,title,price", "CUP-1,Café Cup,4.00"), channel=retail_channel)
    job = run_import("rules_feed", csv("sku,title,price", "CUP-2,CAFE cup,4.50"), channel=retail_channel)
    assert job.imported == 1
    assert Product.objects.count() == 1
    assert sorted(Product.objects.get().variants.values_list("sku", flat=True)) == ["CUP-1", "CUP-2"]


def test_the_same_sku_twice_in_one_file_is_one_variant_priced_by_the_last_row(
    run_import, retail_channel, feed_profile
):
    job = run_import(
        "rules_feed",
        csv("sku,title,price", "MUG-1,Mug,9.50", "MUG-1,Mug,8.75"),
        channel=retail_channel,
    )
    assert (job.imported, job.merged) == (1, 1)  # as row by row: the second row finds the first's variant
    assert Variant.objects.count() == 1
    assert ChannelListing.objects.get().price == Decimal("8.75")


def test_two_new_skus_with_one_gtin_in_two_spellings_become_one_variant(
    run_import, retail_channel, feed_profile
):
    job = run_import(
        "rules_feed",
        csv("sku,title,gtin,price", "SOUP-A,Soup,0036000291452,2.00", "SOUP-B,Soup,036000291452,2.10"),
        channel=retail_channel,
    )
    assert (job.imported, job.merged, job.quarantined) == (1, 1, 0)
    variant = Variant.objects.get()
    assert (variant.sku, variant.gtin) == ("SOUP-A", "0036000291452")
    assert ChannelListing.objects.get().price == Decimal("2.10")


def test_a_quarantined_row_in_the_middle_of_a_batch_writes_nothing_of_its_own(
    run_import, retail_channel, feed_profile
):
    job = run_import(
        "rules_feed",
        csv(
            "sku,title,gtin,price",
            "A-1,Alpha,4006381333931,1.00",
            "B-1,Beta,4006381333931,1.00",  # a new SKU whose GTIN A-1 already holds: merged into A-1
            "C-1,Gamma,4006381333932,1.00",  # wrong check digit
            "A-1,Alpha,,1.00",
        ),
        channel=retail_channel,
    )
    assert (job.imported, job.merged, job.quarantined) == (1, 2, 1)
    assert list(Product.objects.values_list("title", flat=True)) == ["Alpha"]
    assert not Variant.objects.filter(sku="C-1").exists()


def test_a_later_row_without_a_preference_does_not_make_a_stepped_down_offer_preferred_again(run_import):
    catalog.create_product(title="Mug", variants=[catalog.NewVariant(sku="MUG-1")])
    for code in ("acme", "bolt"):
        catalog.create_supplier(code=code, name=code.title(), currency="EUR")
    job = run_import(
        "supplier_offers",
        csv(
            "supplier,sku,cost,preferred",
            "acme,MUG-1,2.50,yes",
            "bolt,MUG-1,2.40,yes",  # bolt becomes preferred, acme steps down
            "acme,MUG-1,2.45,",  # a new cost for acme, nothing said about preference
        ),
    )
    assert (job.imported, job.merged) == (2, 1)
    offers = dict(SupplierOffer.objects.values_list("supplier__code", "is_preferred"))
    assert offers == {"acme": False, "bolt": True}
    assert SupplierOffer.objects.get(supplier__code="acme").cost == Decimal("2.45")


def test_a_price_beyond_what_a_listing_can_hold_is_quarantined_not_a_failed_import(
    run_import, retail_channel, feed_profile
):
    job = run_import(
        "rules_feed",
        csv("sku,title,price", "OK-1,Mug,9.50", "HUGE-1,Yacht,10000000000.00"),
        channel=retail_channel,
    )
    assert job.status == "succeeded"
    assert (job.imported, job.quarantined) == (1, 1)
    assert job.quarantined_rows.get().reasons[0]["field"] == "price"
    assert not Variant.objects.filter(sku="HUGE-1").exists()
