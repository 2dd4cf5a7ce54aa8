"""What the demo catalog is, as plain data: products, variants, categories, per-channel prices and supplier
terms, computed from the committed extract by fixed, documented rules (docs/demo.md). No database here, so
the rules can be read and tested on their own; `catalog.py` writes the plan through the catalog services.
"""

from __future__ import annotations

import json
import re
import unicodedata
import zlib
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path

from django.utils.text import slugify

DATA_DIR = Path(__file__).resolve().parent / "data"
# Magento's sample-data repository, at the commit the extract was taken from, holds the Luma images.
MAGENTO_MEDIA = (
    "https://raw.githubusercontent.com/magento/magento2-sample-data/"
    "53807565ba9f23c9409268c02bb995cf39ef553d/pub/media/catalog/product"
)
# Fixed, documented conversion for the demo (not a live rate): 1 GBP = 1.17 EUR.
EUR_PER_GBP = Decimal("1.17")
# Marketplaces charge a commission; the merchant prices them a few per cent higher.
MARKETPLACE_UPLIFT = Decimal("1.05")
LB_TO_GRAMS = Decimal("453.592")
BRAND = "Luma"  # the fictional brand of Magento's sample data
BOOLEAN_ATTRIBUTES = {"eco_collection", "performance_fabric", "erin_recommends", "new", "sale"}
# GS1 prefix 2 is for restricted in-store circulation: barcodes a shop prints for its own goods, so the demo's
# GTINs are valid (check digit) without claiming anyone's real trade items.
GTIN_PREFIX = "2"
# The small demo (tests): a few products of each source, chosen so that every listing rule shows (apparel 9 is
# awaiting marketplace approval, 11 is "coming soon" on the web, giftware 63 is a Christmas item).
SMALL = {"apparel": {0, 9, 11}, "gear": {0, 1}, "giftware": {0, 1, 63}}

GIFTWARE_CATEGORIES = (
    ("Christmas", ("CHRISTMAS", "XMAS", "ADVENT", "SNOWFLAKE", "REINDEER", "BAUBLE")),
    ("Bags & Storage", ("BAG", "SHOPPER", "STORAGE", "BOX", "TIN ")),
    ("Kitchen & Baking", ("CAKE", "TEA", "MUG", "JAM", "LUNCH", "KITCHEN", "BAKING", "JELLY", "CUP", "BOWL")),
    ("Party", ("PARTY", "BUNTING", "NAPKIN", "BALLOON", "CANDLE", "POPCORN", "PAPER")),
    ("Garden", ("GARDEN", "BIRD", "PLANT", "FLOWER", "WICKER")),
    ("Lighting", ("LIGHT", "LANTERN", "LAMP")),
)


@dataclass(frozen=True)
class PlannedVariant:
    sku: str
    title: str
    attributes: dict
    weight_grams: int | None
    gtin: str | None
    image: str | None
    position: int


@dataclass(frozen=True)
class PlannedProduct:
    source: str  # apparel | gear | giftware
    index: int  # position within its source, stable between the small and the full demo
    title: str
    slug: str
    description: str
    brand: str
    category_path: tuple[str, ...]  # category names from the root
    attributes: dict
    images: tuple[str, ...]
    variants: tuple[PlannedVariant, ...]
    price: Decimal  # GBP
    compare_at: Decimal | None
    trade_price: Decimal | None = None
    extra_categories: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def is_seasonal(self) -> bool:
        return self.category_path[-1] == "Christmas"


@cache
def extract(name: str) -> dict:
    return json.loads((DATA_DIR / name).read_text(encoding="utf-8"))


def stable_number(*parts: object) -> int:
    """A deterministic pseudo-random number from the parts (same on every machine and run)."""
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def eur_price(gbp: Decimal, *, marketplace: bool) -> Decimal:
    return money(gbp * EUR_PER_GBP * (MARKETPLACE_UPLIFT if marketplace else 1))


def gtin13(serial: int) -> str:
    body = f"{GTIN_PREFIX}{serial:011d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def title_case(upper: str) -> str:
    """'WHITE HANGING HEART T-LIGHT HOLDER' -> 'White Hanging Heart T-Light Holder' (apostrophes kept)."""
    words = " ".join(upper.split()).rstrip(".").lower().split(" ")
    return " ".join(re.sub(r"(^|[-/(])([a-z])", lambda m: m.group(1) + m.group(2).upper(), w) for w in words)


def _attribute_value(key: str, value):
    """Yes/No (or 1/0) flags become booleans; Magento's multi-select lists become one text value ('Gym, Travel')."""
    if key in BOOLEAN_ATTRIBUTES and value in ("Yes", "No", "1", "0"):
        return value in ("Yes", "1")
    if isinstance(value, list):
        return ", ".join(value)
    return value


def _apparel_categories(paths: list[str]) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Magento lists several category paths; the deepest Men/Women one is the product's home, Collections and
    Promotions are merchandising categories it also appears in."""
    split = [tuple(p.split("/")) for p in paths if p and p != "Default Category"]
    home = max((p for p in split if p[0] in ("Men", "Women")), key=len)
    return home, tuple(p for p in split if p != home)


def _giftware_category(name: str) -> tuple[str, ...]:
    for category, words in GIFTWARE_CATEGORIES:
        if any(word in f"{name} " for word in words):
            return ("Home & Gifts", category)
    return ("Home & Gifts", "Decorations")


def _image(path: str) -> str:
    return f"{MAGENTO_MEDIA}{path}"


def _weight(pounds: str) -> int | None:
    return int((Decimal(pounds) * LB_TO_GRAMS).to_integral_value(ROUND_HALF_UP)) if pounds else None


def plan_products(*, small: bool = False) -> list[PlannedProduct]:
    data = extract("catalog.json")
    products: list[PlannedProduct] = []
    slugs: set[str] = set()
    serial = 0

    def unique_slug(title: str) -> str:
        base = slugify(unicodedata.normalize("NFKD", title))[:180] or "product"
        slug, n = base, 2
        while slug in slugs:
            slug, n = f"{base}-{n}", n + 1
        slugs.add(slug)
        return slug

    for index, row in enumerate(data["apparel"]):
        variants = []
        for position, (sku, size, color, weight, image) in enumerate(row["variants"]):
            serial += 1
            variants.append(
                PlannedVariant(
                    sku=sku,
                    title=" / ".join(v for v in (size, color) if v),
                    attributes={k: v for k, v in (("size", size), ("color", color)) if v},
                    weight_grams=_weight(weight),
                    gtin=gtin13(serial),
                    image=_image(image) if image else None,
                    position=position,
                )
            )
        home, extra = _apparel_categories(row["categories"])
        products.append(
            PlannedProduct(
                source="apparel",
                index=index,
                title=row["name"],
                slug=unique_slug(row["name"]),
                description=row["description"],
                brand=BRAND,
                category_path=home,
                extra_categories=extra,
                attributes={
                    "parent_sku": row["sku"],
                    **{k: _attribute_value(k, v) for k, v in row["attributes"].items()},
                },
                images=tuple(_image(i) for i in row["images"] if i),
                variants=tuple(variants),
                price=Decimal(row["price"]),
                compare_at=Decimal(row["msrp"]) if row["msrp"] else None,
            )
        )
    for index, row in enumerate(data["gear"]):
        serial += 1
        products.append(
            PlannedProduct(
                source="gear",
                index=index,
                title=row["name"],
                slug=unique_slug(row["name"]),
                description=row["description"],
                brand=BRAND,
                category_path=tuple(row["categories"][0].split("/")),
                attributes={k: _attribute_value(k, v) for k, v in row["attributes"].items()},
                images=tuple(_image(i) for i in row["images"]),
                variants=(
                    PlannedVariant(
                        sku=row["sku"],
                        title="",
                        attributes={},
                        weight_grams=None,
                        gtin=gtin13(serial),
                        image=None,
                        position=0,
                    ),
                ),
                price=Decimal(row["price"]),
                compare_at=None,
            )
        )
    for index, row in enumerate(data["giftware"]):
        title = title_case(row["name"])
        products.append(
            PlannedProduct(
                source="giftware",
                index=index,
                title=title,
                slug=unique_slug(title),
                description="",
                brand="",
                category_path=_giftware_category(row["name"]),
                attributes={"stock_code": row["sku"]},
                images=(),
                variants=(
                    PlannedVariant(
                        sku=row["sku"],
                        title="",
                        attributes={},
                        weight_grams=None,
                        gtin=None,
                        image=None,
                        position=0,
                    ),
                ),
                price=Decimal(row["price"]),
                compare_at=None,
                trade_price=Decimal(row["trade_price"]),
            )
        )
    if small:
        products = [p for p in products if p.index in SMALL[p.source]]
    return products


# --- Channels and what each lists ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedChannel:
    code: str
    name: str
    kind: str
    currency: str
    locale: str
    country: str
    prices_include_tax: bool = True


CHANNELS = (
    PlannedChannel("web", "Omnishop web shop", "web", "GBP", "en-GB", "GB"),
    PlannedChannel("marketplace-eu", "EU marketplace", "marketplace", "EUR", "de-DE", "DE"),
    PlannedChannel("store-london", "Flagship store, London (POS)", "pos_store", "GBP", "en-GB", "GB"),
    PlannedChannel("app", "Omnishop mobile app", "mobile_app", "GBP", "en-GB", "GB"),
)


@dataclass(frozen=True)
class PlannedListing:
    channel: str
    sku: str
    is_published: bool
    price: Decimal
    compare_at: Decimal | None
    currency: str
    title: str = ""


def listings_for(product: PlannedProduct) -> list[PlannedListing]:
    """Rules (docs/demo.md): the web shop and the store list everything; seasonal (Christmas) goods are
    unpublished out of season, and one product in twelve is "coming soon" on the web and the app (listed
    with its price, not yet published). The app sells the Luma range only. The marketplace sells the Luma range in EUR
    at the fixed rate plus the uplift, under brand-first marketplace titles, and one product in ten is still
    awaiting the marketplace's approval (unpublished)."""
    out = []
    coming_soon = product.index % 12 == 11
    for variant in product.variants:
        common = {
            "sku": variant.sku,
            "price": product.price,
            "compare_at": product.compare_at,
            "currency": "GBP",
        }
        out.append(
            PlannedListing(channel="web", is_published=not (product.is_seasonal or coming_soon), **common)
        )
        out.append(PlannedListing(channel="store-london", is_published=not product.is_seasonal, **common))
        if product.source == "giftware":
            continue
        out.append(PlannedListing(channel="app", is_published=not coming_soon, **common))
        # The marketplace's own title convention: brand first. Product-level, as storefronts show it per
        # product; the variant's size and colour are attributes there.
        title = f"{product.brand} {product.title}"
        out.append(
            PlannedListing(
                channel="marketplace-eu",
                sku=variant.sku,
                is_published=product.index % 10 != 9,
                price=eur_price(product.price, marketplace=True),
                compare_at=eur_price(product.compare_at, marketplace=True) if product.compare_at else None,
                currency="EUR",
                title=title,
            )
        )
    return out
