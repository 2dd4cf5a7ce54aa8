"""Transaction lines (Online Retail invoice lines, CDNOW purchases) into the staging table, plus what
already has a home: the customers they belong to (customers context, by the channel's customer id) and
the products/variants their stock codes name (catalog; a code the catalogue lacks may be the channel's own
SKU for a variant, found through its SKU aliases).

Orders do not exist yet; the staging table is the contract with the orders context (docs/datahub.md).
A line's natural key is (document, position of the line within the document in the file), so exact
duplicate lines — real repeat purchases or double entries, indistinguishable — are kept, and the same file
imported again (CSV or its XLSX twin) maps every line onto itself.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal
from functools import lru_cache, partial
from hashlib import blake2b

import orjson
from django.conf import settings
from django.db import connection
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.text import slugify

import omnishop
from omnishop.catalog import services as catalog
from omnishop.catalog.models import Variant
from omnishop.core.bulk import insert_rows

from ..models import SkuAlias, StagedDocument, StagedTransactionLine
from .base import IMPORTED, QUARANTINED, UNCHANGED, UPDATED, Prepared, Result, Target
from .history import OrderHistory, lines_of_documents
from .variant_match import aliased_variant_ids

Kind = StagedTransactionLine.Kind
_RAW_DIGEST_FORMAT = "raw-digest-1"  # raised when what a digest covers changes
_HAS_UPPER = re.compile(r"[A-Z]")
_HAS_LOWER = re.compile(r"[a-z]")


def _document_key(number: str, customer: str | None) -> str:
    """A document of a source whose document numbers repeat per customer (`document_with_customer`)."""
    return f"{customer}-{number}" if customer else number


def _is_product_sku(non_product_skus: set[str], non_product_pattern: re.Pattern | None, sku: str) -> bool:
    if not sku or sku in non_product_skus:
        return False
    return not (non_product_pattern and non_product_pattern.search(sku))


class TransactionsTarget(Target):
    entity = "transaction_line"
    key_fields = ("document_no", "sku")
    recognises_rows = True

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
        # Cached per job over the job's own rules, not over a bound method: `self → cache → self` would be a
        # reference cycle, and the target (with its maps of every SKU, customer and document of the file)
        # would outlive its job until a full collection of the garbage collector.
        self.is_product_sku = lru_cache(maxsize=65536)(
            partial(_is_product_sku, self.non_product_skus, self.non_product_pattern)
        )
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
        self.document_kinds: dict[str, str] = {}  # document → cancellation/adjustment by its prefix, or ""
        self.document_with_customer = bool(options.get("document_with_customer"))
        self.job_id = self.job.pk
        self.channel_id = self.channel.pk if self.channel else None
        self.variant_ids: dict[str, int] = {}
        self.customer_ids: dict[str, int] = {}
        self.skus_seen: set[str] = set()
        self.channel_has_aliases: bool | None = None
        self.held_before: bool | None = None  # the source had staged lines when the job began
        if self.link_customers or self.build_orders:
            self.require_channel()

    # -- classification --------------------------------------------------------------------------------
    def classify(self, document: str, sku: str, quantity: int) -> str:
        prefix = self.document_kinds.get(document)
        if prefix is None:
            upper = document.upper()
            if upper.startswith(self.cancellation_prefixes):
                prefix = Kind.CANCELLATION
            elif upper.startswith(self.adjustment_prefixes):
                prefix = Kind.ADJUSTMENT
            else:
                prefix = ""
            if len(self.document_kinds) > 200_000:
                self.document_kinds.clear()
            self.document_kinds[document] = prefix
        if prefix:
            return prefix
        if sku and not self.is_product_sku(sku):
            return Kind.FEE
        if quantity < 0:
            return Kind.WRITE_OFF
        return Kind.SALE

    def document(self, data: dict) -> str:
        if self.document_with_customer:
            return _document_key(data["document_no"], data.get("customer_ref"))
        return data["document_no"]

    def key(self, row: Prepared, document: str | None = None) -> str:
        document = document if document is not None else self.document(row.data)
        if row.resubmitted_from:
            return f"{document}:q{row.resubmitted_from}"
        position = self.positions[document] + 1
        self.positions[document] = position
        return f"{document}:{position}"

    def skip(self, rows: list[Prepared]) -> None:
        for row in rows:
            self.key(row)

    # -- rows met again --------------------------------------------------------------------------------
    def digest_salt(self) -> bytes:
        """The profile file, the options in force, the channel's country (it localises cleaners), the phone
        region and the code's version: a change to any of them cleans every row again."""
        parts = [
            _RAW_DIGEST_FORMAT,
            omnishop.__version__,
            self.profile.path.read_bytes().decode("utf-8", "replace"),
            orjson.dumps(self.options, option=orjson.OPT_SORT_KEYS, default=str).decode(),
            self.channel.country if self.channel is not None else "",
            settings.OMNISHOP_DEFAULT_PHONE_REGION or "",
        ]
        return "\x1e".join(parts).encode()

    def recognise(self, rows: list[dict], digests: list[int | None]) -> dict[int, list[str]]:
        """Looked up by document, as `existing_hashes` does (its index, a few hundred documents a batch):
        only the fields that make a row's document are cleaned for it."""
        if self.held_before is None:
            # A source with no staged line when the job began can meet none of its rows again in place:
            # a row of this job staged earlier in the file holds a position a later copy cannot take.
            self.held_before = StagedTransactionLine.objects.filter(source=self.source).exists()
        found: dict[int, list[str]] = {}
        if not self.held_before:
            return found
        # Only the fields that make a row's document are cleaned: its number, and the customer when
        # documents are per customer (`document`).
        if self.document_with_customer:
            cleaned = self.profile.clean_fields(rows, ("document_no", "customer_ref"))
            documents = {_document_key(number, customer) for number, customer in cleaned if number}
        else:
            documents = {number for (number,) in self.profile.clean_fields(rows, ("document_no",)) if number}
        wanted = set(digests)
        for key, digest in lines_of_documents(self.source, list(documents), ("natural_key", "raw_hash")):
            if digest in wanted:
                keys = found.get(digest)
                if keys is None:
                    found[digest] = [key]
                else:
                    keys.append(key)  # rows alike in every cell
        return found

    def place_known(self, keys: list[str]) -> bool:
        """The row is where it was when it was staged: position n of its document now as then (a line
        inserted above it in the document, or a copy of it elsewhere, moves it or makes it another row)."""
        document, _, position = keys[0].rpartition(":")
        if not position.isdigit():
            return False  # a fixed quarantine row's key (`document:q<id>`): keyed by its entry, not met here
        expected = self.positions[document] + 1
        if f"{document}:{expected}" not in keys:
            return False
        self.positions[document] = expected
        return True

    def place(self, row: Prepared) -> None:
        if not row.resubmitted_from:
            row.key = self.key(row)

    # -- writing ---------------------------------------------------------------------------------------
    def write(self, rows: list[Prepared]) -> list[Result]:
        """Build each line as a row of the staging table (a list in _COLUMNS order), resolve products and
        customers per batch, then append new lines in one COPY and update changed ones."""
        results: list[Result] = []
        staged: dict[str, tuple[int, list]] = {}
        for index, row in enumerate(rows):
            line, reasons = self.build(row)
            if reasons:
                results.append(Result(QUARANTINED, reasons))
                continue
            results.append(_IMPORTED)
            staged[line[I_KEY]] = (index, line)
        lines = [line for _, line in staged.values()]
        if self.create_products:
            self.ensure_variants(lines)
        elif self.link_products:
            self.find_variants(lines)
            staged = self.drop_unknown_products(staged, results)
            lines = [line for _, line in staged.values()]
        if self.link_customers:
            self.ensure_customers(lines)
        existing = self.existing_hashes(lines)
        now = timezone.now()
        new: list[list] = []
        changed: list[StagedTransactionLine] = []
        redigested: list[tuple[str, int]] = []
        variant_ids, customer_ids = self.variant_ids, self.customer_ids
        for key, (index, line) in staged.items():
            line[I_VARIANT] = variant_ids.get(line[I_SKU])
            line[I_CUSTOMER] = customer_ids.get(line[I_REF])
            line[I_CREATED] = now
            known = existing.get(key)
            if known is None:
                new.append(line)
            elif known[0] != line[I_HASH]:
                changed.append(StagedTransactionLine(**dict(zip(_FIELDS, line, strict=True))))
                results[index] = _UPDATED
            else:
                results[index] = _UNCHANGED
                if line[I_RAW] is not None and known[1] != line[I_RAW]:
                    # the same line read another way (the file's twin), or staged before digests
                    redigested.append((key, line[I_RAW]))
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
        if redigested:
            self.redigest(redigested)
        if self.build_orders:
            self.reopen_documents(new, changed)
        return results

    def existing_hashes(self, lines: list[list]) -> dict[str, tuple[str, int | None]]:
        """natural key → (content hash, raw digest) of what is already staged for the batch's documents:
        looked up by document (a few hundred per batch), not by line key (thousands of parameters)."""
        documents = list({line[I_DOC] for line in lines})
        rows = lines_of_documents(self.source, documents, ("natural_key", "content_hash", "raw_hash"))
        return {key: (content, raw) for key, content, raw in rows}

    def redigest(self, lines: list[tuple[str, int]]) -> None:
        """Unchanged lines whose raw digest differs (staged before digests, or read from the file's twin in
        another format) take this row's digest, so the next import of this file meets them without cleaning."""
        table = connection.ops.quote_name(StagedTransactionLine._meta.db_table)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"UPDATE {table} AS s SET raw_hash = d.raw_hash "
                    "FROM unnest(%s::text[], %s::bigint[]) AS d (natural_key, raw_hash) "
                    "WHERE s.source = %s AND s.natural_key = d.natural_key",
                    [[key for key, _ in lines], [digest for _, digest in lines], self.source],
                )
            else:
                cursor.executemany(
                    f"UPDATE {table} SET raw_hash = %s WHERE source = %s AND natural_key = %s",
                    [(digest, self.source, key) for key, digest in lines],
                )

    def reopen_documents(self, new: list[list], changed: list[StagedTransactionLine]) -> None:
        """Documents with a new or changed line wait for the end of the import to become order history."""
        documents: dict[str, tuple[bool, object]] = {}
        for line in new:
            if line[I_DOC] not in documents:
                documents[line[I_DOC]] = (line[I_KIND] == Kind.CANCELLATION, line[I_AT])
        for line in changed:
            documents.setdefault(line.document_no, (line.kind == Kind.CANCELLATION, line.occurred_at))
        if not documents:
            return
        now = timezone.now()
        table = connection.ops.quote_name(StagedDocument._meta.db_table)
        if connection.vendor == "postgresql":
            # One statement of three array parameters: ~1,700 documents a batch, one round of planning.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (source, document_no, is_credit, occurred_at, status, updated_at) "
                    "SELECT %s, d.document_no, d.is_credit, d.occurred_at, %s, %s "
                    "FROM unnest(%s::text[], %s::boolean[], %s::timestamptz[]) "
                    "AS d (document_no, is_credit, occurred_at) "
                    "ON CONFLICT (source, document_no) DO UPDATE SET status = excluded.status, "
                    "occurred_at = excluded.occurred_at, updated_at = excluded.updated_at",
                    [
                        self.source,
                        StagedDocument.Status.PENDING.value,
                        now,
                        list(documents),
                        [credit for credit, _ in documents.values()],
                        [at for _, at in documents.values()],
                    ],
                )
            return
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {table} (source, document_no, is_credit, occurred_at, status, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (source, document_no) DO UPDATE SET "
                "status = excluded.status, occurred_at = excluded.occurred_at, updated_at = excluded.updated_at",
                [
                    (self.source, document, credit, at, StagedDocument.Status.PENDING.value, now)
                    for document, (credit, at) in documents.items()
                ],
            )

    def build(self, row: Prepared) -> tuple[list | None, list[dict]]:
        data = row.data
        document = self.document(data)
        sku = data.get("sku")
        sku = sku.upper() if sku else ""
        if sku and self.sku_prefix:
            sku = f"{self.sku_prefix}{sku}"[:64]
        sku = sku or self.default_sku
        quantity = data["quantity"]
        unit_price = data.get("unit_price")
        kind = self.classify(document, sku, quantity)
        line_total = data.get("line_total")
        if (
            quantity == 0
            or (unit_price is not None and unit_price < 0 and kind != Kind.ADJUSTMENT)
            or (kind == Kind.CANCELLATION and quantity > 0)
            or (line_total is None and unit_price is None)
        ):
            if row.key is None:
                self.key(row, document)  # the line still takes its position: the rest keeps its keys
            return None, _line_reasons(quantity, unit_price, kind, line_total)
        if line_total is None:
            line_total = unit_price * quantity
        elif not isinstance(line_total, Decimal):
            line_total = Decimal(line_total)
        description = data.get("description") or ""
        if len(description) > 500:
            description = description[:500]
        currency = data.get("currency") or self.currency
        occurred_at = data["occurred_at"]
        customer_ref = data.get("customer_ref") or ""
        country = data.get("country") or ""
        country_raw = data.get("country_raw") or ""
        if len(country_raw) > 100:
            country_raw = country_raw[:100]
        fingerprint = (
            f"{document}\x1f{kind}\x1f{sku}\x1f{description}\x1f{quantity}\x1f"
            f"{_amount(unit_price)}\x1f{_amount(line_total)}\x1f{currency}\x1f"
            f"{_iso(occurred_at)}\x1f{customer_ref}\x1f{country}\x1f{country_raw}"
        )
        return [
            self.source,
            row.key if row.key is not None else self.key(row, document),
            blake2b(fingerprint.encode(), digest_size=16).hexdigest(),
            row.digest,
            self.job_id,
            self.channel_id,
            document,
            kind,
            sku,
            description,
            quantity,
            unit_price,
            line_total,
            currency,
            occurred_at,
            customer_ref,
            None,  # customer_id, resolved per batch
            country,
            country_raw,
            None,  # variant_id, resolved per batch
            _SETTLED.get(kind, ""),
            None,  # created_at, set when written
        ], []

    # -- catalog: a product per stock code -------------------------------------------------------------
    def ensure_variants(self, lines: list[dict]) -> None:
        """Stock codes become variants (one product each) the first time they come with a product name: the
        description of a paid sale line (any case: "BAG 250g SWIRLY MARBLES"), or an all-capitals one
        elsewhere. Warehouse notes sit on write-offs and zero-price lines ("damaged", "Found", "Dotcom
        sales") and never become product titles."""
        titles: dict[str, str] = {}
        for line in lines:
            sku = line[I_SKU]
            if sku in self.variant_ids or not self.is_product_sku(sku):
                continue
            self.skus_seen.add(sku)
            title = self.default_title if sku == self.default_sku else line[I_DESCRIPTION].strip()
            if sku == self.default_sku:
                titles[sku] = title
                continue
            if sku in titles or not title or not _HAS_UPPER.search(title):
                continue
            paid_sale = line[I_KIND] == Kind.SALE and (line[I_PRICE] or 0) > 0
            if paid_sale or not _HAS_LOWER.search(title):
                titles[sku] = title
        if not titles:
            return
        wanted = [s for s in titles if s not in self.variant_ids]
        for sku, variant_id in Variant.objects.filter(sku__in=wanted).values_list("sku", "id"):
            self.variant_ids[sku] = variant_id
        self.resolve_aliases([s for s in wanted if s not in self.variant_ids])
        missing = [s for s in wanted if s not in self.variant_ids]
        if not missing:
            return
        created = catalog.create_single_variant_products(
            rows=[
                (
                    sku,
                    titles[sku][:500],
                    f"{slugify(titles[sku])[:150]}-{slugify(sku)}"[:200],
                    {"source": self.source},
                )
                for sku in missing
            ]
        )
        self.variant_ids.update(created)
        self.entity_counts["products_created"] += len(created)
        self.entity_counts["variants_created"] += len(created)

    def drop_unknown_products(self, staged: dict, results: list[Result]) -> dict:
        """A line naming a product the catalog lacks waits in quarantine (import the product master, then
        re-submit it); the rest of its basket still becomes an order, rebuilt whole when the line comes."""
        kept = {}
        for key, (index, line) in staged.items():
            sku = line[I_SKU]
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
                kept[key] = (index, line)
        return kept

    def find_variants(self, lines: list[dict]) -> None:
        """Stock codes → the catalog's variants by SKU, one query per batch for codes not seen before."""
        wanted = {line[I_SKU] for line in lines if line[I_SKU] and line[I_SKU] not in self.variant_ids}
        wanted = [sku for sku in wanted if sku not in self.skus_seen]
        self.skus_seen.update(wanted)
        for start in range(0, len(wanted), 2000):
            chunk = wanted[start : start + 2000]
            self.variant_ids.update(Variant.objects.filter(sku__in=chunk).values_list("sku", "id"))
        self.resolve_aliases([s for s in wanted if s not in self.variant_ids])

    def resolve_aliases(self, skus: list[str]) -> None:
        """Stock codes the catalogue lacks may be the channel's own SKUs for its variants (learnt by the
        channel's products imports, or its SKU map): one query per batch, only when some are missing."""
        if not skus or self.channel_id is None:
            return
        if self.channel_has_aliases is None:  # asked once per job: most channels have none
            self.channel_has_aliases = SkuAlias.objects.filter(channel_id=self.channel_id).exists()
        if self.channel_has_aliases:
            self.variant_ids.update(aliased_variant_ids(channel=self.channel, source=self.source, skus=skus))

    # -- customers: the channel's customer id --------------------------------------------------------------
    def ensure_customers(self, lines: list[dict]) -> None:
        """Customer ids of the channel → customers. Known ids are one query per batch; new ids are created
        in bulk exactly as `resolve_customer` does for an id-only identity (a customer plus the channel
        identity) by the customers context (`ensure_channel_customers`)."""
        from omnishop.customers.services import ensure_channel_customers

        seen: dict[str, tuple] = {}
        for line in lines:
            ref = line[I_REF]
            if ref and ref not in self.customer_ids:
                at = line[I_AT]
                first, last = seen.get(ref, (at, at))
                seen[ref] = (min(first, at), max(last, at))
        if not seen:
            return
        found, created = ensure_channel_customers(channel=self.channel, seen=seen)
        self.customer_ids.update(found)
        self.entity_counts["customers_created"] += created
        self.entity_counts["customers_matched"] += len(seen) - created

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


def _line_reasons(quantity, unit_price, kind, line_total) -> list[dict]:
    reasons = []
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
    if line_total is None and unit_price is None:
        reasons.append({"field": "unit_price", "code": "required", "message": "No price and no line total."})
    return reasons


@lru_cache(maxsize=65536)
def _iso(value) -> str:
    return value.isoformat()


_IMPORTED, _UPDATED, _UNCHANGED = Result(IMPORTED), Result(UPDATED), Result(UNCHANGED)
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
    "raw_hash",
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

_FIELDS = _COLUMNS  # model keyword arguments for the (rare) changed line
(I_SOURCE, I_KEY, I_HASH, I_RAW, I_JOB, I_CHANNEL, I_DOC, I_KIND, I_SKU, I_DESCRIPTION, I_QTY, I_PRICE, I_TOTAL,
 I_CURRENCY, I_AT, I_REF, I_CUSTOMER, I_COUNTRY, I_COUNTRY_RAW, I_VARIANT, I_USE, I_CREATED) = range(len(_COLUMNS))  # fmt: skip

_UPDATABLE = [
    "content_hash",
    "raw_hash",
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
