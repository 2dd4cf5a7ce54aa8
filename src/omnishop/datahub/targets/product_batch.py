"""The per-batch loader and writer of the products target.

Writes are per batch, not per row: `Batch` loads what the batch's rows can touch in a few queries (ledger
entries, variants by SKU and GTIN, listings, images, slugs), each row is decided in Python against those
objects in file order — exactly the decisions a row-by-row import would take — and `Batch.flush` writes
the outcome with bulk inserts and updates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.text import slugify

from omnishop.catalog import gtin as gtins
from omnishop.catalog import services as catalog
from omnishop.catalog.models import ChannelListing, Product, ProductImage, Variant
from omnishop.core.bulk import insert_rows

from .base import Prepared
from .catalog_common import among, load_ledger, normalise_title, record

if TYPE_CHECKING:
    from .products import ProductsTarget

PRODUCT_FIELDS = ["title", "description", "brand", "attributes", "is_active", "category", "updated_at"]
VARIANT_FIELDS = ["product", "title", "attributes", "weight_grams", "gtin", "updated_at"]
LISTING_FIELDS = ["price", "compare_at_price", "currency", "is_published", "updated_at"]


def ref_of(obj) -> tuple[str, int]:
    """A key for a model object that works before it is saved (the bulk insert gives it its pk)."""
    return ("pk", obj.pk) if obj.pk is not None else ("new", id(obj))


def append(model, objects: list, *, now, key: str | None = None) -> None:
    """Insert new model objects with core.bulk.insert_rows (COPY on PostgreSQL, executemany on SQLite):
    bulk_create's rows without its per-value SQL compilation. Foreign keys are read from the related
    objects (saved by an earlier append), `auto_now` fields get `now`; with `key`, a unique column, the
    objects get their primary keys back in one query per 2,000."""
    if not objects:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    for obj in objects:
        for field in fields:
            if field.is_relation and getattr(obj, field.attname) is None and field.is_cached(obj):
                related = field.get_cached_value(obj)
                if related is not None:
                    setattr(obj, field.attname, related.pk)
            elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                setattr(obj, field.attname, now)
    insert_rows(
        model._meta.db_table,
        [f.column for f in fields],
        [tuple(getattr(obj, f.attname) for f in fields) for obj in objects],
    )
    if key is not None:
        by_key = {getattr(obj, key): obj for obj in objects}
        for queryset in among(model.objects.all(), key, by_key):
            for value, pk in queryset.values_list(key, "pk"):
                by_key[value].pk = pk
        for obj in objects:
            obj._state.adding, obj._state.db = False, "default"


class Batch:
    """One batch of product rows: the database objects its rows can reach, loaded up front and kept as one
    Python object each, and the inserts and updates its rows decided, written by `flush`."""

    def __init__(self, target: ProductsTarget, rows: list[Prepared], existing: dict) -> None:
        self.target = target
        self.existing = existing  # row ledger at the start of the batch
        self.new_products: list[Product] = []
        self.changed_products: dict[int, Product] = {}
        self.new_variants: list[Variant] = []
        self.changed_variants: dict[int, Variant] = {}
        self.saved_variants: set[int] = set()  # pks whose own fields changed (updated_at moves)
        self.new_listings: list[ChannelListing] = []
        self.changed_listings: dict[int, ChannelListing] = {}
        self.new_images: list[ProductImage] = []
        self.changed_images: dict[int, ProductImage] = {}
        self.floating: list[ProductImage] = []  # new images without a position: after their gallery
        self.product_entries: dict[str, tuple[Product, tuple | None]] = {}
        self.emptied: dict[tuple, Product] = {}  # holding products a configurable took children from
        self.listings: dict[tuple, ChannelListing] = {}  # (pk | new, variant) -> its listing on the channel
        self.load(rows)

    # -- loading ---------------------------------------------------------------------------------------
    def load(self, rows: list[Prepared]) -> None:
        target = self.target
        keys, skus, gtin_forms, titles, urls = set(), set(), set(), set(), set()
        woo_ids = dict(target.woo_ids)
        for row in rows:
            data = row.data
            if target.flavour == "woocommerce" and data.get("external_id"):
                woo_ids[f"id:{data['external_id']}"] = data.get("sku") or ""  # only to widen the preload
            for name in ("sku", "product_key", "parent"):
                if data.get(name):
                    keys.add(str(data[name]))
            if data.get("parent") in woo_ids:
                keys.add(woo_ids[data["parent"]])
            if data.get("sku"):
                skus.add(data["sku"])
            if target.flavour == "shopify" and data.get("product_key"):
                skus.add(target.shopify_sku(row))
            skus.update(c["sku"] for c in data.get("variations") or [] if c.get("sku"))
            code = data.get("gtin")
            if isinstance(code, str) and gtins.is_valid_gtin(code.strip()):
                gtin_forms.update(gtins.equivalent_forms(code.strip()))
            title = data.get("title") or data.get("sku") or data.get("product_key")
            if title:
                titles.add(str(title))
            urls.update(url[:1000] for url in data.get("images") or [])
            for name in ("image_url", "variant_image"):
                if data.get(name):
                    urls.update((data[name], data[name][:1000]))
        self.load_products(keys)
        self.load_variants(skus, gtin_forms)
        self.load_listings(list(self.variants_by_pk))
        self.load_images(urls)
        self.load_slugs(titles)
        if target.options.get("match_titles", True):
            target.load_title_candidates({normalise_title(t) for t in titles})

    def load_products(self, keys: set[str]) -> None:
        self.ledger: dict[str, tuple | None] = dict.fromkeys(keys)
        self.ledger.update(load_ledger(self.target.product_ledger, keys))
        self.target.load_products(o[0] for o in self.ledger.values() if o)

    def product_entry(self, key: str) -> tuple | None:
        if key not in self.ledger:
            self.ledger[key] = self.target.product_ledger.load([key]).get(key)
        return self.ledger[key]

    def load_variants(self, skus: set[str], gtin_forms: set[str]) -> None:
        self.variants_by_pk: dict[int, Variant] = {}
        self.by_sku: dict[str, Variant | None] = dict.fromkeys(skus)
        self.by_gtin: dict[str, Variant] = {}  # GTIN-14 form -> the variant holding it
        self.gtins_loaded: set[str] = {gtins.as_gtin14(f) for f in gtin_forms}
        found: list[Variant] = []
        for queryset in among(Variant.objects.all(), "sku", skus):
            found.extend(queryset)
        for queryset in among(Variant.objects.all(), "gtin", gtin_forms):
            found.extend(queryset)
        # find_variant_by_gtin takes the first in the catalog's order when several spellings are stored
        for variant in sorted(found, key=lambda v: (v.product_id, v.position, v.pk)):
            self.add_variant(self.variants_by_pk.setdefault(variant.pk, variant))

    def add_variant(self, variant: Variant) -> None:
        self.by_sku[variant.sku] = variant
        if variant.gtin:
            self.by_gtin.setdefault(gtins.as_gtin14(variant.gtin), variant)

    def variant_by_sku(self, sku: str) -> Variant | None:
        if sku not in self.by_sku:
            variant = Variant.objects.filter(sku=sku).first()
            self.by_sku[sku] = None
            if variant is not None:
                variant = self.variants_by_pk.setdefault(variant.pk, variant)
                self.add_variant(variant)
                self.load_listings([variant.pk])
        return self.by_sku[sku]

    def preload(self, *, pks: set[int], skus: set[str]) -> None:
        """Variants the batch's rows name otherwise than by their own SKU or GTIN (a remembered SKU alias,
        the SKU map's catalogue SKU), with their listings: one query each for those not loaded yet."""
        pks = {pk for pk in pks if pk not in self.variants_by_pk}
        skus = {sku for sku in skus if sku not in self.by_sku}
        found: list[Variant] = []
        for queryset in among(Variant.objects.all(), "pk", pks):
            found.extend(queryset)
        for queryset in among(Variant.objects.all(), "sku", skus):
            found.extend(queryset)
        self.by_sku.update(dict.fromkeys(skus))
        for variant in found:
            self.add_variant(self.variants_by_pk.setdefault(variant.pk, variant))
        self.load_listings([v.pk for v in found])

    def variant_by_pk(self, pk: int) -> Variant | None:
        if pk not in self.variants_by_pk:
            self.preload(pks={pk}, skus=set())
        return self.variants_by_pk.get(pk)

    def variant_by_gtin(self, code: str) -> Variant | None:
        """catalog.find_variant_by_gtin against the batch: any stored GTIN length names one trade item."""
        canonical = gtins.as_gtin14(code)
        if canonical not in self.gtins_loaded:
            self.gtins_loaded.add(canonical)
            variant = catalog.find_variant_by_gtin(code)
            if variant is not None:
                variant = self.variants_by_pk.setdefault(variant.pk, variant)
                self.add_variant(variant)
                self.load_listings([variant.pk])
        return self.by_gtin.get(canonical)

    def load_listings(self, variant_ids: list[int]) -> None:
        if self.target.channel is None:
            return
        listings = ChannelListing.objects.filter(channel=self.target.channel)
        for queryset in among(listings, "variant_id", variant_ids):
            for listing in queryset:
                self.listings[("pk", listing.variant_id)] = listing

    def load_images(self, urls: set[str]) -> None:
        self.images: dict[tuple, ProductImage] = {}
        for queryset in among(ProductImage.objects.order_by("product_id", "position", "id"), "url", urls):
            for image in queryset:
                self.images.setdefault((("pk", image.product_id), image.url), image)

    def load_slugs(self, titles: set[str]) -> None:
        bases = {slugify(t)[:150] or "product" for t in titles}
        self.slugs_checked = set(bases)
        self.slugs_taken: set[str] = set()
        for queryset in among(Product.objects.all(), "slug", bases):
            self.slugs_taken.update(queryset.values_list("slug", flat=True))

    def slug_taken(self, slug: str) -> bool:
        if slug not in self.slugs_checked:
            self.slugs_checked.add(slug)
            if Product.objects.filter(slug=slug).exists():
                self.slugs_taken.add(slug)
        return slug in self.slugs_taken

    # -- deciding --------------------------------------------------------------------------------------
    def create_product(self, product: Product) -> None:
        self.slugs_taken.add(product.slug)
        self.slugs_checked.add(product.slug)
        self.new_products.append(product)

    def change_product(self, product: Product) -> None:
        if product.pk is not None:
            self.changed_products[product.pk] = product

    def create_variant(self, variant: Variant) -> None:
        self.new_variants.append(variant)
        self.add_variant(variant)

    def change_variant(self, variant: Variant, *, saved: bool) -> None:
        if variant.pk is not None:
            self.changed_variants[variant.pk] = variant
            if saved:
                self.saved_variants.add(variant.pk)

    def listing_of(self, variant: Variant) -> ChannelListing | None:
        return self.listings.get(ref_of(variant))

    def add_listing(self, listing: ChannelListing) -> None:
        self.listings[ref_of(listing.variant)] = listing
        self.new_listings.append(listing)

    def image(
        self,
        product: Product,
        url: str,
        *,
        alt: str | None = None,
        position: int | None = None,
        refresh: bool = False,
    ) -> ProductImage:
        """ProductImage get_or_create(product, url) against the batch. With `refresh`, an image already
        there takes the row's alt text and position (Shopify: the file says where each image goes). A new
        image without a position goes after the product's gallery (placed when the batch is written)."""
        key = (ref_of(product), url)
        image = self.images.get(key)
        if image is None:
            image = ProductImage(product=product, url=url, alt=alt or "", position=position or 0)
            self.images[key] = image
            self.new_images.append(image)
            if position is None:
                self.floating.append(image)
            self.touch(product)
            return image
        if refresh:
            changed = False
            if alt is not None and image.alt != alt:
                image.alt, changed = alt, True
            if position is not None and (image.position != position or image in self.floating):
                image.position, changed = position, True
                if image in self.floating:
                    self.floating.remove(image)
            if changed:
                self.change_image(image, product)
        return image

    def link_image(self, variant: Variant, product: Product, url: str) -> ProductImage:
        """A variant's own image (Shopify `Variant Image`): the product's image with that URL, added to the
        product when it is not one yet, tied to the variant. The catalog ties an image to one variant: an
        image already tied to another variant stays with it (counted as `variant_images_shared`)."""
        image = self.image(product, url)
        if image.variant_id is not None:  # tied in the database
            same = variant.pk is not None and image.variant_id == variant.pk
        elif image.variant is not None:  # tied earlier in this batch (no query: the FK is unset)
            same = image.variant is variant
        else:
            image.variant = variant
            self.change_image(image, product)
            self.target.entity_counts["variant_images_linked"] += 1
            return image
        if not same:
            self.target.entity_counts["variant_images_shared"] += 1
        return image

    def change_image(self, image: ProductImage, product: Product) -> None:
        if image.pk is not None:
            self.changed_images[image.pk] = image
            self.touch(product)

    def touch(self, product: Product) -> None:
        """An image changed: the product's updated_at moves (catalog.images does the same)."""
        if product.pk is not None:
            self.changed_products.setdefault(product.pk, product)

    def place_floating(self, dropped: set[int]) -> None:
        """Positions for new images that came without one: after every other image of their product."""
        floating = [i for i in self.floating if id(i.product) not in dropped]
        if not floating:
            return
        last: dict[tuple, int] = {}
        floating_ids = {id(i) for i in floating}
        for image in self.images.values():
            if id(image) not in floating_ids:
                ref = ("pk", image.product_id) if image.product_id else ref_of(image.product)
                last[ref] = max(last.get(ref, 0), image.position)
        saved = {i.product.pk for i in floating if i.product.pk is not None}
        if saved:
            rows = ProductImage.objects.filter(product_id__in=saved).values_list("product_id", "position")
            for pk, position in rows:
                last[("pk", pk)] = max(last.get(("pk", pk), 0), position)
        for image in floating:
            ref = ref_of(image.product)
            last[ref] = image.position = last.get(ref, 0) + 1

    # -- writing ---------------------------------------------------------------------------------------
    def flush(self) -> None:
        target, now = self.target, timezone.now()
        dropped = {id(p) for p in self.emptied.values() if p.pk is None and not target.variant_count[id(p)]}
        for product in self.emptied.values():
            if id(product) in dropped:
                target.drop(product)
        self.place_floating(dropped)  # before the inserts: products are still keyed as in self.images
        created = [p for p in self.new_products if id(p) not in dropped]
        append(Product, created, now=now, key="slug")
        target.loaded.update((p.pk, p) for p in created)
        for product in self.changed_products.values():
            product.updated_at = now
        Product.objects.bulk_update(list(self.changed_products.values()), PRODUCT_FIELDS, batch_size=500)
        append(Variant, self.new_variants, now=now, key="sku")
        for pk in self.saved_variants:
            self.changed_variants[pk].updated_at = now
        Variant.objects.bulk_update(list(self.changed_variants.values()), VARIANT_FIELDS, batch_size=500)
        append(ChannelListing, self.new_listings, now=now)
        for listing in self.changed_listings.values():
            listing.updated_at = now
        ChannelListing.objects.bulk_update(
            list(self.changed_listings.values()), LISTING_FIELDS, batch_size=500
        )
        new_images = [i for i in self.new_images if id(i.product) not in dropped]
        ProductImage.objects.bulk_create(new_images, batch_size=500)
        target.entity_counts["images_added"] += len(new_images)
        ProductImage.objects.bulk_update(
            list(self.changed_images.values()), ["alt", "position", "variant"], batch_size=500
        )
        entries = {
            key: (product.pk, "")
            for key, (product, _known) in self.product_entries.items()
            if id(product) not in dropped
        }
        known = {key: k for key, (_p, k) in self.product_entries.items() if k}
        record(target.product_ledger, entries, known)
        # Holding products from earlier batches (saved) that gave away their last variant go now.
        saved = {p.pk: p for p in self.emptied.values() if p.pk is not None}
        if saved:
            still = set(
                Variant.objects.filter(product_id__in=list(saved)).values_list("product_id", flat=True)
            )
            empty = [pk for pk in saved if pk not in still]
            Product.objects.filter(pk__in=empty).delete()
            for pk in empty:
                target.drop(saved[pk])
