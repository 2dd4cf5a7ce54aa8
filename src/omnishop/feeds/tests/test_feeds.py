"""Catalogue feeds as social shops and comparison sites read them, checked field by field against the
platforms' own specifications:
- Meta: https://www.facebook.com/business/help/120325381656392 (Product data specifications for Catalogs)
- Google: https://support.google.com/merchants/answer/7052112 (Product data specification)
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import defusedxml.ElementTree as ET
import pytest
from django.core.management import call_command

from omnishop.catalog.models import Category, ChannelListing
from omnishop.feeds import services
from omnishop.feeds.models import GoogleCategory
from omnishop.orders.services import create_channel_order

G = "{http://base.google.com/ns/1.0}"
META_REQUIRED = (
    "id",
    "title",
    "description",
    "availability",
    "condition",
    "price",
    "link",
    "image_link",
    "brand",
)


def meta_rows(client, catalogue) -> dict[str, dict]:
    response = client.get(catalogue.url("meta.csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    return {row["id"]: row for row in rows}


def google_items(client, catalogue) -> dict[str, ET.Element]:
    response = client.get(catalogue.url("google.xml"))
    assert response.status_code == 200
    root = ET.fromstring(b"".join(response.streaming_content))
    assert root.tag == "rss" and root.get("version") == "2.0"
    items = root.find("channel").findall("item")
    return {item.findtext(f"{G}id"): item for item in items}


def test_the_meta_csv_has_every_required_column_in_the_documented_format(client, catalogue):
    mug = catalogue.product(title="Mug", price="12.50", gtin="4006381333931", images=3)
    gone = catalogue.product(title="Jug", price="3.00", stock=0)
    rows = meta_rows(client, catalogue)
    assert set(rows) == {mug.sku, gone.sku}
    row = rows[mug.sku]
    for column in (*META_REQUIRED, "item_group_id"):
        assert row[column], column
    assert row["availability"] == "in stock" and rows[gone.sku]["availability"] == "out of stock"
    assert (row["condition"], row["price"], row["brand"]) == ("new", "12.50 GBP", "Acme")
    assert row["link"] == f"https://shop.example/p/{mug.product.slug}/"
    assert row["image_link"] == f"https://img.example/{mug.sku.split('-')[1]}/0.jpg"
    assert len(row["additional_image_link"].split(",")) == 2
    assert row["item_group_id"] == str(mug.product_id)


def test_the_google_feed_is_rss_with_the_g_namespace_and_the_documented_values(client, catalogue):
    mug = catalogue.product(title="Mug", price="20.00", compare_at="25.00", gtin="4006381333931")
    plain = catalogue.product(title="Plain", brand="", stock=0)
    items = google_items(client, catalogue)
    item = items[mug.sku]
    for name in ("title", "description", "link"):
        assert item.findtext(name), name
    for name in ("image_link", "availability", "price", "brand", "gtin", "item_group_id", "condition"):
        assert item.findtext(f"{G}{name}"), name
    assert item.findtext(f"{G}availability") == "in_stock"
    assert (item.findtext(f"{G}price"), item.findtext(f"{G}sale_price")) == ("25.00 GBP", "20.00 GBP")
    assert item.findtext(f"{G}condition") == "new" and item.findtext(f"{G}gtin") == "4006381333931"
    other = items[plain.sku]
    assert other.findtext(f"{G}availability") == "out_of_stock"
    assert other.find(f"{G}gtin") is None and other.findtext(f"{G}identifier_exists") == "no"


def test_awkward_text_is_escaped_and_html_is_stripped(client, catalogue):
    nasty = 'Say "hi", <script>alert(1)</script>\nline two & more\x0b'
    mug = catalogue.product(
        title='Mug, "large" & <b>bold</b>', description=f"<p>{nasty}</p><br/>Done &amp; dusted"
    )
    row = meta_rows(client, catalogue)[mug.sku]
    assert row["title"] == 'Mug, "large" & bold'
    assert "<" not in row["description"] and "\n" not in row["description"]
    assert row["description"].endswith("Done & dusted")
    item = google_items(client, catalogue)[mug.sku]
    assert item.findtext("title") == 'Mug, "large" & bold'
    assert item.findtext("description") == row["description"]


def test_only_this_channels_published_listings_appear(client, catalogue):
    shown = catalogue.product()
    hidden = catalogue.product(published=False)
    elsewhere = catalogue.product(channel=catalogue.web)
    rows = meta_rows(client, catalogue)
    assert shown.sku in rows and hidden.sku not in rows and elsewhere.sku not in rows
    assert set(google_items(client, catalogue)) == {shown.sku}


@pytest.mark.parametrize("name", ["meta.csv", "google.xml"])
def test_a_wrong_token_or_unknown_channel_is_a_plain_404(client, catalogue, name):
    catalogue.product()
    assert client.get(catalogue.url(name, token="guess")).status_code == 404
    assert client.get(f"/feeds/nope/{catalogue.feed.token}/{name}").status_code == 404
    assert client.get(catalogue.url("feed.json")).status_code == 404
    web_feed = services.ensure_feed(channel=catalogue.web)
    assert client.get(f"/feeds/{catalogue.social.code}/{web_feed.token}/{name}").status_code == 404


def test_a_rotated_token_retires_the_old_url(client, catalogue):
    catalogue.product()
    old = catalogue.feed.token
    services.rotate_token(feed=catalogue.feed)
    assert client.get(catalogue.url("meta.csv", token=old)).status_code == 404
    assert client.get(catalogue.url("meta.csv")).status_code == 200


def test_an_unchanged_feed_answers_304_to_its_etag_and_a_price_change_makes_a_new_one(client, catalogue):
    mug = catalogue.product(price="12.50")
    first = client.get(catalogue.url("google.xml"))
    tag = first["ETag"]
    assert tag and "no-cache" in first["Cache-Control"] and "private" in first["Cache-Control"]
    again = client.get(catalogue.url("google.xml"), headers={"If-None-Match": tag})
    assert again.status_code == 304 and again["ETag"] == tag
    listing = ChannelListing.objects.get(variant=mug)
    listing.price = Decimal("9.99")
    listing.save()
    changed = client.get(catalogue.url("google.xml"), headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed["ETag"] != tag
    assert b"9.99 GBP" in b"".join(changed.streaming_content)


def test_a_sale_that_empties_the_stock_shows_out_of_stock(client, catalogue):
    mug = catalogue.product(stock=1)
    assert meta_rows(client, catalogue)[mug.sku]["availability"] == "in stock"
    from omnishop.orders.services import ChannelLine

    create_channel_order(channel=catalogue.social, lines=[ChannelLine(mug.sku, 1)], actor="test")
    assert meta_rows(client, catalogue)[mug.sku]["availability"] == "out of stock"


def test_the_outbox_sink_bumps_the_versions_of_the_feeds_an_event_touches(catalogue):
    web = services.ensure_feed(channel=catalogue.web)

    class Event:
        def __init__(self, type, channel=""):
            self.type, self.channel = type, channel

    services.sink([Event("order.placed", "insta"), Event("stock.availability_changed", "insta")])
    catalogue.feed.refresh_from_db()
    web.refresh_from_db()
    assert (catalogue.feed.version, web.version) == (2, 1)
    services.sink([Event("product.updated")])
    catalogue.feed.refresh_from_db()
    web.refresh_from_db()
    assert (catalogue.feed.version, web.version) == (3, 2)


def test_google_product_category_comes_from_the_nearest_mapped_category(client, catalogue):
    kitchen = Category.objects.create(name="Kitchen", slug="kitchen", path="kitchen")
    mugs = Category.objects.create(name="Mugs", slug="mugs", path="kitchen/mugs", parent=kitchen)
    GoogleCategory.objects.create(category=kitchen, google_product_category="668")
    mug = catalogue.product()
    mug.product.category = mugs
    mug.product.save()
    assert meta_rows(client, catalogue)[mug.sku]["google_product_category"] == "668"
    assert google_items(client, catalogue)[mug.sku].findtext(f"{G}google_product_category") == "668"


def test_a_large_catalogue_streams_every_row(client, catalogue, settings):
    from omnishop.feeds import formats

    settings.OMNISHOP_FEEDS_BASE_URL = "https://shop.example"
    formats_chunk = formats.CHUNK
    formats.CHUNK = 7  # several chunks without building thousands of products
    try:
        skus = {catalogue.product(stock=i % 2).sku for i in range(30)}
        rows = meta_rows(client, catalogue)
    finally:
        formats.CHUNK = formats_chunk
    assert set(rows) == skus
    assert sum(r["availability"] == "in stock" for r in rows.values()) == 15


def test_the_feeds_command_prints_each_channels_urls_with_their_tokens(catalogue):
    out = io.StringIO()
    call_command("feeds", "--base-url", "https://shop.example", stdout=out)
    text = out.getvalue()
    web = services.ensure_feed(channel=catalogue.web)
    assert f"https://shop.example/feeds/insta/{catalogue.feed.token}/meta.csv" in text
    assert f"https://shop.example/feeds/web/{web.token}/google.xml" in text


def test_staff_see_the_feed_urls_and_rotate_a_token_from_the_admin(admin_client, catalogue):
    from django.urls import reverse

    old = catalogue.feed.token
    page = admin_client.get(reverse("admin:feeds_channelfeed_change", args=[catalogue.feed.pk]))
    assert page.status_code == 200 and f"/feeds/insta/{old}/meta.csv" in page.content.decode()
    response = admin_client.post(
        reverse("admin:feeds_channelfeed_changelist"),
        {"action": "rotate_tokens", "_selected_action": [catalogue.feed.pk]},
    )
    assert response.status_code == 302
    catalogue.feed.refresh_from_db()
    assert catalogue.feed.token != old and catalogue.feed.token_rotated_at is not None


def test_a_price_change_relayed_through_the_outbox_marks_the_feed_stale(catalogue, settings):
    from omnishop.catalog.listings import upsert_listing
    from omnishop.core import outbox

    settings.OMNISHOP_OUTBOX_SINKS = ["omnishop.feeds.services.sink"]
    mug = catalogue.product(price="12.50")
    outbox.run_once()
    catalogue.feed.refresh_from_db()
    before = catalogue.feed.version
    upsert_listing(channel=catalogue.social, variant=mug, price="9.99")
    outbox.run_once()
    catalogue.feed.refresh_from_db()
    assert catalogue.feed.version > before


def test_the_file_is_generated_once_per_version_and_replaced_on_change(client, catalogue, settings):
    mug = catalogue.product(price="12.50")
    folder = settings.OMNISHOP_FEEDS_DIR
    client.get(catalogue.url("meta.csv"))
    first = sorted(p.name for p in folder.iterdir())
    client.get(catalogue.url("meta.csv"))
    assert sorted(p.name for p in folder.iterdir()) == first and len(first) == 1
    ChannelListing.objects.filter(variant=mug).update(price=Decimal("1.00"), updated_at=mug.updated_at)
    listing = ChannelListing.objects.get(variant=mug)
    listing.save()
    client.get(catalogue.url("meta.csv"))
    after = sorted(p.name for p in folder.iterdir())
    assert len(after) == 1 and after != first


def test_tens_of_thousands_of_rows_stream_in_a_few_queries_per_chunk(client, catalogue):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from omnishop.catalog.models import Product, Variant

    n = 20_000
    products = Product.objects.bulk_create(
        [Product(title=f'Item {i}, "quoted"', slug=f"bulk-{i}", description="<p>x</p>") for i in range(n)]
    )
    variants = Variant.objects.bulk_create(
        [Variant(product=p, sku=f"BULK-{i}") for i, p in enumerate(products)]
    )
    ChannelListing.objects.bulk_create(
        [
            ChannelListing(
                channel=catalogue.social, variant=v, is_published=True, price=Decimal("1.50"), currency="GBP"
            )
            for v in variants
        ]
    )
    with CaptureQueriesContext(connection) as queries:
        response = client.get(catalogue.url("meta.csv"))
        body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == n and rows[0]["title"] == 'Item 0, "quoted"' and rows[-1]["id"] == f"BULK-{n - 1}"
    assert len(queries) < 60  # 3 per chunk of 2,000 plus the fingerprint, not one per row
