"""Catalog targets: products and variants from channel product exports (Shopify, WooCommerce, Magento 2),
suppliers and supplier offers.

Product rows are matched across channels before anything is created: a variant by SKU, then GTIN; a new
product by its normalised title plus attributes. A row that lands on an existing object from another
source counts as `merged`. Each row's content hash sits in the ledger, so re-importing a file is a no-op.

Flavours (profile option `flavour`) differ only in how rows group into products:
- shopify: rows share a Handle; the row with a Title carries the product, others add variants or images.
- woocommerce: Type simple/variable/variation/grouped/external; variations name their Parent.
- magento: configurable rows list their children in configurable_variations; children usually come
  first, so they wait under a holding product and move to their parent when it arrives.

Writes are per batch, not per row: `Batch` loads what the batch's rows can touch in a few queries (ledger
entries, variants by SKU and GTIN, listings, images, slugs), each row is decided in Python against those
objects in file order — exactly the decisions a row-by-row import would take — and `Batch.flush` writes
the outcome with bulk inserts and updates.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from collections.abc import Iterable

import orjson
from django.db import connection
from django.utils import timezone
from django.utils.text import slugify

from omnishop.catalog import gtin as gtins
from omnishop.catalog import services as catalog
from omnishop.catalog.models import (
    Category,
    ChannelListing,
    Product,
    ProductImage,
    Supplier,
    SupplierOffer,
    Variant,
)
from omnishop.core.bulk import insert_rows
from omnishop.core.errors import DomainError
from omnishop.core.money import validate_currency

from ..engine import IMPORTED, MERGED, QUARANTINED, UNCHANGED, UPDATED, Prepared, Result, content_hash
from ..models import ImportedRecord
from .base import Ledger, Target

CHUNK = 2000  # keys per IN (...) query: well under SQLite's variable limit
PRODUCT_FIELDS = ["title", "description", "brand", "attributes", "is_active", "category", "updated_at"]
VARIANT_FIELDS = ["product", "title", "attributes", "weight_grams", "gtin", "updated_at"]
LISTING_FIELDS = ["price", "compare_at_price", "currency", "is_published", "updated_at"]


def normalise_title(title: str) -> str:
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in folded).split())


def _short(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    digest = hashlib.blake2b(value.encode(), digest_size=4).hexdigest()
    return f"{value[: limit - 9]}-{digest}"


def _chunks(values: Iterable, size: int = CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _among(queryset, field: str, values: Iterable):
    """`queryset` narrowed to rows whose `field` is one of `values`, as one query per 10,000 values with one
    parameter: an array (`= ANY`) on PostgreSQL, a JSON array read by `json_each` on SQLite. An IN list of
    thousands of placeholders costs more to compile (Django) and parse (psycopg) than to run."""
    values = list(values)
    meta = queryset.model._meta
    column = meta.pk.column if field == "pk" else meta.get_field(field).column
    column = f"{connection.ops.quote_name(meta.db_table)}.{connection.ops.quote_name(column)}"
    for chunk in _chunks(values, 10_000):
        if connection.vendor == "postgresql":
            yield queryset.extra(where=[f"{column} = ANY(%s)"], params=[chunk])
        elif connection.vendor == "sqlite":  # one JSON array parameter, read by SQLite's json_each
            yield queryset.extra(
                where=[f"{column} IN (SELECT value FROM json_each(%s))"],
                params=[orjson.dumps(chunk).decode()],
            )
        else:
            yield queryset.filter(**{f"{field}__in": chunk})


def load_ledger(ledger: Ledger, keys: Iterable[str]) -> dict[str, tuple[int, str]]:
    """Ledger.load with one array parameter per 10,000 keys on PostgreSQL."""
    found: dict[str, tuple[int, str]] = {}
    stored = ImportedRecord.objects.filter(source=ledger.source, entity=ledger.entity)
    for queryset in _among(stored, "natural_key", dict.fromkeys(keys)):
        for key, object_id, digest in queryset.values_list("natural_key", "object_id", "content_hash"):
            found[key] = (object_id, digest)
    return found


def _ref(obj) -> tuple[str, int]:
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
        for queryset in _among(model.objects.all(), key, by_key):
            for value, pk in queryset.values_list(key, "pk"):
                by_key[value].pk = pk
        for obj in objects:
            obj._state.adding, obj._state.db = False, "default"


def record(ledger: Ledger, entries: dict[str, tuple[int, str]], existing: dict[str, tuple[int, str]]) -> None:
    """Ledger.record in bulk: new keys appended as plain rows, changed ones in one bulk update."""
    now, job_id = timezone.now(), ledger.job.pk if ledger.job is not None else None
    insert_rows(
        ImportedRecord._meta.db_table,
        ["source", "entity", "natural_key", "content_hash", "object_id", "last_job_id", "updated_at"],
        [
            (ledger.source, ledger.entity, key, digest, object_id, job_id, now)
            for key, (object_id, digest) in entries.items()
            if key not in existing
        ],
    )
    changed = {k: v for k, v in entries.items() if k in existing and existing[k] != v}
    records = []
    for queryset in _among(
        ImportedRecord.objects.filter(source=ledger.source, entity=ledger.entity), "natural_key", changed
    ):
        for stored in queryset:
            stored.object_id, stored.content_hash = changed[stored.natural_key]
            stored.last_job = ledger.job
            records.append(stored)
    ImportedRecord.objects.bulk_update(records, ["object_id", "content_hash", "last_job"], batch_size=1000)


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
            if data.get("image_url"):
                urls.update((data["image_url"], data["image_url"][:1000]))
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
        for queryset in _among(Variant.objects.all(), "sku", skus):
            found.extend(queryset)
        for queryset in _among(Variant.objects.all(), "gtin", gtin_forms):
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
        for queryset in _among(listings, "variant_id", variant_ids):
            for listing in queryset:
                self.listings[("pk", listing.variant_id)] = listing

    def load_images(self, urls: set[str]) -> None:
        self.images: dict[tuple, ProductImage] = {}
        for queryset in _among(ProductImage.objects.order_by("product_id", "position", "id"), "url", urls):
            for image in queryset:
                self.images.setdefault((("pk", image.product_id), image.url), image)

    def load_slugs(self, titles: set[str]) -> None:
        bases = {slugify(t)[:150] or "product" for t in titles}
        self.slugs_checked = set(bases)
        self.slugs_taken: set[str] = set()
        for queryset in _among(Product.objects.all(), "slug", bases):
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
        return self.listings.get(_ref(variant))

    def add_listing(self, listing: ChannelListing) -> None:
        self.listings[_ref(listing.variant)] = listing
        self.new_listings.append(listing)

    def image(self, product: Product, url: str, *, alt: str = "", position: int = 0) -> ProductImage:
        """ProductImage get_or_create(product, url) against the batch."""
        key = (_ref(product), url)
        if key not in self.images:
            self.images[key] = ProductImage(product=product, url=url, alt=alt, position=position)
            self.new_images.append(self.images[key])
        return self.images[key]

    # -- writing ---------------------------------------------------------------------------------------
    def flush(self) -> None:
        target, now = self.target, timezone.now()
        dropped = {id(p) for p in self.emptied.values() if p.pk is None and not target.variant_count[id(p)]}
        for product in self.emptied.values():
            if id(product) in dropped:
                target.drop(product)
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
        ProductImage.objects.bulk_create(
            [i for i in self.new_images if id(i.product) not in dropped], batch_size=500
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


class ProductsTarget(Target):
    entity = "product_row"

    def __init__(self, *, profile, job) -> None:
        super().__init__(profile=profile, job=job)
        self.flavour = self.options.get("flavour", "generic")
        self.rows = Ledger(source=self.source, entity="row", job=job)
        self.product_ledger = Ledger(source=self.source, entity="product", job=job)
        self.products: dict[str, Product] = {}  # product key in this file -> product
        self.woo_ids: dict[str, str] = {}  # WooCommerce row ID -> product key
        self.magento_children: dict[str, tuple[str, dict]] = {}  # child sku -> (parent key, axis values)
        self.holding: dict[int, Product] = {}  # id(product) -> product waiting for its configurable
        self.variant_count: Counter = Counter()  # id(product) -> variants this job put under it
        self.categories: dict[tuple, Category] = {}
        self.category_paths: dict[str, Category] | None = None
        self.category_of_paths: dict[tuple, Category | None] = {}  # a row's category cell -> its category
        self.slug_bases: dict[str, str] = {}
        self.drop_category_roots = set(self.options.get("drop_category_roots", []))
        self.attribute_fields = list(self.options.get("attribute_fields", []))
        self.loaded: dict[int, Product] = {}  # pk -> the one Product object this job works on
        self.title_index: dict[str, list] | None = None  # normalised title -> [pk | Product], oldest first
        self.batch: Batch | None = None

    # -- per row ---------------------------------------------------------------------------------------
    def write(self, rows: list[Prepared]) -> list[Result]:
        keys = [self.row_key(row) for row in rows]
        digests = [content_hash(row.data) if key else "" for row, key in zip(rows, keys, strict=True)]
        existing = load_ledger(self.rows, [k for k in keys if k])
        live = [
            row
            for row, key, digest in zip(rows, keys, digests, strict=True)
            if key and not (key in existing and existing[key][1] == digest)
        ]
        self.batch = Batch(self, live, existing)  # unchanged rows need nothing from the database
        results, entries = [], {}
        for row, key, digest in zip(rows, keys, digests, strict=True):
            if key is None:
                results.append(Result(QUARANTINED, [self.no_key_reason()]))
                continue
            self.remember(row, key)
            if key in existing and existing[key][1] == digest:
                results.append(Result(UNCHANGED))
                continue
            try:
                outcome, obj = self.apply(row, key, update=key in existing)
            except RowRejected as exc:
                results.append(Result(QUARANTINED, [exc.reason]))
                continue
            except DomainError as exc:  # a catalog rule, checked before the row changes anything
                results.append(Result(QUARANTINED, [reason_of(exc)]))
                continue
            if key in existing:
                outcome = UPDATED
            entries[key] = (obj, digest)
            results.append(Result(outcome))
        self.batch.flush()
        self.batch = None
        record(self.rows, {key: (obj.pk, digest) for key, (obj, digest) in entries.items()}, existing)
        return results

    def no_key_reason(self) -> dict:
        return {"field": "sku", "code": "required", "message": "The row has neither a SKU nor a product key."}

    def row_key(self, row: Prepared) -> str | None:
        data = row.data
        if self.flavour == "shopify":
            handle = data.get("product_key")
            if not handle:
                return None
            if self.is_variant_row(row):
                return f"variant:{self.shopify_sku(row)}"
            return f"image:{handle}:{data.get('image_position') or data.get('image_url') or row.line}"
        if data.get("sku"):
            return f"variant:{data['sku']}" if self.is_variant_row(row) else f"product:{data['sku']}"
        if data.get("product_key"):
            return f"product:{data['product_key']}"
        return None

    def is_variant_row(self, row: Prepared) -> bool:
        data = row.data
        kind = (data.get("product_type") or "simple").lower()
        if self.flavour == "shopify":
            return bool(data.get("option1_value") or data.get("price") is not None or data.get("sku"))
        return kind not in ("variable", "configurable", "grouped", "bundle")

    def remember(self, row: Prepared, key: str) -> None:
        data = row.data
        if self.flavour == "woocommerce" and data.get("external_id"):
            self.woo_ids[f"id:{data['external_id']}"] = data.get("sku") or key
        if self.flavour == "magento":
            for child in data.get("variations") or []:
                if child.get("sku"):
                    axes = {k: v for k, v in child.items() if k != "sku"}
                    self.magento_children[child["sku"]] = (data["sku"], axes)

    # -- shopify helpers -----------------------------------------------------------------------------
    def shopify_sku(self, row: Prepared) -> str:
        data = row.data
        if data.get("sku"):
            return data["sku"]
        options = [data.get(f"option{i}_value") for i in (1, 2, 3)]
        options = [o for o in options if o and o != "Default Title"]
        return _short("-".join([data["product_key"], *(slugify(o) for o in options)]), 64)

    # -- products of this job ------------------------------------------------------------------------
    def load_products(self, pks: Iterable[int]) -> None:
        """Bring products into the job's identity map, one query per 2,000 not yet there."""
        missing = {pk for pk in pks if pk not in self.loaded}
        for queryset in _among(Product.objects.all(), "pk", missing):
            for product in queryset:
                self.loaded[product.pk] = product

    def product_by_pk(self, pk: int) -> Product | None:
        if pk not in self.loaded:
            self.load_products([pk])
        return self.loaded.get(pk)

    def load_title_candidates(self, titles: set[str]) -> None:
        """The products already in the catalog under the batch's normalised titles (the index of every
        product's normalised title is read once per job, the first time it is needed)."""
        if not titles:
            return
        if self.title_index is None:
            self.title_index = {}
            for pk, title in Product.objects.order_by("pk").values_list("pk", "title").iterator(5000):
                self.title_index.setdefault(normalise_title(title), []).append(pk)
        self.load_products(pk for t in titles for pk in self.title_index.get(t, ()) if isinstance(pk, int))

    def index_title(self, product: Product) -> None:
        if self.title_index is not None:
            self.title_index.setdefault(normalise_title(product.title), []).append(product)

    def drop(self, product: Product) -> None:
        """A holding product that gave all its variants to their configurable parent: it is gone."""
        product._dropped = True
        self.holding.pop(id(product), None)
        self.variant_count.pop(id(product), None)
        self.entity_counts["products_created"] -= 1
        for key in [k for k, p in self.products.items() if p is product]:
            del self.products[key]
        if product.pk is not None:
            self.loaded.pop(product.pk, None)

    # -- deciding each row -----------------------------------------------------------------------------
    def apply(self, row: Prepared, key: str, *, update: bool):
        data = row.data
        if key.startswith("image:"):
            product = self.product_for(row, create=False)
            if product is None or not data.get("image_url"):
                raise RowRejected("product_key", "unknown_product", "An image row before its product row.")
            image = self.batch.image(
                product,
                data["image_url"],
                alt=(data.get("image_alt") or "")[:300],
                position=data.get("image_position") or 0,
            )
            return IMPORTED, image
        if key.startswith("product:"):
            product, merged = self.upsert_product(data, key=data.get("sku") or data["product_key"])
            self.attach_waiting_children(product, data)
            return (MERGED if merged else IMPORTED), product
        return self.upsert_variant(row, key[len("variant:") :])

    def product_key_of(self, row: Prepared) -> str:
        data = row.data
        if self.flavour == "shopify":
            return data["product_key"]
        if self.flavour == "woocommerce" and data.get("parent"):
            return self.woo_ids.get(data["parent"], data["parent"])
        return data.get("product_key") or data.get("sku")

    def product_for(self, row: Prepared, *, create: bool) -> Product | None:
        key = self.product_key_of(row)
        if key in self.products:
            return self.products[key]
        known = self.batch.product_entry(key)
        product = self.product_by_pk(known[0]) if known else None
        if product is None and create:
            product, _ = self.upsert_product(row.data, key=key)
        if product is not None:
            self.products[key] = product
        return product

    def upsert_product(self, data: dict, *, key: str) -> tuple[Product, bool]:
        """Create or refresh a product; an existing product with the same normalised title and attributes
        (another channel's copy) is reused rather than duplicated."""
        batch = self.batch
        title = data.get("title") or key
        attributes = dict(data.get("attributes") or {})
        for extra in ("tags", "vendor_type", "grouped_skus"):
            if data.get(extra):
                attributes[extra] = data[extra]
        for name in self.attribute_fields:  # profile option: plain fields kept as product attributes
            if data.get(name) is not None:
                attributes[name] = data[name]
        fields = {
            "title": title[:500],
            "description": data.get("description") or "",
            "brand": (data.get("brand") or "")[:200],
            "attributes": attributes,
            "is_active": data.get("published", True) is not False,
        }
        category = self.category_for(data.get("categories"))
        if category is not None:
            fields["category"] = category
        product = self.products.get(key)
        merged = False
        known = batch.product_entry(key)
        if product is None:
            product = self.product_by_pk(known[0]) if known else None
        if product is None and self.options.get("match_titles", True):
            product = self.match_product(title, attributes)
            merged = product is not None
        if product is None:
            product = Product(slug=self.unique_slug(title, key), **fields)
            batch.create_product(product)
            self.index_title(product)
            self.entity_counts["products_created"] += 1
        else:
            retitled = normalise_title(fields["title"]) != normalise_title(product.title)
            for name, value in fields.items():
                if name == "attributes":
                    value = {**product.attributes, **value}
                setattr(product, name, value)
            batch.change_product(product)
            if retitled:
                self.index_title(product)
        self.products[key] = product
        if known is None or known[0] != product.pk:
            batch.product_entries[key] = (product, known)
        for position, url in enumerate(data.get("images") or []):
            batch.image(product, url[:1000], position=position)
        if data.get("image_url"):
            batch.image(
                product,
                data["image_url"][:1000],
                alt=(data.get("image_alt") or "")[:300],
                position=data.get("image_position") or 0,
            )
        return product, merged

    def match_product(self, title: str, attributes: dict) -> Product | None:
        wanted = normalise_title(title)
        if not wanted or self.title_index is None:
            return None
        for entry in self.title_index.get(wanted, ()):
            candidate = self.product_by_pk(entry) if isinstance(entry, int) else entry
            if candidate is None or getattr(candidate, "_dropped", False):
                continue
            if normalise_title(candidate.title) != wanted:
                continue
            shared = set(attributes) & set(candidate.attributes)
            if all(
                str(attributes[k]).lower() == str(candidate.attributes[k]).lower()
                for k in shared
                if k not in ("tags", "source")
            ):
                return candidate
        return None

    def unique_slug(self, title: str, key: str) -> str:
        base = self.slug_bases.get(title)
        if base is None:  # catalogues repeat titles (Complete Journey: 92k products, 2k titles)
            base = self.slug_bases[title] = slugify(title)[:150] or "product"
        slug = base
        if self.batch.slug_taken(slug):
            slug = f"{base}-{hashlib.blake2b(f'{self.source}:{key}'.encode(), digest_size=4).hexdigest()}"
        return slug

    def category_for(self, paths) -> Category | None:
        if not paths:
            return None
        key = tuple(tuple(p) if isinstance(p, list) else p for p in paths)
        if key not in self.category_of_paths:
            self.category_of_paths[key] = self.deepest_category(paths)
        return self.category_of_paths[key]

    def deepest_category(self, paths) -> Category | None:
        best = None
        for path in paths:
            levels = [
                p for p in (path if isinstance(path, list) else [path]) if p not in self.drop_category_roots
            ]
            if levels:
                node = self.ensure_category(tuple(levels))
                if best is None or len(levels) > len(best[0]):
                    best = (levels, node)
        return best[1] if best else None

    def ensure_category(self, levels: tuple) -> Category:
        if levels in self.categories:
            return self.categories[levels]
        if self.category_paths is None:  # the tree is small: read it once per job
            self.category_paths = {c.path: c for c in Category.objects.all()}
        parent = self.ensure_category(levels[:-1]) if len(levels) > 1 else None
        slug = slugify(levels[-1])[:100] or "category"
        path = f"{parent.path}/{slug}" if parent else slug
        node = self.category_paths.get(path)
        if node is None:
            node = Category.objects.create(parent=parent, name=levels[-1][:200], slug=slug, path=path)
            self.category_paths[path] = node
            self.entity_counts["categories_created"] += 1
        self.categories[levels] = node
        return node

    def upsert_variant(self, row: Prepared, sku: str):
        batch = self.batch
        data = row.data
        if self.flavour == "shopify":
            sku = self.shopify_sku(row)
        # The catalog's rules first, so a rejected row changes nothing.
        gtin = catalog.validate_gtin(data.get("gtin"))
        listing_values = self.listing_values(data)
        variant = batch.variant_by_sku(sku)
        holder = batch.variant_by_gtin(gtin) if gtin else None  # any GTIN length: one trade item
        merged = False
        if variant is None:
            variant = holder
        elif holder is not None and holder is not variant:
            raise catalog.DuplicateGtin(
                f"GTIN '{gtin}' is already used by variant '{holder.sku}'.", field="gtin", gtin=gtin
            )
        known = batch.existing.get(f"variant:{sku}")
        if variant is not None and not known:
            merged = True  # the same SKU/GTIN came from another channel or file: one variant
        axes = self.axes_of(row)
        fields = {
            "title": " / ".join(str(v) for v in axes.values())[:300],
            "attributes": axes,
            "weight_grams": data.get("weight_grams"),
        }
        if gtin and (variant is None or variant.gtin in (None, "", gtin)):
            fields["gtin"] = gtin
        if variant is None:
            product = self.parent_product(row)
            variant = Variant(product=product, sku=sku, **fields)
            batch.create_variant(variant)
            self.variant_count[id(product)] += 1
            self.entity_counts["variants_created"] += 1
        else:
            for name, value in fields.items():
                if value not in (None, "", {}):
                    setattr(variant, name, value)
            if variant.gtin and gtin:
                batch.add_variant(variant)
            batch.change_variant(variant, saved=True)
        self.listing(variant, listing_values)
        return (MERGED if merged else IMPORTED), variant

    def axes_of(self, row: Prepared) -> dict:
        data = row.data
        axes: dict = {}
        if self.flavour == "shopify":
            product_row = self.products.get(data["product_key"])
            names = (product_row.attributes.get("_options") if product_row else None) or []
            for i in (1, 2, 3):
                value = data.get(f"option{i}_value")
                name = data.get(f"option{i}_name") or (names[i - 1] if len(names) >= i else f"option{i}")
                if value and value != "Default Title":
                    axes[slugify(name) or f"option{i}"] = value
            return axes
        if self.flavour == "magento":
            parent = self.magento_children.get(data.get("sku"))
            if parent:
                return dict(parent[1])
            attributes = data.get("attributes") or {}
            return {k: attributes[k] for k in ("size", "color") if k in attributes}
        for i in (1, 2):
            name, value = data.get(f"attribute{i}_name"), data.get(f"attribute{i}_value")
            if name and value and self.flavour == "woocommerce" and data.get("product_type") == "variation":
                axes[slugify(name)] = value
        return axes

    def parent_product(self, row: Prepared) -> Product:
        data = row.data
        if self.flavour == "shopify":
            product = self.products.get(data["product_key"])
            if product is None:
                product = self.product_for(row, create=False)
            if product is None:
                if not data.get("title"):
                    raise RowRejected(
                        "product_key", "unknown_product", "A variant row before its product row."
                    )
                product, _ = self.upsert_product(self.shopify_product_data(data), key=data["product_key"])
            return product
        if self.flavour == "woocommerce" and (data.get("product_type") == "variation"):
            product = self.product_for(row, create=False)
            if product is None:
                raise RowRejected(
                    "parent", "unknown_parent", f"Parent {data.get('parent')} is not in the catalog."
                )
            return product
        if self.flavour == "magento" and data.get("sku") in self.magento_children:
            parent_key = self.magento_children[data["sku"]][0]
            if parent_key in self.products:
                return self.products[parent_key]
        product, _ = self.upsert_product(data, key=data.get("sku") or data["product_key"])
        if self.flavour == "magento" and data.get("visibility", "").lower().startswith("not visible"):
            self.holding[id(product)] = product
        return product

    def shopify_product_data(self, data: dict) -> dict:
        out = dict(data)
        names = [data.get(f"option{i}_name") for i in (1, 2, 3) if data.get(f"option{i}_name")]
        if names and names != ["Title"]:
            out["attributes"] = {**(data.get("attributes") or {}), "_options": names}
        return out

    def attach_waiting_children(self, product: Product, data: dict) -> None:
        """Magento: children imported before their configurable parent move under it now; a holding
        product left without variants is deleted when the batch is written."""
        batch = self.batch
        for sku in [c.get("sku") for c in data.get("variations") or [] if c.get("sku")]:
            variant = batch.variant_by_sku(sku)
            if variant is None:
                continue
            old = variant.product if variant.product_id is None else self.product_by_pk(variant.product_id)
            if old is product or (product.pk is not None and variant.product_id == product.pk):
                continue
            variant.product = product
            variant.attributes = {**variant.attributes, **self.magento_children[variant.sku][1]}
            batch.change_variant(variant, saved=False)
            self.variant_count[id(product)] += 1
            if old is not None:
                self.variant_count[id(old)] -= 1
                if id(old) in self.holding:
                    batch.emptied[_ref(old)] = old

    def listing_values(self, data: dict) -> dict | None:
        """The row's listing on the job's channel, checked by the catalog (`check_listing_terms`): in the
        channel's currency (a row `currency` field or the `currency` target option naming another is refused
        with `currency_mismatch`), amounts within the currency's minor unit and the column's range, no
        compare-at price below the price."""
        if self.channel is None or data.get("price") is None:
            return None
        price, compare = data["price"], data.get("compare_at_price")
        if data.get("sale_price") is not None:
            compare, price = price, data["sale_price"]
        listing = catalog.check_listing_terms(
            channel=self.channel,
            price=price,
            compare_at_price=compare or None,
            currency=data.get("currency") or self.options.get("currency"),
        )
        price, compare, currency = listing.price, listing.compare_at_price, listing.currency
        return {
            "price": price,
            "compare_at_price": compare if compare and compare > price else None,
            "currency": currency,
            "is_published": data.get("published", True) is not False,
        }

    def listing(self, variant: Variant, values: dict | None) -> None:
        if values is None:
            return
        listing = self.batch.listing_of(variant)
        if listing is None:
            listing = ChannelListing(channel=self.channel, variant=variant, **values)
            if values["is_published"]:
                listing.published_at = timezone.now()
            self.batch.add_listing(listing)
            self.entity_counts["listings_created"] += 1
            return
        for name, value in values.items():
            setattr(listing, name, value)
        if listing.pk is not None:
            self.batch.changed_listings[listing.pk] = listing

    def finish(self) -> int:
        if self.flavour == "shopify":
            # Shopify lists option names only on a product's first row: name the axes of its variants.
            named = {
                p.pk: p.attributes["_options"] for p in self.products.values() if p.attributes.get("_options")
            }
            renamed_variants = []
            for chunk in _chunks(named):
                for variant in Variant.objects.filter(product_id__in=chunk):
                    names = named[variant.product_id]
                    renamed = {}
                    for index, (axis, value) in enumerate(variant.attributes.items()):
                        real = slugify(names[index]) if index < len(names) else axis
                        renamed[real] = value
                    if renamed != variant.attributes:
                        variant.attributes = renamed
                        renamed_variants.append(variant)
            Variant.objects.bulk_update(renamed_variants, ["attributes"], batch_size=500)
        return 0


def reason_of(exc: DomainError) -> dict:
    """A catalog DomainError as a quarantine reason: the catalog's field, code and message."""
    return {"field": exc.field, "code": exc.code, "message": exc.message}


class RowRejected(Exception):
    def __init__(self, field: str, code: str, message: str) -> None:
        self.reason = {"field": field, "code": code, "message": message}
        super().__init__(message)


class SuppliersTarget(Target):
    """Suppliers (marketplace sellers, vendors) by their code, in bulk; re-imports update in place."""

    entity = "supplier"
    FIELDS = ("name", "email", "phone", "country", "city", "postcode", "currency")

    def write(self, rows: list[Prepared]) -> list[Result]:
        ledger = Ledger(source=self.source, entity="supplier", job=self.job)
        codes = [row.data["code"][:50] for row in rows]
        existing = ledger.load(codes)
        by_code = {}
        for chunk in _chunks(set(codes)):
            by_code.update((s.code, s) for s in Supplier.objects.filter(code__in=chunk))
        results: list[Result] = []
        entries: dict[str, tuple[int, str]] = {}
        new: dict[str, Supplier] = {}
        changed: dict[str, Supplier] = {}
        for row, code in zip(rows, codes, strict=True):
            data = row.data
            digest = content_hash(data)
            if (code in existing and existing[code][1] == digest) or code in new or code in changed:
                results.append(Result(UNCHANGED))
                continue
            try:
                values = self.checked(data, code)
            except DomainError as exc:
                results.append(Result(QUARANTINED, [reason_of(exc)]))
                continue
            supplier = by_code.get(code)
            if supplier is None:
                new[code] = Supplier(code=code, **values)
                outcome = IMPORTED
            else:
                for name, value in values.items():
                    setattr(supplier, name, value)
                changed[code] = supplier
                outcome = UPDATED if code in existing else MERGED
            entries[code] = (0, digest)
            results.append(Result(outcome))
        Supplier.objects.bulk_create(list(new.values()), batch_size=1000)
        Supplier.objects.bulk_update(list(changed.values()), list(self.FIELDS), batch_size=500)
        for code, supplier in {**new, **changed}.items():
            entries[code] = (supplier.pk, entries[code][1])
        record(ledger, entries, existing)
        self.entity_counts["suppliers_created"] += len(new)
        return results

    def checked(self, data: dict, code: str) -> dict:
        """The supplier's fields through the catalog's checks: e-mail, country, phone (E.164, read in the
        supplier's country) and currency, normalised as the catalog stores them."""
        country = catalog.validate_country(data.get("country") or "")
        return {
            "name": (data.get("name") or code)[:200],
            "email": catalog.normalise_email(data.get("email") or ""),
            "phone": catalog.normalise_phone(data.get("phone") or "", region=country or None),
            "country": country,
            "city": (data.get("city") or "")[:200],
            "postcode": (data.get("postcode") or "")[:20],
            "currency": validate_currency(data.get("currency") or self.options.get("currency", "GBP")),
        }


class SupplierOffersTarget(Target):
    """What a supplier charges for a variant: (supplier code, SKU) → cost, currency, lead time, MOQ, pack.

    Rows are decided in file order against the batch's offers (every offer of the batch's variants is
    loaded, so a preferred row unsets its variant's other preferred offer in memory), then written at once
    by the catalog's `save_offers`, which applies the one-preferred-offer rule in the database too."""

    entity = "supplier_offer"

    def write(self, rows: list[Prepared]) -> list[Result]:
        suppliers, variants = {}, {}
        for chunk in _chunks({r.data["supplier"] for r in rows}):
            suppliers.update((s.code, s) for s in Supplier.objects.filter(code__in=chunk))
        for chunk in _chunks({r.data["sku"] for r in rows}):
            variants.update((v.sku, v) for v in Variant.objects.filter(sku__in=chunk))
        ledger = Ledger(source=self.source, entity="supplier_offer", job=self.job)
        keys = [f"{r.data['supplier']}:{r.data['sku']}" for r in rows]
        existing = ledger.load(keys)
        offers: dict[tuple[int, int], SupplierOffer] = {}
        of_variant: dict[int, list[SupplierOffer]] = {}
        for chunk in _chunks([v.pk for v in variants.values()]):
            for offer in SupplierOffer.objects.filter(variant_id__in=chunk):
                offers[(offer.supplier_id, offer.variant_id)] = offer
                of_variant.setdefault(offer.variant_id, []).append(offer)
        results, entries, touched = [], {}, {}
        for row, key in zip(rows, keys, strict=True):
            data = row.data
            supplier, variant = suppliers.get(data["supplier"]), variants.get(data["sku"])
            reasons = []
            if supplier is None:
                reasons.append(
                    {
                        "field": "supplier",
                        "code": "unknown_supplier",
                        "message": f"No supplier {data['supplier']}.",
                    }
                )
            if variant is None:
                reasons.append(
                    {"field": "sku", "code": "unknown_sku", "message": f"No variant with SKU {data['sku']}."}
                )
            if reasons:
                results.append(Result(QUARANTINED, reasons))
                continue
            digest = content_hash(data)
            if key in existing and existing[key][1] == digest:
                results.append(Result(UNCHANGED))
                continue
            try:  # the catalog's checks, before the offer changes
                cost = catalog.parse_cost(data["cost"])
                currency = validate_currency(data.get("currency") or supplier.currency)
            except DomainError as exc:
                results.append(Result(QUARANTINED, [reason_of(exc)]))
                continue
            offer = offers.get((supplier.pk, variant.pk))
            created = offer is None
            if created:
                offer = SupplierOffer(supplier=supplier, variant=variant)
                offers[(supplier.pk, variant.pk)] = offer
                of_variant.setdefault(variant.pk, []).append(offer)
            offer.cost, offer.currency = cost, currency
            offer.supplier_sku = (data.get("supplier_sku") or "")[:100]
            offer.lead_time_days = data.get("lead_time_days") or supplier.default_lead_time_days
            offer.min_order_quantity = data.get("min_order_quantity") or 1
            offer.pack_size = data.get("pack_size") or 1
            if data.get("is_preferred") is not None:
                offer.is_preferred = bool(data["is_preferred"])
            if offer.is_preferred:  # save_offer's rule: the variant's other preferred offer steps down
                for other in of_variant[variant.pk]:
                    if other is not offer:
                        other.is_preferred = False
            touched[id(offer)] = offer
            entries[key] = (offer, digest)
            results.append(Result(IMPORTED if created else UPDATED if key in existing else MERGED))
        catalog.save_offers(offers=list(touched.values()))
        record(ledger, {k: (o.pk, d) for k, (o, d) in entries.items()}, existing)
        return results


__all__ = ["ProductsTarget", "SupplierOffersTarget", "SuppliersTarget", "normalise_title", "record"]
