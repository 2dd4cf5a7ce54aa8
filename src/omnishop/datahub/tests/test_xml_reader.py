"""The XML reader on WordPress/WooCommerce exports (WXR): repeated elements, namespaced names, key/value
meta pairs and elements keyed by an attribute survive; the document is streamed, never held whole."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from omnishop.datahub.readers import open_source

FIXTURE = Path(__file__).parent / "data" / "woocommerce_sample_products_excerpt.xml"
WXR_OPTIONS = {
    "format": "xml",
    "record_tag": "item",
    "pairs": [{"element": "wp:postmeta", "key": "wp:meta_key", "value": "wp:meta_value", "prefix": "meta."}],
    "keyed_by_attribute": [{"element": "category", "attribute": "domain"}],
}


def read(path: Path, options: dict) -> list[dict]:
    with open_source(path, options=options) as source:
        return [row.values for row in source.rows]


def test_namespaced_children_keep_their_declared_prefix():
    rows = read(FIXTURE, {"format": "xml", "record_tag": "item"})
    tee = rows[0]
    assert tee["content:encoded"].startswith("Pellentesque habitant")
    assert tee["excerpt:encoded"] == "This is a variable product."  # no longer overwrites the description
    assert (tee["wp:post_id"], tee["wp:post_type"], tee["dc:creator"]) == ("6", "product", "shopmanager")
    assert tee["title"] == "V-Neck T-Shirt"  # an element without a namespace keeps its plain name


def test_repeated_elements_become_lists_with_their_attributes():
    tee = read(FIXTURE, {"format": "xml", "record_tag": "item"})[0]
    assert tee["category"] == [
        "Blue",
        "featured",
        "Green",
        "Large",
        "Medium",
        "Red",
        "Small",
        "variable",
        "Tshirts",
    ]
    assert tee["category@domain"][-2:] == ["product_type", "product_cat"]
    assert tee["category@nicename"][-1] == "tshirts"
    assert len(tee["wp:postmeta"]) == 36  # every key/value pair, not the last one only


def test_key_value_pairs_and_attribute_keyed_elements_become_fields():
    rows = read(FIXTURE, WXR_OPTIONS)
    tee, tshirt, red = rows[0], rows[1], rows[2]
    assert (tee["meta._sku"], tee["meta._weight"], tee["meta._stock_status"]) == (
        "woo-vneck-tee",
        "0.5",
        "instock",
    )
    assert tee["meta._price"] == ["15", "20"]  # a key met twice keeps both values
    assert tee["meta._regular_price"] == ""
    assert "wp:postmeta" not in tee  # the pairs are the fields
    assert tee["category.pa_color"] == ["Blue", "Green", "Red"]
    assert (tee["category.product_type"], tee["category.product_cat"]) == ("variable", "Tshirts")
    assert (tshirt["meta._sku"], tshirt["meta._regular_price"], tshirt["category.pa_color"]) == (
        "woo-tshirt",
        "18",
        "Gray",
    )
    assert (red["meta.attribute_pa_color"], red["wp:post_parent"]) == ("red", "6")


def test_records_stream_without_holding_the_document(tmp_path):
    item = FIXTURE.read_text(encoding="utf-8").split("<item>")[2].split("</item>")[0]  # the simple T-Shirt
    head, _, _ = FIXTURE.read_text(encoding="utf-8").partition("<item>")
    path = tmp_path / "big.xml"
    with path.open("w", encoding="utf-8") as out:
        out.write(head)
        for _ in range(3000):  # ~19 MB of items
            out.write(f"<item>{item}</item>\n")
        out.write("</channel></rss>\n")
    tracemalloc.start()
    count = 0
    with open_source(path, options=WXR_OPTIONS) as source:
        for row in source.rows:
            count += 1
            assert row.values["meta._sku"] == "woo-tshirt"
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 3000
    assert peak < 5 * 1024 * 1024, peak  # bounded by one item, not by the 19 MB document
