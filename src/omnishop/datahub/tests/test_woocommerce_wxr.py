"""WooCommerce's WordPress export (WXR 1.2, Tools → Export → Products) through `woocommerce_wxr_products`:
products and variations arrive with their meta (SKU, prices, weight), categories and tags, attachments are
filtered out on every run, and a variation whose parent is unknown is quarantined with a reason."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command

from omnishop.catalog.models import ChannelListing, Product, Variant
from omnishop.datahub.errors import InvalidProfile
from omnishop.datahub.profiles import parse_profile

FIXTURE = Path(__file__).parent / "data" / "woocommerce_sample_products_excerpt.xml"

WXR_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
 xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:wfw="http://wellformedweb.org/CommentAPI/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel><title>Shop</title><wp:wxr_version>1.2</wp:wxr_version>
"""


def item(
    post_id: int, title: str, post_type: str, *, parent: int = 0, meta: dict, terms=(), body="", short=""
):
    metas = "".join(
        f"<wp:postmeta><wp:meta_key>{k}</wp:meta_key><wp:meta_value><![CDATA[{v}]]></wp:meta_value></wp:postmeta>"
        for k, v in meta.items()
    )
    cats = "".join(
        f'<category domain="{domain}" nicename="{name.lower()}"><![CDATA[{name}]]></category>'
        for domain, name in terms
    )
    return (
        f"<item><title>{title}</title><dc:creator>shop</dc:creator><description/>"
        f"<content:encoded><![CDATA[{body}]]></content:encoded><excerpt:encoded><![CDATA[{short}]]></excerpt:encoded>"
        f"<wp:post_id>{post_id}</wp:post_id><wp:post_name>{title.lower().replace(' ', '-')}</wp:post_name>"
        f"<wp:status>publish</wp:status><wp:post_parent>{parent}</wp:post_parent>"
        f"<wp:post_type>{post_type}</wp:post_type>{cats}{metas}</item>\n"
    )


def wxr(*items: str) -> bytes:
    return (WXR_HEAD + "".join(items) + "</channel></rss>\n").encode()


def test_woocommerce_sample_export_imports_products_and_variations(run_import, retail_channel):
    job = run_import("woocommerce_wxr_products", FIXTURE, channel=retail_channel)
    # 5 items: a variable product, a simple product, two variations, one attachment (filtered, not read)
    assert (job.rows_read, job.imported, job.quarantined) == (4, 4, 0)
    assert job.quality["filtered"] == {"rows": 1, "rule": "wp:post_type in [product, product_variation]"}
    tee = Product.objects.get(title="V-Neck T-Shirt")
    assert tee.description.startswith("Pellentesque habitant")  # content:encoded, not the excerpt
    assert tee.attributes["short_description"] == "This is a variable product."
    assert tee.attributes["slug"] == "v-neck-t-shirt"
    assert tee.category.name == "Tshirts"
    assert {v.sku: v.attributes for v in tee.variants.all()} == {
        "woo-vneck-tee-red": {"color": "red"},
        "woo-vneck-tee-green": {"color": "green"},
    }
    red = Variant.objects.get(sku="woo-vneck-tee-red")
    assert ChannelListing.objects.get(variant=red).price == Decimal("20")
    tshirt = Variant.objects.get(sku="woo-tshirt")
    assert tshirt.product.title == "T-Shirt"
    assert tshirt.weight_grams == 363  # 0.8 lb
    assert ChannelListing.objects.get(variant=tshirt).price == Decimal("18")
    assert not Variant.objects.filter(
        sku="woo-vneck-tee"
    ).exists()  # variable: its variations are the variants
    assert not Product.objects.filter(title__endswith=".jpg").exists()

    again = run_import("woocommerce_wxr_products", FIXTURE, channel=retail_channel)
    assert (again.rows_read, again.unchanged, again.quarantined) == (4, 4, 0)
    assert again.quality["filtered"]["rows"] == 1  # the attachment is skipped on every run, never quarantined
    assert not again.quarantined_rows.exists()


def test_sale_prices_stock_weight_tags_and_product_type(run_import, retail_channel):
    data = wxr(
        item(
            70,
            "Cap",
            "product",
            meta={
                "_sku": "cap",
                "_regular_price": "18",
                "_sale_price": "16",
                "_weight": "0.5",
                "_stock": "7",
            },
            terms=[
                ("product_type", "simple"),
                ("product_cat", "Accessories"),
                ("product_cat", "Summer"),
                ("product_tag", "sun"),
                ("product_tag", "cotton"),
            ],
        ),
    )
    job = run_import("woocommerce_wxr_products", data, name="cap.xml", channel=retail_channel)
    assert (job.imported, job.quarantined) == (1, 0)
    cap = Variant.objects.get(sku="cap")
    listing = ChannelListing.objects.get(variant=cap)
    assert (listing.price, listing.compare_at_price) == (Decimal("16"), Decimal("18"))
    assert cap.weight_grams == 227
    assert cap.product.attributes["tags"] == ["sun", "cotton"]
    assert cap.product.attributes["stock"] == 7
    assert cap.product.category.name in ("Accessories", "Summer")


def test_a_variation_whose_parent_is_unknown_is_quarantined(run_import, retail_channel):
    data = wxr(
        item(
            80,
            "Orphan - Red",
            "product_variation",
            parent=999,
            meta={"_sku": "orphan-red", "_regular_price": "9"},
        ),
        item(81, "Attachment", "attachment", parent=999, meta={"_wp_attached_file": "a.jpg"}),
    )
    job = run_import("woocommerce_wxr_products", data, name="orphan.xml", channel=retail_channel)
    assert (job.rows_read, job.imported, job.quarantined) == (1, 0, 1)
    assert job.quarantined_rows.get().reasons[0]["code"] == "unknown_parent"
    assert not Product.objects.exists()  # no empty product counted as imported


@pytest.mark.parametrize(
    "rule, message",
    [
        ('filter = { field = "type", in = "product" }', "a list"),
        ('filter = { field = "type", like = "x" }', "equals, in or not_in"),
        ('filter = { in = ["x"] }', "field"),
    ],
)
def test_a_malformed_row_filter_is_refused(tmp_path, rule, message):
    path = tmp_path / "bad.toml"
    path.write_text(f'name = "bad"\ntarget = "products"\n{rule}\n[fields.title]\ncolumn = "t"\n')
    with pytest.raises(InvalidProfile, match=message):
        parse_profile(path)


def test_row_filter_equals_in_and_not_in(tmp_path):
    path = tmp_path / "f.toml"
    path.write_text(
        'name = "f"\ntarget = "products"\n'
        'filter = [{ field = "kind", not_in = ["attachment", "page"] }, { field = "status", equals = "publish" }]\n'
        '[fields.title]\ncolumn = "t"\n'
    )
    rule = parse_profile(path).row_filter
    assert rule.accepts({"kind": "product", "status": "publish"})
    assert not rule.accepts({"kind": "attachment", "status": "publish"})
    assert not rule.accepts({"kind": "product", "status": "draft"})
    assert rule.accepts({"kind": ["product", "x"], "status": " publish "})  # a repeated element: any value
    assert not rule.accepts({"kind": "product"})  # a missing field equals nothing
    assert rule.describe() == "kind not in [attachment, page] and status = publish"


def test_a_variation_finds_its_parent_imported_by_an_earlier_job(run_import, retail_channel):
    parent = item(6, "Polo", "product", meta={"_sku": "woo-polo"}, terms=[("product_type", "variable")])
    run_import("woocommerce_wxr_products", wxr(parent), name="parent.xml", channel=retail_channel)
    variation = item(
        20,
        "Polo - Red",
        "product_variation",
        parent=6,
        meta={"_sku": "woo-polo-red", "attribute_pa_color": "red"},
    )
    job = run_import("woocommerce_wxr_products", wxr(variation), name="variation.xml", channel=retail_channel)
    assert (job.imported, job.quarantined) == (1, 0)
    assert Variant.objects.get(sku="woo-polo-red").product.title == "Polo"


def test_import_check_of_the_sample_export_shows_the_mapping_and_the_filtered_rows(
    datahub_dirs, retail_channel, capsys, monkeypatch
):
    out = io.StringIO()
    call_command(
        "import",
        "check",
        "woocommerce_wxr_products",
        str(FIXTURE),
        "--channel",
        "retail",
        "--json",
        stdout=out,
    )
    report = json.loads(out.getvalue())
    assert report["filtered"] == {"rows": 1, "rule": "wp:post_type in [product, product_variation]"}
    assert report["would"]["imported"] == 4
    first = {entry["field"]: entry for entry in report["first_rows"][0]["fields"]}
    assert (first["sku"]["column"], first["sku"]["value"]) == ("meta._sku", "woo-vneck-tee")
    assert (first["product_type"]["column"], first["product_type"]["value"]) == (
        "category.product_type",
        "variable",
    )
    assert not Product.objects.exists()  # a dry run
    monkeypatch.setenv("COLUMNS", "300")
    call_command("import", "check", "woocommerce_wxr_products", str(FIXTURE), "--channel", "retail")
    text = capsys.readouterr().out
    assert "left out by the profile's filter (wp:post_type in [product, product_variation]): 1" in text
