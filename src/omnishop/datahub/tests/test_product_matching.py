"""Products from several channels: a product that looks like another channel's is merged only on strong
evidence and then fills just what is missing, a doubtful or conflicting one goes to the review queue, and
every merge — made while importing or accepted by staff — can be undone exactly."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict
from django.test import Client

from omnishop.catalog import services as catalog
from omnishop.catalog.models import ChannelListing, Product, ProductImage, Variant
from omnishop.datahub import product_merges, services
from omnishop.datahub.errors import MergeAlreadyUndone, MergeNotUndoable
from omnishop.datahub.models import MatchCandidate, ProductMerge, SkuAlias

from .conftest import dataset

pytestmark = pytest.mark.django_db

APPAREL = ("channel_exports", "shopify", "apparel.csv")
SHIRT_BODY = (
    "<p>Ocean blue cotton shirt with a narrow collar and buttons down the front and long sleeves. "
    "Comfortable fit and tiled kalidoscope patterns.</p>"
)


def shopify(*rows: dict) -> bytes:
    """A Shopify product CSV with the columns the rows use (Shopify accepts a subset of its columns)."""
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row if k not in header)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def catalog_rows() -> dict:
    """Every product, variant, listing and image row, field by field (updated_at aside: an undo is a change
    of its own, and moving it back would let HTTP caches keep the merged page)."""

    def rows(model) -> list[dict]:
        return sorted(
            (
                {k: v for k, v in model_to_dict(o).items() if k != "updated_at"} | {"id": o.pk}
                for o in model.objects.all()
            ),
            key=lambda r: r["id"],
        )

    return {m.__name__: rows(m) for m in (Product, Variant, ChannelListing, ProductImage)}


@pytest.fixture
def marketplace(make_channel):
    return make_channel("market", "marketplace", "GBP", country="GB")


@pytest.fixture
def apparel(run_import, retail_channel):
    run_import("shopify_products", dataset(*APPAREL), channel=retail_channel)
    return Product.objects.get(title="Ocean Blue Shirt")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        username="ana", email="ana@example.com", password="x", is_staff=True
    )


OTHER_VENDOR = {
    "Handle": "blue-shirt-b",
    "Title": "Ocean Blue Shirt",
    "Body (HTML)": "<p>Polyester work shirt, machine washable.</p>",
    "Vendor": "Bargain Basement",
    "Type": "Workwear",
    "Published": "false",
    "Variant SKU": "OBS-B",
    "Variant Price": "45",
}


def test_a_same_titled_product_from_another_channel_with_another_vendor_changes_nothing_and_is_queued(
    run_import, apparel, marketplace
):
    """Issue 15, defect 1: the second channel's row used to replace the first product's brand, description
    and active flag, and the job said `imported 1, merged 0` with nothing to review."""
    before = model_to_dict(apparel)
    job = run_import("shopify_products", shopify(OTHER_VENDOR), channel=marketplace)
    apparel.refresh_from_db()
    assert model_to_dict(apparel) == before  # brand, description, category, is_active, attributes
    assert (job.imported, job.merged, job.queued_for_review) == (1, 0, 1)
    own = Product.objects.get(variants__sku="OBS-B")
    assert own.pk != apparel.pk and own.brand == "Bargain Basement" and own.is_active is False
    candidate = MatchCandidate.objects.get(entity="product")
    assert (candidate.left_id, candidate.right_id, candidate.job_id) == (apparel.pk, own.pk, job.pk)
    assert candidate.status == "open" and 0.5 <= candidate.score < 0.85
    assert "brand: conflicting ('partners-demo' / 'Bargain Basement')" in candidate.reasons
    assert any(r.startswith("title: same normalised title") for r in candidate.reasons)
    assert services.quality_report(job=job)["counts"]["queued_for_review"] == 1


def test_a_product_holding_the_rows_gtin_is_merged_and_only_its_missing_fields_are_filled(
    run_import, marketplace
):
    soup = catalog.create_product(
        title="Tomato Soup", brand="Acme", variants=[catalog.NewVariant(sku="SOUP-1", gtin="4006381333931")]
    )
    Product.objects.filter(pk=soup.pk).update(attributes={"diet": "vegan"})  # curated by hand
    Variant.objects.filter(sku="SOUP-1").update(attributes={"size": "400g"})
    job = run_import(
        "shopify_products",
        shopify(
            {
                "Handle": "acme-tomato-soup",
                "Title": "Acme Tomato Soup (400 g)",
                "Body (HTML)": "<p>Rich tomato soup.</p>",
                "Vendor": "ACME",
                "Type": "Soup",
                "Published": "false",
                "Option1 Name": "Size",
                "Option1 Value": "800g",
                "Variant SKU": "MKT-SOUP-800",
                "Variant Price": "3.10",
            },
            {
                "Handle": "acme-tomato-soup",
                "Option1 Value": "400g",
                "Variant SKU": "MKT-SOUP-400",
                "Variant Price": "1.90",
                "Variant Barcode": "4006381333931",
            },
        ),
        channel=marketplace,
    )
    assert Product.objects.count() == 1
    soup.refresh_from_db()
    assert (soup.title, soup.brand, soup.is_active) == ("Tomato Soup", "Acme", True)  # curated: kept
    assert soup.description == "Rich tomato soup."  # was empty: filled
    assert soup.attributes == {"diet": "vegan", "vendor_type": "Soup"}  # a key it lacked: added
    assert sorted(soup.variants.values_list("sku", flat=True)) == ["MKT-SOUP-800", "SOUP-1"]
    assert sorted(ChannelListing.objects.values_list("variant__sku", "price")) == [
        ("MKT-SOUP-800", Decimal("3.1000")),
        ("SOUP-1", Decimal("1.9000")),
    ]
    assert (job.merged, job.imported, job.queued_for_review) == (2, 0, 0)
    merge = ProductMerge.objects.get()
    assert (merge.kind, merge.product_id, merge.sources) == ("import", soup.pk, ["shopify@market"])
    assert merge.filled["description"] == {"before": "", "after": "Rich tomato soup."}
    assert any(r.startswith("gtin: 4006381333931") for r in merge.reasons) and merge.score >= 0.85
    # The listing sits on a variant the product had before: undoing would take it from the channel.
    with pytest.raises(MergeNotUndoable):
        product_merges.undo_product_merge(merge=merge)


def _same_shirt(**changes) -> bytes:
    row = {
        "Handle": "ocean-shirt-mkt",
        "Title": "Ocean Blue Shirt",
        "Body (HTML)": SHIRT_BODY,
        "Vendor": "partners-demo",
        "Type": "Shirts",
        "Published": "true",
        "Variant SKU": "OBS-M",
        "Variant Price": "45",
        "Image Src": "https://cdn.example.com/market/ocean.jpg",
        "Image Position": "1",
    }
    return shopify({**row, **changes})


def test_an_import_time_merge_is_undone_exactly_and_a_reimport_keeps_them_apart(
    run_import, apparel, marketplace, staff
):
    before = catalog_rows()
    job = run_import("shopify_products", _same_shirt(), channel=marketplace)
    assert (job.merged, job.imported, job.queued_for_review) == (1, 0, 0)
    apparel.refresh_from_db()
    # Neither side has options: the row's variant is the shirt's one variant (variant matching), its SKU
    # an alias of the channel.
    [shirt] = apparel.variants.all()
    assert SkuAlias.objects.get(channel=marketplace, external_sku="OBS-M").variant == shirt
    assert ChannelListing.objects.get(channel=marketplace).variant == shirt
    assert apparel.attributes["vendor_type"] == "Shirts"  # filled: the shirt had no Type
    merge = ProductMerge.objects.get()
    assert sorted(merge.moved) == ["images", "option_matches", "shared_listings", "variants"]
    assert len(merge.moved["images"]) == 1 and merge.moved["option_matches"][0]["sku"] == "OBS-M"

    product_merges.undo_product_merge(merge=merge, user=staff)
    after = catalog_rows()
    own = Product.objects.get(variants__sku="OBS-M")
    assert [r for r in after["Product"] if r["id"] != own.pk] == before["Product"]
    assert [r for r in after["Variant"] if r["product"] != own.pk] == before["Variant"]
    assert [r for r in after["ProductImage"] if r["product"] != own.pk] == before["ProductImage"]
    assert [r for r in after["ChannelListing"] if r["channel"] != marketplace.pk] == before["ChannelListing"]
    assert (own.title, own.brand, own.is_active, own.attributes["vendor_type"]) == (
        "Ocean Blue Shirt",
        "partners-demo",
        True,
        "Shirts",
    )
    assert list(own.images.values_list("url", flat=True)) == ["https://cdn.example.com/market/ocean.jpg"]
    assert ChannelListing.objects.get(channel=marketplace).variant.sku == "OBS-M"
    assert not SkuAlias.objects.exists()
    assert MatchCandidate.objects.get(left_id=apparel.pk, right_id=own.pk).status == "rejected"
    with pytest.raises(MergeAlreadyUndone):
        product_merges.undo_product_merge(merge=merge)

    again = run_import("shopify_products", _same_shirt(**{"Variant Price": "44"}), channel=marketplace)
    assert (again.updated, again.merged, again.queued_for_review) == (1, 0, 0)
    assert Variant.objects.get(sku="OBS-M").product_id == own.pk
    assert ProductMerge.objects.count() == 1 and MatchCandidate.objects.count() == 1


def test_a_merged_sources_later_rows_fill_missing_fields_only_and_are_given_back_by_undo(
    run_import, apparel, marketplace
):
    run_import("shopify_products", _same_shirt(), channel=marketplace)
    before_brand = apparel.brand
    later = shopify(
        {
            "Handle": "ocean-shirt-mkt",
            "Title": "Ocean Blue Shirt (new name)",
            "Body (HTML)": "<p>Rewritten.</p>",
            "Vendor": "Someone Else",
            "Type": "Shirts",
            "Tags": "summer",
            "Published": "false",
            "Option1 Name": "Size",
            "Option1 Value": "L",
            "Variant SKU": "OBS-M",
            "Variant Price": "45",
        },
        {
            "Handle": "ocean-shirt-mkt",
            "Option1 Value": "XL",
            "Variant SKU": "OBS-M-XL",
            "Variant Price": "47",
        },
    )
    job = run_import("shopify_products", later, channel=marketplace)
    assert job.quarantined == 0
    apparel.refresh_from_db()
    assert (apparel.title, apparel.brand, apparel.is_active) == ("Ocean Blue Shirt", before_brand, True)
    assert apparel.description.startswith("Ocean blue cotton shirt")
    assert Variant.objects.get(sku="OBS-M-XL").product_id == apparel.pk
    merge = ProductMerge.objects.get()
    assert Variant.objects.get(sku="OBS-M-XL").pk in merge.moved["variants"]
    product_merges.undo_product_merge(merge=merge)
    own = Product.objects.get(variants__sku="OBS-M")
    assert sorted(own.variants.values_list("sku", flat=True)) == ["OBS-M", "OBS-M-XL"]
    assert (own.brand, own.attributes["vendor_type"]) == ("partners-demo", "Shirts")  # the source's product
    assert not Variant.objects.filter(product=apparel, sku__startswith="OBS-M").exists()


def test_accepting_a_candidate_merges_and_undoing_it_restores_every_row(
    run_import, apparel, marketplace, staff
):
    run_import("shopify_products", shopify(OTHER_VENDOR), channel=marketplace)
    candidate = MatchCandidate.objects.get(entity="product")
    own = Product.objects.get(pk=candidate.right_id)
    before = catalog_rows()

    services.decide_match(candidate=candidate, merge=True, user=staff)
    candidate.refresh_from_db()
    assert candidate.status == "merged"
    merge = ProductMerge.objects.get()
    assert (merge.kind, merge.product_id, merge.merged_product_id) == ("review", apparel.pk, own.pk)
    assert merge.sources == ["shopify@market"] and merge.decided_by == staff
    # The two one-variant products' variants are one: OBS-B folds into the shirt's variant, which takes
    # its listing, and stays the channel's SKU for it (an alias); nothing is left side by side.
    [shirt] = apparel.variants.all()
    assert not Variant.objects.filter(sku="OBS-B").exists()
    assert ChannelListing.objects.get(channel=marketplace).variant == shirt
    assert SkuAlias.objects.get(channel=marketplace, external_sku="OBS-B").variant == shirt
    assert merge.variant_conflicts == []
    own.refresh_from_db()
    assert own.is_active is False
    apparel.refresh_from_db()
    assert apparel.brand == "partners-demo"  # conflicting field: kept
    assert apparel.attributes["vendor_type"] == "Workwear"  # missing: filled

    # Its source's later rows land on the kept product and only fill what is missing.
    changed = shopify({**OTHER_VENDOR, "Variant Price": "44", "Vendor": "Renamed"})
    job = run_import("shopify_products", changed, channel=marketplace)
    assert (job.updated, job.queued_for_review) == (1, 0)
    assert ChannelListing.objects.get(channel=marketplace).variant == shirt
    apparel.refresh_from_db()
    assert apparel.brand == "partners-demo"

    product_merges.undo_product_merge(merge=merge, user=staff)
    after = catalog_rows()
    for rows in (before, after):  # the price the later import changed is not the merge's to undo
        for listing in rows["ChannelListing"]:
            listing.pop("price")
    assert after == before  # OBS-B is the very row again, with its listing
    assert not SkuAlias.objects.exists()
    candidate.refresh_from_db()
    assert candidate.status == "rejected"

    again = run_import(
        "shopify_products", shopify({**OTHER_VENDOR, "Variant Price": "43"}), channel=marketplace
    )
    assert (again.updated, again.merged, again.queued_for_review) == (1, 0, 0)
    assert Variant.objects.get(sku="OBS-B").product_id == own.pk


def test_a_rejected_pair_is_never_proposed_again(run_import, apparel, marketplace, staff):
    run_import("shopify_products", shopify(OTHER_VENDOR), channel=marketplace)
    candidate = MatchCandidate.objects.get(entity="product")
    services.decide_match(candidate=candidate, merge=False, user=staff)
    changed = run_import(
        "shopify_products", shopify({**OTHER_VENDOR, "Variant Price": "44"}), channel=marketplace
    )
    another_key = run_import(
        "shopify_products",
        shopify(
            {**OTHER_VENDOR, "Handle": "blue-shirt-b2", "Variant SKU": "OBS-B2", "Vendor": "partners-demo"}
        ),
        channel=marketplace,
    )
    assert changed.queued_for_review == another_key.queued_for_review == 0
    assert MatchCandidate.objects.count() == 1 and not ProductMerge.objects.exists()
    assert Variant.objects.get(sku="OBS-B2").product_id == candidate.right_id  # the source's own product


def test_below_the_review_score_a_product_is_simply_new_but_a_conflict_is_always_reviewed(
    run_import, apparel, marketplace, make_channel
):
    strict = {"target": {"product_match_review": 0.9}}
    no_vendor = shopify({**OTHER_VENDOR, "Vendor": ""})  # the same title, nothing else alike, no conflict
    job = run_import("shopify_products", no_vendor, channel=marketplace, options=strict)
    assert (job.imported, job.queued_for_review) == (1, 0)
    assert (
        not MatchCandidate.objects.exists() and Product.objects.filter(title="Ocean Blue Shirt").count() == 2
    )
    outlet = make_channel("outlet", "web", "GBP", country="GB")
    conflicting = run_import(
        "shopify_products", shopify({**OTHER_VENDOR, "Variant SKU": "OBS-C"}), channel=outlet, options=strict
    )
    assert conflicting.queued_for_review == 1
    assert sorted(MatchCandidate.objects.values_list("left_id", flat=True))[0] == apparel.pk


def test_product_merges_are_listed_and_undone_over_the_api(run_import, apparel, marketplace, staff_api):
    run_import("shopify_products", _same_shirt(), channel=marketplace)
    merge = ProductMerge.objects.get()
    listed = staff_api.get(f"/datahub/product-merges?product={apparel.pk}")
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert (item["id"], item["kind"], item["channel"], item["undone_at"]) == (
        merge.pk,
        "import",
        "market",
        None,
    )
    undone = staff_api.post(f"/datahub/product-merges/{merge.pk}/undo")
    assert undone.status_code == 200 and undone.json()["undone_at"] is not None
    twice = staff_api.post(f"/datahub/product-merges/{merge.pk}/undo")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "merge_already_undone"
    missing = staff_api.post("/datahub/product-merges/999999/undo")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "product_merge_not_found"
    job = staff_api.get(f"/datahub/imports/{merge.job_id}")
    assert job.status_code == 200 and job.json()["queued_for_review"] == 0 and job.json()["merged"] == 1


def test_an_undo_that_cannot_be_exact_is_refused_over_the_api(run_import, apparel, marketplace, staff_api):
    run_import("shopify_products", _same_shirt(), channel=marketplace)
    merge = ProductMerge.objects.get()
    apparel.refresh_from_db()
    apparel.attributes = {**apparel.attributes, "vendor_type": "Tops"}  # staff edit what the merge filled
    apparel.save()
    refused = staff_api.post(f"/datahub/product-merges/{merge.pk}/undo")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "merge_not_undoable"
    merge.refresh_from_db()
    assert merge.undone_at is None and SkuAlias.objects.get(external_sku="OBS-M").variant.product == apparel


def test_staff_undo_a_product_merge_from_the_back_office(run_import, apparel, marketplace, staff_user):
    run_import("shopify_products", _same_shirt(), channel=marketplace)
    merge = ProductMerge.objects.get()
    client = Client()
    client.force_login(staff_user)
    assert client.get("/admin/datahub/productmerge/").status_code == 200
    done = client.post(
        "/admin/datahub/productmerge/", {"action": "undo", "_selected_action": [merge.pk]}, follow=True
    )
    assert done.status_code == 200
    merge.refresh_from_db()
    assert merge.undone_at is not None and Variant.objects.get(sku="OBS-M").product_id != apparel.pk
    again = client.post(
        "/admin/datahub/productmerge/", {"action": "undo", "_selected_action": [merge.pk]}, follow=True
    )
    assert "already undone" in again.content.decode()
