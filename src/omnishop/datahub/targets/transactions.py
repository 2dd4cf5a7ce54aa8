"""Transaction lines (Online Retail invoice lines, CDNOW purchases) into the staging table, plus what
already has a home: the customers they belong to (customers context, by the channel's customer id) and
the products/variants their stock codes name (catalog).

Orders do not exist yet; the staging table is the contract with the orders context (docs/datahub.md).
A line's natural key is (document, position of the line within the document in the file), so exact
duplicate lines — real repeat purchases or double entries, indistinguishable — are kept, and the same file
imported again (CSV or its XLSX twin) maps every line onto itself.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from decimal import Decimal
from functools import lru_cache

from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.text import slugify

from omnishop.catalog.models import Product, Variant

from ..bulk import existing_hashes, insert_rows
from ..engine import IMPORTED, QUARANTINED, UNCHANGED, UPDATED, Prepared, Result
from ..models import StagedDocument, StagedTransactionLine
from .base import Target
from .history import OrderHistory

Kind = StagedTransactionLine.Kind
_HAS_UPPER = re.compile(r"[A-Z]")
_HAS_LOWER = re.compile(r"[a-z]")


class TransactionsTarget(Target):
    entity = "transaction_line"

    def __init__(self, *, profile, job) -> None:
        super().__init__(profile=profile, job=job)
        options = self.options
        self.currency = options.get("currency", "GBP")
        self.cancellation_prefixes = tuple(options.get("cancellation_prefixes", ["C"]))
        self.adjustment_prefixes = tuple(options.get("adjustment_prefixes", ["A"]))
        self.non_product_skus = {s.upper() for s in options.get("non_product_skus", [])}
        patterns = options.get("non_product_patterns", [])
        self.non_product_pattern = (
            re.compile("|".join(f"(?:{p})" for p in patterns), re.I) if patterns else None
        )
        self.is_product_sku = lru_cache(maxsize=65536)(self._is_product_sku)
        self.create_products = bool(options.get("create_products", False))
        # Lines name products the catalog already has (e.g. imported from the channel's product master).
        self.link_products = bool(options.get("link_products", False))
        self.sku_prefix = str(options.get("sku_prefix", "")).upper()
        # Feeds that name no product (CDNOW: "3 CDs, $45"): every line is this one catch-all product.
        self.default_sku = str(options.get("default_sku", "")).upper()
        self.default_title = str(options.get("default_title", self.default_sku))
        self.link_customers = bool(options.get("link_customers", False))
        # Lines become the orders context's past orders and returns at the end of the job.
        self.build_orders = bool(options.get("orders", False))
        self.shipping_skus = {s.upper() for s in options.get("shipping_skus", [])}
        self.positions: Counter = Counter()
        self.variant_ids: dict[str, int] = {}
        self.customer_ids: dict[str, int] = {}
        self.skus_seen: set[str] = set()
        if self.link_customers or self.build_orders:
            self.require_channel()

    # -- classification --------------------------------------------------------------------------------
    def _is_product_sku(self, sku: str) -> bool:
        if not sku or sku in self.non_product_skus:
            return False
        return not (self.non_product_pattern and self.non_product_pattern.search(sku))

    def classify(self, document: str, sku: str, quantity: int) -> str:
        if document.upper().startswith(self.cancellation_prefixes):
            return Kind.CANCELLATION
        if document.upper().startswith(self.adjustment_prefixes):
            return Kind.ADJUSTMENT
        if sku and not self.is_product_sku(sku):
            return Kind.FEE
        if quantity < 0:
            return Kind.WRITE_OFF
        return Kind.SALE

    def document(self, data: dict) -> str:
        if self.options.get("document_with_customer") and data.get("customer_ref"):
            return f"{data['customer_ref']}-{data['document_no']}"
        return data["document_no"]

    def key(self, row: Prepared) -> str:
        document = self.document(row.data)
        if row.resubmitted_from:
            return f"{document}:q{row.resubmitted_from}"
        self.positions[document] += 1
        return f"{document}:{self.positions[document]}"

    def skip(self, rows: list[Prepared]) -> None:
        for row in rows:
            self.key(row)

    # -- writing ---------------------------------------------------------------------------------------
    def write(self, rows: list[Prepared]) -> list[Result]:
        results: list[Result] = []
        staged: dict[str, tuple[int, dict]] = {}
        for index, row in enumerate(rows):
            values, reasons = self.build(row)
            if reasons:
                results.append(Result(QUARANTINED, reasons))
                continue
            results.append(Result(IMPORTED))
            staged[values["natural_key"]] = (index, values)
        lines = [values for _, values in staged.values()]
        if self.create_products:
            self.ensure_variants(lines)
        elif self.link_products:
            self.find_variants(lines)
            staged = self.drop_unknown_products(staged, results)
            lines = [values for _, values in staged.values()]
        if self.link_customers:
            self.ensure_customers(lines)
        existing = existing_hashes(StagedTransactionLine._meta.db_table, self.source, list(staged))
        now = timezone.now()
        new: list[tuple] = []
        changed: list[StagedTransactionLine] = []
        for key, (index, values) in staged.items():
            values["variant_id"] = self.variant_ids.get(values["sku"])
            values["customer_id"] = self.customer_ids.get(values["customer_ref"])
            if key not in existing:
                new.append(tuple(values[c] if c != "created_at" else now for c in _COLUMNS))
            elif existing[key] != values["content_hash"]:
                changed.append(StagedTransactionLine(**values))
                results[index] = Result(UPDATED)
            else:
                results[index] = Result(UNCHANGED)
        insert_rows(StagedTransactionLine._meta.db_table, _COLUMNS, new)
        if changed:
            ids = dict(
                StagedTransactionLine.objects.filter(
                    source=self.source, natural_key__in=[c.natural_key for c in changed]
                ).values_list("natural_key", "id")
            )
            for line in changed:
                line.pk = ids[line.natural_key]
            StagedTransactionLine.objects.bulk_update(changed, _UPDATABLE, batch_size=500)
        if self.build_orders:
            self.reopen_documents(new, changed)
        return results

    def reopen_documents(self, new: list[tuple], changed: list[StagedTransactionLine]) -> None:
        """Documents with a new or changed line wait for the end of the import to become order history."""
        documents: dict[str, tuple[bool, object]] = {}
        doc, kind, at = _COLUMNS.index("document_no"), _COLUMNS.index("kind"), _COLUMNS.index("occurred_at")
        for row in new:
            documents.setdefault(row[doc], (row[kind] == Kind.CANCELLATION, row[at]))
        for line in changed:
            documents.setdefault(line.document_no, (line.kind == Kind.CANCELLATION, line.occurred_at))
        if documents:
            StagedDocument.objects.bulk_create(
                [
                    StagedDocument(source=self.source, document_no=d, is_credit=credit, occurred_at=at)
                    for d, (credit, at) in documents.items()
                ],
                update_conflicts=True,
                unique_fields=["source", "document_no"],
                update_fields=["status", "updated_at"],
                batch_size=2000,
            )

    def build(self, row: Prepared) -> tuple[dict | None, list[dict]]:
        data = row.data
        document = self.document(data)
        sku = (data.get("sku") or "").upper()
        if sku and self.sku_prefix:
            sku = f"{self.sku_prefix}{sku}"[:64]
        sku = sku or self.default_sku
        quantity = data["quantity"]
        unit_price = data.get("unit_price")
        reasons = []
        kind = self.classify(document, sku, quantity)
        if quantity == 0:
            reasons.append({"field": "quantity", "code": "zero_quantity", "message": "A line of 0 units."})
        if unit_price is not None and unit_price < 0 and kind != Kind.ADJUSTMENT:
            reasons.append(
                {"field": "unit_price", "code": "negative_price", "message": f"Unit price {unit_price} < 0."}
            )
        if kind == Kind.CANCELLATION and quantity > 0:
            reasons.append(
                {
                    "field": "quantity",
                    "code": "positive_cancellation",
                    "message": "A cancellation line adds units.",
                }
            )
        line_total = data.get("line_total")
        if line_total is None:
            if unit_price is None:
                reasons.append(
                    {"field": "unit_price", "code": "required", "message": "No price and no line total."}
                )
            else:
                line_total = unit_price * quantity
        if reasons:
            self.key(row)  # the line still takes its position, so the rest of the document keeps its keys
            return None, reasons
        description = data.get("description") or ""
        values = {
            "document_no": document,
            "kind": kind,
            "sku": sku,
            "description": description[:500],
            "quantity": quantity,
            "unit_price": unit_price,
            "line_total": Decimal(line_total),
            "currency": data.get("currency") or self.currency,
            "occurred_at": data["occurred_at"],
            "customer_ref": data.get("customer_ref") or "",
            "country": data.get("country") or "",
            "country_raw": (data.get("country_raw") or "")[:100],
        }
        v = values
        fingerprint = (
            f"{v['document_no']}\x1f{v['kind']}\x1f{v['sku']}\x1f{v['description']}\x1f{v['quantity']}\x1f"
            f"{_amount(v['unit_price'])}\x1f{_amount(v['line_total'])}\x1f{v['currency']}\x1f"
            f"{v['occurred_at'].isoformat()}\x1f{v['customer_ref']}\x1f{v['country']}\x1f{v['country_raw']}"
        )
        values["content_hash"] = hashlib.blake2b(fingerprint.encode(), digest_size=16).hexdigest()
        values["natural_key"] = self.key(row)
        values["source"] = self.source
        values["job_id"] = self.job.pk
        values["channel_id"] = self.channel.pk if self.channel else None
        values["consumed_as"] = _SETTLED.get(kind, "")
        return values, []

    # -- catalog: a product per stock code -------------------------------------------------------------
    def ensure_variants(self, lines: list[dict]) -> None:
        """Stock codes become variants (one product each) the first time they come with a product name: the
        description of a paid sale line (any case: "BAG 250g SWIRLY MARBLES"), or an all-capitals one
        elsewhere. Warehouse notes sit on write-offs and zero-price lines ("damaged", "Found", "Dotcom
        sales") and never become product titles."""
        titles: dict[str, str] = {}
        for line in lines:
            sku = line["sku"]
            if sku in self.variant_ids or not self.is_product_sku(sku):
                continue
            self.skus_seen.add(sku)
            title = self.default_title if sku == self.default_sku else line["description"].strip()
            if sku == self.default_sku:
                titles[sku] = title
                continue
            if sku in titles or not title or not _HAS_UPPER.search(title):
                continue
            paid_sale = line["kind"] == Kind.SALE and (line["unit_price"] or 0) > 0
            if paid_sale or not _HAS_LOWER.search(title):
                titles[sku] = title
        if not titles:
            return
        wanted = [s for s in titles if s not in self.variant_ids]
        for sku, variant_id in Variant.objects.filter(sku__in=wanted).values_list("sku", "id"):
            self.variant_ids[sku] = variant_id
        missing = [s for s in wanted if s not in self.variant_ids]
        if not missing:
            return
        products = [
            Product(
                title=titles[sku][:500],
                slug=f"{slugify(titles[sku])[:150]}-{slugify(sku)}"[:200],
                attributes={"source": self.source},
            )
            for sku in missing
        ]
        Product.objects.bulk_create(products, batch_size=1000)
        variants = [Variant(product_id=p.pk, sku=sku) for sku, p in zip(missing, products, strict=True)]
        Variant.objects.bulk_create(variants, batch_size=1000)
        for variant in variants:
            self.variant_ids[variant.sku] = variant.pk
        self.entity_counts["products_created"] += len(products)
        self.entity_counts["variants_created"] += len(variants)

    def drop_unknown_products(self, staged: dict, results: list[Result]) -> dict:
        """A line naming a product the catalog lacks waits in quarantine (import the product master, then
        re-submit it); the rest of its basket still becomes an order, rebuilt whole when the line comes."""
        kept = {}
        for key, (index, values) in staged.items():
            sku = values["sku"]
            if sku and sku not in self.variant_ids and self.is_product_sku(sku):
                results[index] = Result(
                    QUARANTINED,
                    [
                        {
                            "field": "sku",
                            "code": "unknown_product",
                            "message": f"No product with SKU {sku} in the catalog: import it, then re-submit.",
                        }
                    ],
                )
            else:
                kept[key] = (index, values)
        return kept

    def find_variants(self, lines: list[dict]) -> None:
        """Stock codes → the catalog's variants by SKU, one query per batch for codes not seen before."""
        wanted = {line["sku"] for line in lines if line["sku"] and line["sku"] not in self.variant_ids}
        wanted = [sku for sku in wanted if sku not in self.skus_seen]
        self.skus_seen.update(wanted)
        for start in range(0, len(wanted), 2000):
            chunk = wanted[start : start + 2000]
            self.variant_ids.update(Variant.objects.filter(sku__in=chunk).values_list("sku", "id"))

    # -- customers: the channel's customer id --------------------------------------------------------------
    def ensure_customers(self, lines: list[dict]) -> None:
        """Customer ids of the channel → customers. Known ids are one query per batch; new ids are created
        in bulk exactly as `resolve_customer` does for an id-only identity (a customer plus the channel
        identity). If another writer takes one of the ids meanwhile, the batch falls back to
        `resolve_customer` row by row."""
        from django.db import IntegrityError, transaction

        from omnishop.customers.models import ChannelIdentity, Customer
        from omnishop.customers.services import resolve_customer

        seen: dict[str, tuple] = {}
        for line in lines:
            ref = line["customer_ref"]
            if ref and ref not in self.customer_ids:
                first, last = seen.get(ref, (line["occurred_at"], line["occurred_at"]))
                seen[ref] = (min(first, line["occurred_at"]), max(last, line["occurred_at"]))
        if not seen:
            return
        for ref, customer_id in ChannelIdentity.objects.filter(
            channel=self.channel, external_id__in=list(seen)
        ).values_list("external_id", "customer_id"):
            self.customer_ids[ref] = customer_id
        new = [ref for ref in seen if ref not in self.customer_ids]
        self.entity_counts["customers_matched"] += len(seen) - len(new)
        if not new:
            return
        try:
            with transaction.atomic():
                customers = Customer.objects.bulk_create([Customer() for _ in new], batch_size=1000)
                ChannelIdentity.objects.bulk_create(
                    [
                        ChannelIdentity(
                            customer_id=customer.pk,
                            channel=self.channel,
                            external_id=ref,
                            first_seen_at=seen[ref][0],
                            last_seen_at=seen[ref][1],
                        )
                        for ref, customer in zip(new, customers, strict=True)
                    ],
                    batch_size=1000,
                )
        except IntegrityError:
            for ref in new:
                resolution = resolve_customer(channel=self.channel, external_id=ref, seen_at=seen[ref][0])
                self.customer_ids[ref] = resolution.customer.pk
                self.entity_counts["customers_created" if resolution.created else "customers_matched"] += 1
            return
        for ref, customer in zip(new, customers, strict=True):
            self.customer_ids[ref] = customer.pk
        self.entity_counts["customers_created"] += len(new)

    def finish(self) -> int:
        if self.create_products and self.skus_seen:
            # Lines seen before their stock code got a product name (a note first, the name later).
            (
                StagedTransactionLine.objects.filter(source=self.source, variant__isnull=True)
                .exclude(sku="")
                .update(variant_id=Subquery(Variant.objects.filter(sku=OuterRef("sku")).values("id")[:1]))
            )
        if self.build_orders:
            OrderHistory(self).consume()
        return 0


_SETTLED = {
    Kind.WRITE_OFF: StagedTransactionLine.Use.WRITE_OFF,
    Kind.ADJUSTMENT: StagedTransactionLine.Use.ADJUSTMENT,
}


@lru_cache(maxsize=65536)
def _amount(value: Decimal | None) -> str:
    """18, 18.0 and 18.00 hash as one amount (CSV text vs XLSX number)."""
    return "" if value is None else format(value.normalize(), "f")


_COLUMNS = (
    "source",
    "natural_key",
    "content_hash",
    "job_id",
    "channel_id",
    "document_no",
    "kind",
    "sku",
    "description",
    "quantity",
    "unit_price",
    "line_total",
    "currency",
    "occurred_at",
    "customer_ref",
    "customer_id",
    "country",
    "country_raw",
    "variant_id",
    "consumed_as",
    "created_at",
)

_UPDATABLE = [
    "content_hash",
    "job",
    "document_no",
    "kind",
    "sku",
    "description",
    "quantity",
    "unit_price",
    "line_total",
    "currency",
    "occurred_at",
    "customer_ref",
    "country",
    "country_raw",
    "variant",
    "customer",
    "consumed_as",
]
