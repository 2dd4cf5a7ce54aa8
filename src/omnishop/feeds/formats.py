"""What a feed says about each product, and the two files that say it.

- Meta (Facebook/Instagram) catalogue CSV — columns and values as in "Product data specifications for
  Catalogs" (https://www.facebook.com/business/help/120325381656392): id, title, description,
  availability ("in stock" / "out of stock"), condition, price ("12.50 GBP"), link, image_link, brand,
  item_group_id, plus sale_price, additional_image_link and google_product_category where known.
- Google Merchant Center RSS 2.0 with the `g:` namespace (http://base.google.com/ns/1.0), attributes as in
  "Product data specification" (https://support.google.com/merchants/answer/7052112): g:id, title,
  description, link, g:image_link, g:availability (in_stock / out_of_stock), g:price, g:sale_price,
  g:brand, g:gtin, g:identifier_exists, g:item_group_id, g:condition, g:google_product_category.

Rows are produced a chunk at a time (listings, their stock and images in three queries per chunk), so a
catalogue of tens of thousands of variants streams to the file without being held in memory.
"""

from __future__ import annotations

import csv
import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO
from xml.sax.saxutils import escape, quoteattr

from django.urls import reverse
from django.utils.html import strip_tags

from omnishop.catalog.listings import sellable_listings
from omnishop.catalog.models import Category, ProductImage
from omnishop.core.money import quantize
from omnishop.inventory.services import availability_for

from .models import GoogleCategory

CHUNK = 2000
GOOGLE_NS = "http://base.google.com/ns/1.0"
# Google: title ≤ 150 characters, description ≤ 5,000; Meta: title ≤ 200, description ≤ 9,999.
TITLE_MAX = 150
DESCRIPTION_MAX = 5000
MAX_ADDITIONAL_IMAGES = 10
# Characters XML 1.0 cannot carry at all (a feed with one would not parse), and the line breaks that a
# plain-text description does not need.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SPACES = re.compile(r"\s+")

META_COLUMNS = (
    "id",
    "title",
    "description",
    "availability",
    "condition",
    "price",
    "sale_price",
    "link",
    "image_link",
    "additional_image_link",
    "brand",
    "item_group_id",
    "google_product_category",
)


@dataclass(frozen=True)
class FeedItem:
    id: str
    title: str
    description: str
    in_stock: bool
    price: str
    sale_price: str
    link: str
    image_link: str
    additional_image_links: list[str]
    brand: str
    gtin: str
    item_group_id: str
    google_product_category: str


def plain(text: str, limit: int) -> str:
    """Text for a feed: no HTML tags, entities decoded, whitespace collapsed, no control characters."""
    text = text or ""
    if "<" in text or "&" in text:  # strip_tags parses HTML: only pay for it when there may be markup
        text = html.unescape(strip_tags(text))
    text = _SPACES.sub(" ", _NOT_XML.sub("", text)).strip()
    return text[:limit]


def _money(amount: Decimal, currency: str) -> str:
    return f"{quantize(amount, currency)} {currency}"


def _google_categories() -> dict[str, str]:
    """Category path → Google category, for every mapped category (its sub-categories inherit it)."""
    return dict(GoogleCategory.objects.values_list("category__path", "google_product_category"))


def _google_category(path: str | None, mapped: dict[str, str]) -> str:
    while path:
        if path in mapped:
            return mapped[path]
        path = path.rpartition("/")[0]
    return ""


def feed_items(*, channel, base_url: str) -> Iterator[FeedItem]:
    """Every published listing of `channel` with its price and live availability, in variant order."""
    base_url = base_url.rstrip("/")
    # One reverse() for the whole feed: the product page's address with a placeholder for the slug.
    link = base_url + reverse("shop:product", args=["slug-placeholder"])
    mapped = _google_categories()
    categories = dict(Category.objects.values_list("pk", "path")) if mapped else {}
    qs = (
        sellable_listings(channel=channel)
        .select_related("variant", "variant__product")
        .order_by("variant_id")
    )
    last = 0
    while True:
        chunk = list(qs.filter(variant_id__gt=last)[:CHUNK])
        if not chunk:
            return
        last = chunk[-1].variant_id
        available = availability_for(channel=channel, variant_ids=[x.variant_id for x in chunk])
        images: dict[int, list[ProductImage]] = {}
        for image in ProductImage.objects.filter(product_id__in={x.variant.product_id for x in chunk}):
            images.setdefault(image.product_id, []).append(image)
        for listing in chunk:
            yield _item(listing, available, images, link, mapped, categories)


def _item(listing, available, images, link, mapped, categories) -> FeedItem:
    variant, product = listing.variant, listing.variant.product
    currency = listing.currency
    title = listing.title or " ".join(x for x in (product.title, variant.title) if x)
    # The variant's own pictures first, then the product's shared ones.
    own = [i.url for i in images.get(product.pk, []) if i.variant_id == variant.pk]
    shared = [i.url for i in images.get(product.pk, []) if i.variant_id is None]
    pictures = list(dict.fromkeys(own + shared))
    on_sale = listing.compare_at_price is not None and listing.compare_at_price > listing.price
    return FeedItem(
        id=variant.sku,
        title=plain(title, TITLE_MAX),
        description=plain(product.description, DESCRIPTION_MAX) or plain(title, TITLE_MAX),
        in_stock=available.get(variant.pk, 0) > 0,
        price=_money(listing.compare_at_price if on_sale else listing.price, currency),
        sale_price=_money(listing.price, currency) if on_sale else "",
        link=link.replace("slug-placeholder", product.slug),
        image_link=pictures[0] if pictures else "",
        additional_image_links=pictures[1 : 1 + MAX_ADDITIONAL_IMAGES],
        brand=plain(product.brand, 100),
        gtin=variant.gtin or "",
        item_group_id=str(product.pk),
        google_product_category=_google_category(categories.get(product.category_id), mapped),
    )


def write_meta_csv(items: Iterable[FeedItem], out: IO[str]) -> int:
    """The Meta catalogue CSV (the csv module quotes commas, quotes and line breaks). Returns the row count."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(META_COLUMNS)
    n = 0
    for item in items:
        writer.writerow(
            (
                item.id,
                item.title,
                item.description,
                "in stock" if item.in_stock else "out of stock",
                "new",
                item.price,
                item.sale_price,
                item.link,
                item.image_link,
                ",".join(item.additional_image_links),
                item.brand,
                item.item_group_id,
                item.google_product_category,
            )
        )
        n += 1
    return n


def _element(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>" if value else ""


def write_google_xml(items: Iterable[FeedItem], out: IO[str], *, channel, base_url: str) -> int:
    """The Google Merchant Center RSS 2.0 feed, every text XML-escaped. Returns the item count."""
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(f'<rss version="2.0" xmlns:g={quoteattr(GOOGLE_NS)}>\n<channel>\n')
    out.write(_element("title", plain(channel.name, 150)) + "\n")
    out.write(_element("link", base_url.rstrip("/") + "/") + "\n")
    out.write(_element("description", plain(f"Products of {channel.name}", 500)) + "\n")
    n = 0
    for item in items:
        parts = [
            _element("g:id", item.id),
            _element("title", item.title),
            _element("description", item.description),
            _element("link", item.link),
            _element("g:image_link", item.image_link),
            *(_element("g:additional_image_link", url) for url in item.additional_image_links),
            _element("g:availability", "in_stock" if item.in_stock else "out_of_stock"),
            _element("g:price", item.price),
            _element("g:sale_price", item.sale_price),
            _element("g:brand", item.brand),
            _element("g:gtin", item.gtin),
            # Without a GTIN or brand Google wants to be told there is no identifier.
            "" if (item.gtin or item.brand) else _element("g:identifier_exists", "no"),
            _element("g:item_group_id", item.item_group_id),
            _element("g:condition", "new"),
            _element("g:google_product_category", item.google_product_category),
        ]
        out.write("<item>" + "".join(parts) + "</item>\n")
        n += 1
    out.write("</channel>\n</rss>\n")
    return n
