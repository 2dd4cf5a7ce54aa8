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
"""

from __future__ import annotations

import hashlib
import unicodedata
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

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
from omnishop.core.errors import DomainError
from omnishop.core.money import CurrencyMismatch, parse_amount, validate_currency

from ..engine import IMPORTED, MERGED, QUARANTINED, UNCHANGED, UPDATED, Prepared, Result, content_hash
from .base import Ledger, Target


def normalise_title(title: str) -> str:
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in folded).split())


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
        self.holding: set[int] = set()
        self.categories: dict[tuple, Category] = {}
        self.drop_category_roots = set(self.options.get("drop_category_roots", []))

    # -- per row ---------------------------------------------------------------------------------------
    def write(self, rows: list[Prepared]) -> list[Result]:
        keys = [self.row_key(row) for row in rows]
        existing = self.rows.load([k for k in keys if k])
        results, entries = [], {}
        for row, key in zip(rows, keys, strict=True):
            if key is None:
                results.append(Result(QUARANTINED, [self.no_key_reason()]))
                continue
            digest = content_hash(row.data)
            self.remember(row, key)
            if key in existing and existing[key][1] == digest:
                results.append(Result(UNCHANGED))
                continue
            try:
                outcome, object_id = self.apply(row, key, update=key in existing)
            except RowRejected as exc:
                results.append(Result(QUARANTINED, [exc.reason]))
                continue
            except DomainError as exc:  # a catalog rule, checked before the row writes anything
                results.append(Result(QUARANTINED, [reason_of(exc)]))
                continue
            if key in existing:
                outcome = UPDATED
            entries[key] = (object_id, digest)
            results.append(Result(outcome))
        self.rows.record(entries, existing)
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

    # -- writing ---------------------------------------------------------------------------------------
    def apply(self, row: Prepared, key: str, *, update: bool) -> tuple[str, int]:
        data = row.data
        if key.startswith("image:"):
            product = self.product_for(row, create=False)
            if product is None or not data.get("image_url"):
                raise RowRejected("product_key", "unknown_product", "An image row before its product row.")
            image, _ = ProductImage.objects.get_or_create(
                product=product,
                url=data["image_url"],
                defaults={
                    "alt": (data.get("image_alt") or "")[:300],
                    "position": data.get("image_position") or 0,
                },
            )
            return IMPORTED, image.pk
        if key.startswith("product:"):
            product, merged = self.upsert_product(data, key=data.get("sku") or data["product_key"])
            self.attach_waiting_children(product, data)
            return (MERGED if merged else IMPORTED), product.pk
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
        object_id = self.product_ledger.load([key]).get(key)
        product = Product.objects.filter(pk=object_id[0]).first() if object_id else None
        if product is None and create:
            product, _ = self.upsert_product(row.data, key=key)
        if product is not None:
            self.products[key] = product
        return product

    def upsert_product(self, data: dict, *, key: str) -> tuple[Product, bool]:
        """Create or refresh a product; an existing product with the same normalised title and attributes
        (another channel's copy) is reused rather than duplicated."""
        title = data.get("title") or key
        attributes = dict(data.get("attributes") or {})
        for extra in ("tags", "vendor_type", "grouped_skus"):
            if data.get(extra):
                attributes[extra] = data[extra]
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
        known = self.product_ledger.load([key]).get(key)
        if product is None:
            product = Product.objects.filter(pk=known[0]).first() if known else None
        if product is None and self.options.get("match_titles", True):
            product = self.match_product(title, attributes)
            merged = product is not None
        if product is None:
            product = Product.objects.create(slug=self.unique_slug(title, key), **fields)
            self.entity_counts["products_created"] += 1
        else:
            for name, value in fields.items():
                if name == "attributes":
                    value = {**product.attributes, **value}
                setattr(product, name, value)
            product.save()
        self.products[key] = product
        if known is None or known[0] != product.pk:
            self.product_ledger.record({key: (product.pk, "")}, {key: known} if known else {})
        for position, url in enumerate(data.get("images") or []):
            ProductImage.objects.get_or_create(
                product=product, url=url[:1000], defaults={"position": position}
            )
        if data.get("image_url"):
            ProductImage.objects.get_or_create(
                product=product,
                url=data["image_url"][:1000],
                defaults={
                    "alt": (data.get("image_alt") or "")[:300],
                    "position": data.get("image_position") or 0,
                },
            )
        return product, merged

    def match_product(self, title: str, attributes: dict) -> Product | None:
        wanted = normalise_title(title)
        if not wanted:
            return None
        first_word = wanted.split()[0]
        for candidate in Product.objects.filter(title__icontains=first_word).only(
            "id", "title", "attributes"
        )[:200]:
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
        base = slugify(title)[:150] or "product"
        slug = base
        if Product.objects.filter(slug=slug).exists():
            slug = f"{base}-{hashlib.blake2b(f'{self.source}:{key}'.encode(), digest_size=4).hexdigest()}"
        return slug

    def category_for(self, paths) -> Category | None:
        if not paths:
            return None
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
        parent = self.ensure_category(levels[:-1]) if len(levels) > 1 else None
        slug = slugify(levels[-1])[:100] or "category"
        path = f"{parent.path}/{slug}" if parent else slug
        node = Category.objects.filter(path=path).first()
        if node is None:
            node = Category.objects.create(parent=parent, name=levels[-1][:200], slug=slug, path=path)
            self.entity_counts["categories_created"] += 1
        self.categories[levels] = node
        return node

    def upsert_variant(self, row: Prepared, sku: str) -> tuple[str, int]:
        data = row.data
        if self.flavour == "shopify":
            sku = self.shopify_sku(row)
        # The catalog's rules first, so a rejected row writes nothing.
        gtin = catalog.validate_gtin(data.get("gtin"))
        listing_values = self.listing_values(data)
        variant = Variant.objects.filter(sku=sku).select_related("product").first()
        holder = catalog.find_variant_by_gtin(gtin) if gtin else None  # any GTIN length: one trade item
        merged = False
        if variant is None:
            variant = holder
        elif holder is not None and holder.pk != variant.pk:
            raise catalog.DuplicateGtin(
                f"GTIN '{gtin}' is already used by variant '{holder.sku}'.", field="gtin", gtin=gtin
            )
        known = self.rows.load([f"variant:{sku}"]).get(f"variant:{sku}")
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
            variant = Variant.objects.create(product=product, sku=sku, **fields)
            self.entity_counts["variants_created"] += 1
        else:
            for name, value in fields.items():
                if value not in (None, "", {}):
                    setattr(variant, name, value)
            variant.save()
        self.listing(variant, listing_values)
        return (MERGED if merged else IMPORTED), variant.pk

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
            self.holding.add(product.pk)
        return product

    def shopify_product_data(self, data: dict) -> dict:
        out = dict(data)
        names = [data.get(f"option{i}_name") for i in (1, 2, 3) if data.get(f"option{i}_name")]
        if names and names != ["Title"]:
            out["attributes"] = {**(data.get("attributes") or {}), "_options": names}
        return out

    def attach_waiting_children(self, product: Product, data: dict) -> None:
        """Magento: children imported before their configurable parent move under it now."""
        children = [c.get("sku") for c in data.get("variations") or [] if c.get("sku")]
        if not children:
            return
        variants = list(Variant.objects.filter(sku__in=children).exclude(product=product))
        old_products = {v.product_id for v in variants}
        for variant in variants:
            variant.product = product
            variant.attributes = {**variant.attributes, **self.magento_children[variant.sku][1]}
        Variant.objects.bulk_update(variants, ["product", "attributes"])
        empty = [
            pk
            for pk in old_products
            if pk in self.holding and not Variant.objects.filter(product_id=pk).exists()
        ]
        Product.objects.filter(pk__in=empty).delete()
        self.holding -= set(empty)
        self.entity_counts["products_created"] -= len(empty)

    def listing_values(self, data: dict) -> dict | None:
        """The row's listing on the job's channel, checked as the catalog checks listings: in the channel's
        currency (a row `currency` field or the `currency` target option naming another is refused with
        `currency_mismatch`), amounts within the currency's minor unit, no compare-at price below the price."""
        if self.channel is None or data.get("price") is None:
            return None
        currency = self.channel.currency
        given = data.get("currency") or self.options.get("currency")
        if given and validate_currency(given) != currency:
            raise CurrencyMismatch(
                f"Channel '{self.channel.code}' sells in {currency}; this listing is in {given}.",
                field="currency",
                expected=currency,
                got=given,
            )
        price, compare = data["price"], data.get("compare_at_price")
        if data.get("sale_price") is not None:
            compare, price = price, data["sale_price"]
        price = parse_amount(price, currency, field="price")
        compare = parse_amount(compare, currency, field="compare_at_price") if compare else None
        if compare is not None and compare < price:
            raise RowRejected(
                "compare_at_price",
                "invalid_compare_at_price",
                "The compare-at ('was') price must not be below the price.",
            )
        return {
            "price": price,
            "compare_at_price": compare if compare and compare > price else None,
            "currency": currency,
            "is_published": data.get("published", True) is not False,
        }

    def listing(self, variant: Variant, values: dict | None) -> None:
        if values is None:
            return
        listing, created = ChannelListing.objects.get_or_create(
            channel=self.channel, variant=variant, defaults=values
        )
        if created:
            if values["is_published"]:
                ChannelListing.objects.filter(pk=listing.pk).update(published_at=timezone.now())
            self.entity_counts["listings_created"] += 1
            return
        for name, value in values.items():
            setattr(listing, name, value)
        listing.save()

    def finish(self) -> int:
        if self.flavour == "shopify":
            # Shopify lists option names only on a product's first row: name the axes of its variants.
            for _key, product in self.products.items():
                names = product.attributes.get("_options")
                if not names:
                    continue
                for variant in Variant.objects.filter(product=product):
                    renamed = {}
                    for index, (axis, value) in enumerate(variant.attributes.items()):
                        real = slugify(names[index]) if index < len(names) else axis
                        renamed[real] = value
                    if renamed != variant.attributes:
                        variant.attributes = renamed
                        variant.save(update_fields=["attributes"])
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
        by_code = {s.code: s for s in Supplier.objects.filter(code__in=codes)}
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
        ledger.record(entries, existing)
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
    """What a supplier charges for a variant: (supplier code, SKU) → cost, currency, lead time, MOQ, pack."""

    entity = "supplier_offer"

    def write(self, rows: list[Prepared]) -> list[Result]:
        suppliers = {s.code: s for s in Supplier.objects.filter(code__in={r.data["supplier"] for r in rows})}
        variants = {v.sku: v for v in Variant.objects.filter(sku__in={r.data["sku"] for r in rows})}
        ledger = Ledger(source=self.source, entity="supplier_offer", job=self.job)
        keys = [f"{r.data['supplier']}:{r.data['sku']}" for r in rows]
        existing = ledger.load(keys)
        offers = {
            (o.supplier_id, o.variant_id): o
            for o in SupplierOffer.objects.filter(
                supplier__in=suppliers.values(), variant__in=variants.values()
            ).select_related("supplier", "variant")
        }
        results, entries = [], {}
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
            offer = offers.get((supplier.pk, variant.pk)) or SupplierOffer(supplier=supplier, variant=variant)
            created = offer.pk is None
            try:
                offer.cost = catalog.parse_cost(data["cost"])
                offer.currency = validate_currency(data.get("currency") or supplier.currency)
                offer.supplier_sku = (data.get("supplier_sku") or "")[:100]
                offer.lead_time_days = data.get("lead_time_days") or supplier.default_lead_time_days
                offer.min_order_quantity = data.get("min_order_quantity") or 1
                offer.pack_size = data.get("pack_size") or 1
                if data.get("is_preferred") is not None:
                    offer.is_preferred = bool(data["is_preferred"])
                # The catalog's save: a preferred offer unsets the variant's other one, under a variant lock.
                catalog.save_offer(offer=offer)
            except DomainError as exc:
                if offer.pk is not None:
                    offer.refresh_from_db()  # back to its stored fields for a later row of this file
                results.append(Result(QUARANTINED, [reason_of(exc)]))
                continue
            offers[(supplier.pk, variant.pk)] = offer
            entries[key] = (offer.pk, digest)
            results.append(Result(IMPORTED if created else UPDATED if key in existing else MERGED))
        ledger.record(entries, existing)
        return results


__all__ = ["Decimal", "ProductsTarget", "Q", "SupplierOffersTarget", "SuppliersTarget", "normalise_title"]
