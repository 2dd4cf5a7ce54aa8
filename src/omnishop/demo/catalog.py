"""Write the planned demo catalog through the catalog services: attributes, the category tree, products with
variants and images, and each channel's listings. Anything that exists already (by code, path, SKU or
channel + variant) is left as it is, so a second run adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from omnishop.catalog import services as catalog
from omnishop.catalog.models import Attribute, Category, ChannelListing, Variant
from omnishop.channels.models import Channel

from .plan import BOOLEAN_ATTRIBUTES, PlannedProduct, listings_for

SIZE_ORDER = ("XS", "S", "M", "L", "XL", "XXL")
ATTRIBUTE_NAMES = {
    "color": "Colour",
    "size": "Size",
    "eco_collection": "Eco collection",
    "erin_recommends": "Erin recommends",
    "new": "New arrival",
    "sale": "On sale",
    "performance_fabric": "Performance fabric",
    "parent_sku": "Parent SKU (Magento)",
    "stock_code": "Stock code (Online Retail)",
    "style_general": "Style",
    "style_bottom": "Style (bottoms)",
    "style_bags": "Style (bags)",
    "features_bags": "Features (bags)",
    "strap_bags": "Strap (bags)",
    "category_gear": "Gear category",
}
VARIANT_AXES = ("size", "color")
LISTING_BATCH = 500  # the bulk listing service takes at most 1,000 rows a call


def _size_key(value: str) -> tuple:
    if value in SIZE_ORDER:
        return (0, SIZE_ORDER.index(value), "")
    digits = "".join(ch for ch in value if ch.isdigit())
    return (1, int(digits) if digits else 0, value)


def ensure_attributes(products: Sequence[PlannedProduct]) -> dict[str, Attribute]:
    """Define every attribute the products carry; size and colour are choice attributes and variant axes."""
    values: dict[str, set] = {}
    for product in products:
        for code, value in product.attributes.items():
            values.setdefault(code, set()).add(value)
        for variant in product.variants:
            for code, value in variant.attributes.items():
                values.setdefault(code, set()).add(value)
    existing = {a.code: a for a in Attribute.objects.filter(code__in=values)}
    for code in sorted(values):
        if code in existing:
            continue
        name = ATTRIBUTE_NAMES.get(code, code.replace("_", " ").capitalize())
        if code in VARIANT_AXES:
            choices = sorted(values[code], key=_size_key) if code == "size" else sorted(values[code])
            existing[code] = catalog.create_attribute(
                code=code, name=name, type="choice", choices=choices, is_variant_axis=True
            )
        else:
            kind = "boolean" if code in BOOLEAN_ATTRIBUTES else "text"
            existing[code] = catalog.create_attribute(code=code, name=name, type=kind)
    return existing


def ensure_categories(products: Sequence[PlannedProduct]) -> dict[tuple[str, ...], Category]:
    """The category tree from the products' paths (home categories and merchandising ones alike)."""
    paths: list[tuple[str, ...]] = []
    for product in products:
        for path in (product.category_path, *product.extra_categories):
            for depth in range(1, len(path) + 1):
                if path[:depth] not in paths:
                    paths.append(path[:depth])
    by_path: dict[tuple[str, ...], Category] = {}
    existing = {(c.parent_id, c.name): c for c in Category.objects.all()}
    for position, path in enumerate(sorted(paths, key=len)):
        parent = by_path.get(path[:-1]) if len(path) > 1 else None
        found = existing.get((parent.pk if parent else None, path[-1]))
        by_path[path] = found or catalog.create_category(name=path[-1], parent=parent, position=position)
    return by_path


def ensure_products(products: Sequence[PlannedProduct]) -> dict[str, Variant]:
    """Create each product with its variants and images in one service call; returns every variant by SKU."""
    ensure_attributes(products)
    categories = ensure_categories(products)
    all_skus = [v.sku for p in products for v in p.variants]
    existing = set(Variant.objects.filter(sku__in=all_skus).values_list("sku", flat=True))
    for product in products:
        if product.variants[0].sku in existing:
            continue
        images = [
            catalog.NewImage(url=url, alt=product.title, position=i) for i, url in enumerate(product.images)
        ]
        # One image per colour: the variants of a colour share their photo.
        seen_images = set(product.images)
        for variant in product.variants:
            if variant.image and variant.image not in seen_images:
                seen_images.add(variant.image)
                images.append(
                    catalog.NewImage(
                        url=variant.image,
                        alt=f"{product.title} – {variant.attributes.get('color', variant.title)}",
                        position=len(images),
                        variant_sku=variant.sku,
                    )
                )
        catalog.create_product(
            title=product.title,
            slug=product.slug,
            description=product.description,
            brand=product.brand,
            category=categories[product.category_path],
            attributes=product.attributes,
            variants=[
                catalog.NewVariant(
                    sku=v.sku,
                    gtin=v.gtin,
                    title=v.title,
                    attributes=v.attributes,
                    weight_grams=v.weight_grams,
                    position=v.position,
                )
                for v in product.variants
            ],
            images=images,
        )
    return {v.sku: v for v in Variant.objects.filter(sku__in=all_skus)}


def ensure_listings(
    products: Sequence[PlannedProduct], *, channels: dict[str, Channel], variants: dict[str, Variant]
) -> int:
    """Each channel's listings, created in batches through the bulk listing service; returns how many new."""
    wanted: dict[str, list] = {code: [] for code in channels}
    for product in products:
        for listing in listings_for(product):
            wanted[listing.channel].append(listing)
    created = 0
    for code, listings in wanted.items():
        channel = channels[code]
        have = set(
            ChannelListing.objects.filter(
                channel=channel, variant__sku__in=[li.sku for li in listings]
            ).values_list("variant__sku", flat=True)
        )
        changes = [
            catalog.ListingChange(
                variant=variants[li.sku],
                price=li.price,
                compare_at_price=li.compare_at,
                currency=li.currency,
                is_published=li.is_published,
                title=li.title,
            )
            for li in listings
            if li.sku not in have
        ]
        for start in range(0, len(changes), LISTING_BATCH):
            catalog.bulk_upsert_listings(channel=channel, changes=changes[start : start + LISTING_BATCH])
        created += len(changes)
    return created
