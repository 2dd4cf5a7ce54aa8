"""A fixed-size catalog for the HTTP read-path benchmarks, built with bulk inserts.

Products come from the UCI Online Retail stock codes (real descriptions and unit prices); each becomes a
product with 1–5 variants (sizes or colours), so the catalog holds ≥ 10,000 variants. Three channels list
them: a GBP web shop (90 % published), a EUR marketplace (70 %, some channel titles, converted prices) and
a GBP flagship store (50 %). Stock sits in two warehouses when the inventory context is installed.
Deterministic (seeded), so every run measures the same data.

Run in a process whose DATABASE_URL points at an empty, migrated database:
    python -m bench.catalog_fixture load            # prints a JSON summary
    python -m bench.catalog_fixture sample OUT.json # paths to request and the SQL each request runs
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import random
import re
import statistics
import sys
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

DATASET = Path(os.environ.get("OMNISHOP_DATASETS", "/work/shared/datasets")) / "online_retail_uci"
MIN_VARIANTS = 10_000
SEED = 20261125

CATEGORIES = [
    # (path, name, keywords in the description)
    ("home", "Home", ()),
    ("home/candles", "Candles & lights", ("CANDLE", "T-LIGHT", "TEA LIGHT", "LANTERN", "LIGHT")),
    (
        "home/kitchen",
        "Kitchen",
        ("MUG", "CUP", "PLATE", "BOWL", "JAR", "TIN", "CAKE", "SPOON", "TEA", "BOTTLE"),
    ),
    ("home/decor", "Decor", ("FRAME", "SIGN", "HEART", "CLOCK", "MIRROR", "CUSHION", "HOOK", "DOORMAT")),
    ("gifts", "Gifts", ()),
    ("gifts/bags", "Bags", ("BAG", "PURSE", "TOTE")),
    ("gifts/stationery", "Stationery", ("CARD", "WRAP", "PAPER", "NOTEBOOK", "PEN", "PENCIL", "STICKER")),
    ("gifts/toys", "Toys & games", ("TOY", "GAME", "DOLL", "PUZZLE", "SPACEBOY", "DOLLY")),
    ("seasonal", "Seasonal", ()),
    ("seasonal/christmas", "Christmas", ("CHRISTMAS", "XMAS", "BAUBLE", "SNOWFLAKE", "REINDEER")),
    ("other", "Other", ()),
]
AXES = [("size", ["S", "M", "L", "XL", "XXL"]), ("colour", ["Red", "Blue", "Green", "Pink", "Ivory"])]


def _retail_items() -> list[tuple[str, str, Decimal]]:
    """(stock code, description, typical unit price) of every sellable stock code, in code order."""
    names: dict[str, Counter] = defaultdict(Counter)
    prices: dict[str, list[float]] = defaultdict(list)
    for path in sorted(DATASET.glob("online_retail_*.csv.gz")):
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                code = row["StockCode"].strip().upper()
                description = " ".join(row["Description"].split())
                if not re.fullmatch(r"\d{5}[A-Z]?", code) or not description or description.islower():
                    continue
                try:
                    price = float(row["UnitPrice"])
                except ValueError:
                    continue
                if price <= 0 or row["InvoiceNo"].startswith("C"):
                    continue
                names[code][description] += 1
                prices[code].append(price)
    return [
        (code, names[code].most_common(1)[0][0], Decimal(str(round(statistics.median(prices[code]), 2))))
        for code in sorted(names)
    ]


def _category_for(description: str) -> str:
    for path, _, words in CATEGORIES:
        if any(w in description for w in words):
            return path
    return "other"


def load() -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnishop.settings")
    django.setup()
    from django.apps import apps
    from django.db import transaction
    from django.utils.text import slugify

    from omnishop.catalog.models import Category, ChannelListing, Product, ProductImage, Variant
    from omnishop.channels.models import Channel

    rng = random.Random(SEED)
    items = _retail_items()
    with transaction.atomic():
        channels = {
            code: Channel.objects.create(code=code, name=name, kind=kind, currency=currency)
            for code, name, kind, currency in [
                ("web", "Web shop", "web", "GBP"),
                ("marketplace", "Marketplace", "marketplace", "EUR"),
                ("flagship", "Flagship store", "pos_store", "GBP"),
            ]
        }
        categories: dict[str, Category] = {}
        for position, (path, name, _) in enumerate(CATEGORIES):
            parent = categories.get(path.rsplit("/", 1)[0]) if "/" in path else None
            categories[path] = Category.objects.create(
                parent=parent, name=name, slug=path.rsplit("/", 1)[-1], path=path, position=position
            )
        products = []
        plan = []
        variant_total = 0
        for code, description, price in items:
            count = rng.choice([1, 2, 3, 3, 4, 5])
            plan.append((code, description, price, count))
            variant_total += count
        # Enough products that the catalog reaches MIN_VARIANTS even on a smaller copy of the data.
        while variant_total < MIN_VARIANTS:
            code, description, price, count = plan[len(plan) % len(items)]
            plan.append((f"{code}-{len(plan)}", f"{description} II", price, count))
            variant_total += count
        for code, description, _price, _ in plan:
            title = description.title()
            products.append(
                Product(
                    title=title,
                    slug=f"{slugify(title)[:180]}-{code.lower()}",
                    description=f"{title}. From the UCI Online Retail catalogue, stock code {code}.",
                    brand="Omnishop Gifts",
                    category=categories[_category_for(description)],
                    attributes={"stock_code": code, "origin": "GB"},
                )
            )
        Product.objects.bulk_create(products, batch_size=2000)
        products = list(Product.objects.order_by("id"))
        variants = []
        for product, (code, _, _price, count) in zip(products, plan, strict=True):
            axis, values = AXES[product.pk % 2]
            for i in range(count):
                variants.append(
                    Variant(
                        product=product,
                        sku=f"{code}-{i}" if count > 1 else code,
                        title=values[i] if count > 1 else "",
                        attributes={axis: values[i]} if count > 1 else {},
                        position=i,
                    )
                )
        Variant.objects.bulk_create(variants, batch_size=5000)
        variants = list(Variant.objects.order_by("id").values_list("id", "product_id", "position"))
        base_price = {p.pk: plan_row[2] for p, plan_row in zip(products, plan, strict=True)}
        images = []
        for product in products:
            for i in range(rng.choice([0, 1, 1, 2, 3])):
                images.append(
                    ProductImage(
                        product=product,
                        url=f"https://images.omnishop.example/{product.slug}/{i}.jpg",
                        alt=f"{product.title} ({i + 1})",
                        position=i,
                    )
                )
        ProductImage.objects.bulk_create(images, batch_size=5000)
        listings = []
        share = {"web": 0.9, "marketplace": 0.7, "flagship": 0.5}
        for variant_id, product_id, position in variants:
            price = base_price[product_id] * (1 + Decimal(position) / 10)
            for code, channel in channels.items():
                if rng.random() >= share[code] + 0.05:
                    continue  # not listed at all
                published = rng.random() < share[code] / (share[code] + 0.05)
                channel_price = (
                    (price * Decimal("1.17")).quantize(Decimal("0.01")) if code == "marketplace" else price
                )
                compare = (
                    (channel_price * Decimal("1.25")).quantize(Decimal("0.01"))
                    if rng.random() < 0.2
                    else None
                )
                listings.append(
                    ChannelListing(
                        channel=channel,
                        variant_id=variant_id,
                        is_published=published,
                        price=channel_price.quantize(Decimal("0.01")),
                        compare_at_price=compare,
                        currency=channel.currency,
                        title="",
                    )
                )
        ChannelListing.objects.bulk_create(listings, batch_size=5000)
        stock_rows = (
            _load_stock(apps, channels, variants, rng) if apps.is_installed("omnishop.inventory") else 0
        )
    return {
        "products": len(products),
        "variants": len(variants),
        "listings": len(listings),
        "published": sum(1 for x in listings if x.is_published),
        "images": len(images),
        "stock_levels": stock_rows,
        "channels": list(channels),
    }


def _load_stock(apps, channels, variants, rng) -> int:
    StockLocation = apps.get_model("inventory", "StockLocation")
    ChannelLocation = apps.get_model("inventory", "ChannelLocation")
    StockLevel = apps.get_model("inventory", "StockLevel")
    north = StockLocation.objects.create(code="wh-north", name="North warehouse", country="GB")
    south = StockLocation.objects.create(code="wh-south", name="South warehouse", country="GB")
    store = StockLocation.objects.create(
        code="flagship", name="Flagship store", kind="retail_store", serves_pickup=True, country="GB"
    )
    links = [
        ("web", north, 0),
        ("web", south, 1),
        ("marketplace", south, 0),
        ("flagship", store, 0),
        ("flagship", north, 1),
    ]
    ChannelLocation.objects.bulk_create(
        [ChannelLocation(channel=channels[c], location=loc, priority=p) for c, loc, p in links]
    )
    levels = []
    for variant_id, _, _ in variants:
        for location in (north, south, store):
            if rng.random() < 0.75:
                levels.append(
                    StockLevel(
                        variant_id=variant_id, location=location, on_hand=rng.choice([0, 0, 1, 3, 8, 20, 60])
                    )
                )
    StockLevel.objects.bulk_create(levels, batch_size=5000)
    return len(levels)


def sample(out: Path, *, pages_per_channel: int = 60, details: int = 600) -> dict:
    """Paths the load generator rotates over, and the statements (SQL + parameters) each one runs."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnishop.settings")
    django.setup()
    import orjson
    from django.db import connection

    from omnishop.storefront import render

    rng = random.Random(SEED)
    recorded: list = []

    def record(execute, sql, params, many, context):
        recorded.append([sql, list(params or [])])
        return execute(sql, params, many, context)

    def capture(fn, *args, **kwargs):
        recorded.clear()
        with connection.execute_wrapper(record):
            result = fn(*args, **kwargs)
        return result, [list(x) for x in recorded]

    def item(path: str, answer, statements, again) -> dict:
        """A path, its cold statements, its ETag and what a revalidation with that ETag runs (a 304)."""
        status, _, headers = answer
        etag = dict(headers)["ETag"]
        (revalidated, _, _), revalidation = capture(again, if_none_match=etag, if_modified_since=None)
        assert (status, revalidated) == (200, 304), (path, status, revalidated)
        return {"path": path, "statements": statements, "etag": etag, "revalidation": revalidation}

    lists, detail_paths = [], []
    for channel in ("web", "marketplace", "flagship"):
        cursor = None
        for _ in range(pages_per_channel):
            params = {"cursor": cursor} if cursor else {}
            conditional = {"if_none_match": None, "if_modified_since": None}
            answer, statements = capture(render.product_page, channel, params, **conditional)
            page = orjson.loads(answer[1])
            path = f"/api/v1/storefront/{channel}/products" + (f"?cursor={cursor}" if cursor else "")
            lists.append(
                item(
                    path, answer, statements, lambda c=channel, p=params, **h: render.product_page(c, p, **h)
                )
            )
            slugs = [card["slug"] for card in page["items"]]
            for slug in rng.sample(slugs, min(len(slugs), details // (3 * pages_per_channel) + 1)):
                answer, statements = capture(render.product_detail, channel, slug, **conditional)
                detail_paths.append(
                    item(
                        f"/api/v1/storefront/{channel}/products/{slug}",
                        answer,
                        statements,
                        lambda c=channel, s=slug, **h: render.product_detail(c, s, **h),
                    )
                )
            cursor = page["next_cursor"]
            if not cursor:
                break
    out.write_text(json.dumps({"list": lists, "detail": detail_paths}))
    return {"list_paths": len(lists), "detail_paths": len(detail_paths)}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    if sys.argv[1:2] == ["load"]:
        print(json.dumps(load()))
    elif sys.argv[1:2] == ["sample"]:
        print(json.dumps(sample(Path(sys.argv[2]))))
    else:
        sys.exit(__doc__)
