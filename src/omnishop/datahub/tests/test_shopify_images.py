"""Shopify images: every `Image Src` of a product arrives on it, in its `Image Position` order with its alt
text, whichever row carries it (the product's first row, a later variant row, an image-only row), and a
`Variant Image` is linked to its variant. Built on the shared real export (`apparel.csv`), whose products
have one image each, with a crafted product added in its exact 46 columns."""

from __future__ import annotations

import csv
import io

import pytest

from omnishop.catalog.models import Product, ProductImage, Variant

from .conftest import dataset

pytestmark = pytest.mark.django_db

CDN = "https://cdn.example.com/varsity"


def _apparel() -> tuple[list[str], list[dict]]:
    path = dataset("channel_exports", "shopify", "apparel.csv")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _csv(header: list[str], rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _with_gallery() -> bytes:
    """apparel.csv with Classic Varsity Top given a gallery the way Shopify exports one: images on its
    second and third variant rows, an image-only row (Handle + image columns, nothing else), and Variant
    Images — one already in the gallery, one that is not."""
    header, rows = _apparel()
    varsity = [r for r in rows if r["Handle"] == "classic-varsity-top"]
    small, medium, large = varsity
    small["Variant Image"] = f"{CDN}/front.jpg"  # an image of the gallery (position 3 below)
    medium.update({"Image Src": f"{CDN}/back.jpg", "Image Position": "2", "Image Alt Text": "Back view"})
    large.update({"Image Src": f"{CDN}/front.jpg", "Image Position": "3", "Image Alt Text": "Front view"})
    large["Variant Image"] = f"{CDN}/large-only.jpg"  # not in the gallery: added to it
    image_only = dict.fromkeys(header, "")
    image_only.update(
        {"Handle": "classic-varsity-top", "Image Src": f"{CDN}/detail.jpg", "Image Position": "4"}
    )
    image_only["Image Alt Text"] = "Stitching detail"
    at = rows.index(large) + 1
    return _csv(header, [*rows[:at], image_only, *rows[at:]])


def _gallery(product: Product) -> list[tuple[str, str, str | None]]:
    return [
        (i.url.rsplit("/", 1)[-1], i.alt, i.variant.sku if i.variant else None)
        for i in ProductImage.objects.filter(product=product).select_related("variant")
    ]


def test_every_image_of_the_real_export_arrives_on_its_product(run_import, retail_channel):
    _header, rows = _apparel()
    job = run_import(
        "shopify_products", dataset("channel_exports", "shopify", "apparel.csv"), channel=retail_channel
    )
    assert job.quarantined == 0
    for row in rows:
        if row["Image Src"]:
            product = Product.objects.filter(variants__sku__startswith=row["Handle"]).distinct().get()
            assert ProductImage.objects.filter(product=product, url=row["Image Src"]).count() == 1
    assert ProductImage.objects.count() == sum(1 for r in rows if r["Image Src"])


def test_images_on_later_rows_arrive_in_position_order_with_alt_text(run_import, retail_channel):
    job = run_import("shopify_products", _with_gallery(), channel=retail_channel)
    assert job.quarantined == 0
    top = Product.objects.get(title="Classic Varsity Top")
    assert [(name, alt) for name, alt, _ in _gallery(top)] == [
        ("casual-fashion-woman_925x.jpg", ""),
        ("back.jpg", "Back view"),
        ("front.jpg", "Front view"),
        ("detail.jpg", "Stitching detail"),
        ("large-only.jpg", ""),  # a Variant Image that is not in the gallery goes after it
    ]
    assert job.entity_counts["images_added"] == 20 + 4


def test_a_variant_image_is_linked_to_its_variant(run_import, retail_channel):
    job = run_import("shopify_products", _with_gallery(), channel=retail_channel)
    top = Product.objects.get(title="Classic Varsity Top")
    links = {name: sku for name, _alt, sku in _gallery(top)}
    small = Variant.objects.get(product=top, attributes__size="Small")
    large = Variant.objects.get(product=top, attributes__size="Large")
    assert links["front.jpg"] == small.sku  # linked though its Image Src row comes later in the file
    assert links["large-only.jpg"] == large.sku
    assert links["back.jpg"] is None and links["detail.jpg"] is None
    assert job.entity_counts["variant_images_linked"] == 2


def test_reimporting_the_gallery_changes_nothing(run_import, retail_channel):
    data = _with_gallery()
    run_import("shopify_products", data, channel=retail_channel)
    before = sorted(ProductImage.objects.values_list("product_id", "url", "alt", "position", "variant_id"))
    again = run_import("shopify_products", data, channel=retail_channel)
    assert again.unchanged == again.rows_read and again.quarantined == 0
    after = sorted(ProductImage.objects.values_list("product_id", "url", "alt", "position", "variant_id"))
    assert after == before and len(after) == 24


def test_a_changed_row_does_not_duplicate_its_images(run_import, retail_channel):
    """The row's variant price changes: the row is re-applied, its images are found, not added again."""
    run_import("shopify_products", _with_gallery(), channel=retail_channel)
    changed = _with_gallery().replace(b",Front view,", b",Front view (new),")
    again = run_import("shopify_products", changed, channel=retail_channel)
    assert again.updated == 1 and again.quarantined == 0
    top = Product.objects.get(title="Classic Varsity Top")
    assert ProductImage.objects.filter(product=top).count() == 5
    assert ProductImage.objects.get(product=top, url=f"{CDN}/front.jpg").alt == "Front view (new)"


def test_a_variant_image_named_by_two_variants_stays_with_the_first_and_is_reported(
    run_import, retail_channel
):
    """The catalog ties an image to one variant: the second variant's link is counted, not stored."""
    header, rows = _apparel()
    for row in rows:
        if row["Handle"] == "classic-varsity-top" and row["Option1 Value"] in ("Small", "Medium"):
            row["Variant Image"] = f"{CDN}/shared.jpg"
    job = run_import("shopify_products", _csv(header, rows), channel=retail_channel)
    top = Product.objects.get(title="Classic Varsity Top")
    shared = ProductImage.objects.get(product=top, url=f"{CDN}/shared.jpg")
    assert shared.variant.attributes["size"] == "Small"
    assert (job.entity_counts["variant_images_linked"], job.entity_counts["variant_images_shared"]) == (1, 1)
    assert ProductImage.objects.filter(product=top).count() == 2
