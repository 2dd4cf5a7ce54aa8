"""Products target: products and variants from channel product exports (Shopify, WooCommerce, Magento 2).

Product rows are matched across channels before anything is created: a variant by the SKU map or a
remembered SKU alias of the channel, its SKU, its GTIN, then by its option values inside the product it
lands on (`variant_match`); a new product key against the catalog with a score (`product_match`): another
source's product is only filled where it lacks a value, a doubtful or conflicting match goes to the review
queue. A row that lands on an existing object from another source counts as `merged`. Each row's content
hash sits in the ledger, so re-importing a file is a no-op.

Flavours (profile option `flavour`) differ only in how rows group into products:
- shopify: rows share a Handle; the row with a Title carries the product, others add variants or images.
- woocommerce: Type simple/variable/variation/grouped/external; variations name their Parent.
- magento: configurable rows list their children in configurable_variations; children usually come
  first, so they wait under a holding product and move to their parent when it arrives.


Writes are per batch, not per row: see `product_batch.Batch`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

from django.utils import timezone
from django.utils.text import slugify

from omnishop.catalog import services as catalog
from omnishop.catalog.models import Category, ChannelListing, Product, Variant
from omnishop.core.errors import DomainError

from .base import (
    IMPORTED,
    MERGED,
    QUARANTINED,
    UNCHANGED,
    UPDATED,
    Ledger,
    Prepared,
    Result,
    Target,
    content_hash,
)
from .catalog_common import among, chunks, load_ledger, normalise_title, reason_of, record
from .product_batch import Batch, ref_of
from .product_match import Decision, ProductMatching
from .variant_match import OPTION_VALUES, SKU_MAP, VariantMatcher


def _short(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    digest = hashlib.blake2b(value.encode(), digest_size=4).hexdigest()
    return f"{value[: limit - 9]}-{digest}"


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
        self.parent_weights: dict[str, int] = {}  # WooCommerce "id:NN" or SKU -> the row's weight in grams
        self.matching = ProductMatching(self)  # cross-channel product matching, merges and review queue
        self.matcher = VariantMatcher(self)  # SKU map, SKU aliases, option-value matching of variants

    # -- per row ---------------------------------------------------------------------------------------
    def write(self, rows: list[Prepared]) -> list[Result]:
        self.inherit_from_parents(rows)
        keys = [self.row_key(row) for row in rows]
        digests = [content_hash(row.data) if key else "" for row, key in zip(rows, keys, strict=True)]
        existing = load_ledger(self.rows, [k for k in keys if k])
        live = [
            row
            for row, key, digest in zip(rows, keys, digests, strict=True)
            if key and not (key in existing and existing[key][1] == digest)
        ]
        self.batch = Batch(self, live, existing)  # unchanged rows need nothing from the database
        self.matching.start_batch(live)
        self.matcher.prepare(
            self.batch, {k[len("variant:") :] for k in keys if k and k.startswith("variant:")}
        )
        results, entries = [], {}
        for row, key, digest in zip(rows, keys, digests, strict=True):
            if key is None:
                results.append(Result(QUARANTINED, [self.no_key_reason()]))
                continue
            self.remember(row, key)
            if key in existing and existing[key][1] == digest:
                results.append(Result(UNCHANGED))
                continue
            self.matching.start_row()
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
            self.queued += self.matching.row_queued
        self.batch.flush()
        self.matching.after_flush(self.batch)
        self.matcher.flush(self.batch)
        self.batch = None
        record(self.rows, {key: (obj.pk, digest) for key, (obj, digest) in entries.items()}, existing)
        return results

    def inherit_from_parents(self, rows: list[Prepared]) -> None:
        """WooCommerce: a variation whose weight cell is empty weighs what its parent (a row earlier in the
        file) weighs. Filled in before the row's content hash, so a parent's new weight reaches them."""
        if self.flavour != "woocommerce":
            return
        for row in rows:
            data = row.data
            if data.get("product_type") == "variation":
                if data.get("weight_grams") is None and data.get("parent") in self.parent_weights:
                    data["weight_grams"] = self.parent_weights[data["parent"]]
            elif data.get("weight_grams") is not None:
                for name in ("external_id", "sku"):
                    if data.get(name):
                        ref = f"id:{data[name]}" if name == "external_id" else data[name]
                        self.parent_weights[ref] = data["weight_grams"]

    def no_key_reason(self) -> dict:
        return {"field": "sku", "code": "required", "message": "The row has neither a SKU nor a product key."}

    def quarantine_key(self, data: dict) -> str:
        if data.get("sku"):
            return f"sku:{data['sku']}"
        return f"product:{data['product_key']}" if data.get("product_key") else ""

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
        for queryset in among(Product.objects.all(), "pk", missing):
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
            return IMPORTED, self.shopify_image(product, data)
        if key.startswith("product:"):
            product, merged = self.upsert_product(data, key=data.get("sku") or data["product_key"])
            self.attach_waiting_children(product, data)
            return (MERGED if merged else IMPORTED), product
        outcome, variant = self.upsert_variant(row, key[len("variant:") :])
        outcome = self.matching.outcome(outcome)  # its product was matched into another channel's
        if self.flavour == "shopify" and (data.get("image_url") or data.get("variant_image")):
            # A variant row may carry one of the product's images and the variant's own image.
            product = (
                self.product_by_pk(variant.product_id) if variant.product_id else None
            ) or variant.product
            if data.get("image_url"):
                self.shopify_image(product, data)
            if data.get("variant_image"):
                self.batch.link_image(variant, product, data["variant_image"][:1000])
        return outcome, variant

    def shopify_image(self, product: Product, data: dict):
        """The row's `Image Src` on its product, at its `Image Position` with its alt text."""
        return self.batch.image(
            product,
            data["image_url"][:1000],
            alt=(data.get("image_alt") or "")[:300],
            position=data.get("image_position"),
            refresh=True,
        )

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
        if self.flavour == "woocommerce":
            attributes.update(self.woocommerce_attributes(data))
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
        decision = None
        if product is None and self.options.get("match_titles", True):
            decision = self.match_product(title, attributes, fields=fields, data=data, key=key)
            product = decision.product
            merged = product is not None
        if product is None:
            product = Product(slug=self.unique_slug(title, key), **fields)
            batch.create_product(product)
            self.index_title(product)
            self.entity_counts["products_created"] += 1
            if decision is not None and decision.review:  # looks like another channel's: staff decide
                self.matching.queue(decision.review, product)
        elif decision is not None and decision.match is not None:
            self.matching.merge(product, decision.match, fields)  # another channel's: fill what it lacks
        elif self.matching.merged_into(product):
            self.matching.refill(product, fields)  # this source merged into it: it does not own it
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
        if self.flavour == "woocommerce" and data.get("external_id"):
            # WooCommerce names a variation's parent by its post id ("id:NN"): the ledger keeps that name
            # too, so a variation imported by a later job (or file) still finds its product.
            alias = f"id:{data['external_id']}"
            aliased = batch.product_entry(alias) if alias != key else None
            if alias != key and (aliased is None or aliased[0] != product.pk):
                batch.product_entries[alias] = (product, aliased)
        for position, url in enumerate(data.get("images") or []):
            batch.image(product, url[:1000], position=position)
        if data.get("image_url"):
            self.shopify_image(product, data)
        return product, merged

    def woocommerce_attributes(self, data: dict) -> dict:
        """What a WooCommerce row says about its product beyond the catalog's columns: a simple or external
        product's attributes (`Color: Gray`; several values as a list — a variable product's are its
        variants' axes instead) and a downloadable product's files."""
        out: dict = {}
        if data.get("product_type") not in ("variable", "variation"):
            for i in (1, 2):
                name, value = data.get(f"attribute{i}_name"), data.get(f"attribute{i}_value")
                if name and value:
                    values = [v.strip() for v in str(value).split(", ") if v.strip()]
                    out[slugify(name) or f"attribute{i}"] = values[0] if len(values) == 1 else values
        downloads = [
            {"name": data.get(f"download{i}_name") or "", "url": data[f"download{i}_url"]}
            for i in (1, 2)
            if data.get(f"download{i}_url")
        ]
        if downloads:
            out["downloads"] = downloads
        return out

    def match_product(self, title: str, attributes: dict, *, fields: dict, data: dict, key: str) -> Decision:
        """A new product key against the catalog (see `product_match`): the source's own product with this
        title, another channel's product to merge into (score and no conflict), or none — with the
        candidates to queue for review."""
        return self.matching.decide(
            fields={**fields, "title": title}, attributes=attributes, data=data, key=key
        )

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
        batch, matcher = self.batch, self.matcher
        data = row.data
        if self.flavour == "shopify":
            sku = self.shopify_sku(row)
        # The catalog's rules first, so a rejected row changes nothing.
        gtin = catalog.validate_gtin(data.get("gtin"))
        listing_values = self.listing_values(data)
        variant, how = matcher.known(sku, batch)  # the SKU map, then an alias the channel's SKU has
        if how == SKU_MAP and variant is None:
            raise RowRejected(
                "sku",
                "unknown_mapped_sku",
                f"The SKU map sends {sku} to {matcher.sku_map[sku]}, which is not in the catalogue.",
            )
        if variant is None:
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
        product = None
        if variant is None:
            product = self.parent_product(row)
            variant = matcher.by_options(product, axes, sku=sku, gtin=gtin, line=row.line, batch=batch)
            if variant is not None:
                how, merged = OPTION_VALUES, not known
        fields = {
            "title": " / ".join(str(v) for v in axes.values())[:300],
            "attributes": axes,
            "weight_grams": data.get("weight_grams"),
        }
        if gtin and (variant is None or variant.gtin in (None, "", gtin)):
            fields["gtin"] = gtin
        if variant is None:
            assert product is not None
            variant = Variant(product=product, sku=sku, **fields)
            batch.create_variant(variant)
            self.variant_count[id(product)] += 1
            self.entity_counts["variants_created"] += 1
        elif how:
            # Another channel's variant under another SKU: the row adds its listing and fills what the
            # variant lacks; the variant's own title and options stay.
            missing = {
                name: fields[name]
                for name in ("weight_grams", "gtin")
                if fields.get(name) not in (None, "") and getattr(variant, name) in (None, "")
            }
            filled = {name: {"before": getattr(variant, name), "after": v} for name, v in missing.items()}
            self.matching.landed(sku=sku, variant=variant, how=how, fields=fields, filled=filled)
            for name, value in missing.items():
                setattr(variant, name, value)
            if missing:
                if variant.gtin:
                    batch.add_variant(variant)
                batch.change_variant(variant, saved=True)
            matcher.landed(sku, variant, how, line=row.line)
        else:
            for name, value in fields.items():
                if value not in (None, "", {}):
                    setattr(variant, name, value)
            if variant.gtin and gtin:
                batch.add_variant(variant)
            batch.change_variant(variant, saved=True)
        matcher.claim(variant)
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
        if self.flavour != "woocommerce" or data.get("product_type") != "variation":
            return axes
        for i in (1, 2):
            name, value = data.get(f"attribute{i}_name"), data.get(f"attribute{i}_value")
            if name and value:
                axes[slugify(name)] = value
        # WordPress export: every `attribute_*` meta of a variation, global (`attribute_pa_color`) or custom
        # (`attribute_logo`), is an axis named without `pa_`; the two slots above keep their order first.
        for name, value in (data.get("variation_attributes") or {}).items():
            axis = slugify(str(name).removeprefix("pa_"))
            if axis and value not in (None, "") and axis not in axes:
                axes[axis] = value
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
                    batch.emptied[ref_of(old)] = old

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

    def report(self) -> dict:
        return self.matcher.report()

    def finish(self) -> int:
        if self.flavour == "shopify":
            # Shopify lists option names only on a product's first row: name the axes of its variants.
            named = {
                p.pk: p.attributes["_options"] for p in self.products.values() if p.attributes.get("_options")
            }
            renamed_variants = []
            for chunk in chunks(named):
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


class RowRejected(Exception):
    def __init__(self, field: str, code: str, message: str) -> None:
        self.reason = {"field": field, "code": code, "message": message}
        super().__init__(message)


__all__ = ["ProductsTarget"]
