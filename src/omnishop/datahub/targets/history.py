"""Staged transaction lines → the orders context's past orders and returns, at the end of an import.

Every document (invoice or credit note) with a new or changed line is pending (or rejected earlier); each is
rebuilt from ALL its staged lines (an invoice may span files, a re-submitted quarantined row may add a line):
- an invoice becomes one completed, paid past order: product lines (one per variant), postage lines as
  shipping, other non-product lines (manual amounts, fees, vouchers) as fees; warehouse write-offs and
  accounting adjustments stay staged, marked as what they are;
- a credit note ("C" invoice) becomes returns and refunds against the same customer's earlier orders
  (orders.services.history matches by variant, newest purchase first); what matches nothing is marked
  unmatched, never forced.
The document's status says what it became (credit lines and write-offs also say it per line), so the
import's quality report can count it and a later import only revisits documents whose lines changed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

from django.db import connection
from django.db.models import F
from django.utils import timezone

from omnishop.orders.services import history

from ..models import ImportJob, QuarantinedRow, StagedDocument, StagedTransactionLine
from .base import content_hash

Kind = StagedTransactionLine.Kind
Use = StagedTransactionLine.Use
Status = StagedDocument.Status
CHUNK = 2000  # documents per round trip
_LINE_FIELDS = (
    "id", "document_no", "kind", "sku", "description", "quantity", "line_total", "currency", "customer_id",
    "country", "variant_id", "consumed_as",
)  # fmt: skip
# What a quarantined line shows of itself: the staged fields, written back under the profile's columns.
_QUARANTINE_FIELDS = (
    "id", "job_id", "natural_key", "document_no", "sku", "description", "quantity", "unit_price", "line_total",
    "currency", "occurred_at", "customer_ref", "country_raw",
)  # fmt: skip
_SALE_STATUS = {"created": Status.ORDER, "replaced": Status.ORDER, "conflict": Status.CONFLICT}


class OrderHistory:
    def __init__(self, target) -> None:
        self.target = target
        self.channel = target.channel
        self.actor = f"import #{target.job.pk}"
        self.uses: dict[str, list[int]] = defaultdict(list)  # line outcomes stored on the line
        self.statuses: dict[str, list[str]] = defaultdict(list)  # document → status
        self.counts: Counter = Counter()
        self.times: dict[str, object] = {}  # document → when it happened
        self.blocked: list[int] = []  # lines that can never be built: quarantined at the end

    def consume(self) -> None:
        open_documents = StagedDocument.objects.filter(
            source=self.target.source, status__in=[Status.PENDING, Status.REJECTED]
        ).values_list("document_no", "is_credit", "occurred_at")
        sales: list[str] = []
        credits: list[tuple] = []
        for document, is_credit, at in open_documents.iterator(chunk_size=5000):
            self.times[document] = at
            if is_credit:
                credits.append((at, document))
            else:
                sales.append(document)
        sales.sort()
        for start in range(0, len(sales), CHUNK):
            self.record_sales(self.load(sales[start : start + CHUNK]))
        ordered = [document for _, document in sorted(credits)]
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            self.record_returns(self.load(chunk), chunk)
        self.quarantine_blocked()
        self.mark()
        for name, count in self.counts.items():
            self.target.entity_counts[name] += count

    def load(self, documents: list[str]) -> dict[str, list[tuple]]:
        """All staged lines of these documents, in file order: (id, document, kind, sku, description,
        quantity, line total, currency, customer id, country, variant id)."""
        lines: dict[str, list[tuple]] = defaultdict(list)
        for row in lines_of_documents(self.target.source, documents, _LINE_FIELDS):
            lines[row[1]].append(row)
        return lines

    # -- invoices --------------------------------------------------------------------------------------
    def record_sales(self, documents: dict[str, list[tuple]]) -> None:
        sales, members = [], {}
        for document, rows in documents.items():
            sale = history.PastSale(
                external_id=document, occurred_at=self.times[document], currency=rows[0][7], lines=[]
            )
            order_lines: list[int] = []
            blocked = 0
            for pk, _, kind, sku, title, quantity, total, _, customer_id, country, variant_id, use in rows:
                sale.customer_id = sale.customer_id or customer_id
                sale.country = sale.country or country
                if use == Use.QUARANTINED:
                    continue  # waits in quarantine; a re-submitted fix is a line of its own
                if kind == Kind.WRITE_OFF:
                    self.counts["lines_write_off"] += 1
                elif kind == Kind.ADJUSTMENT:
                    self.counts["lines_adjustment"] += 1
                elif kind == Kind.FEE:
                    if sku in self.target.shipping_skus:
                        sale.shipping += Decimal(total)
                    else:
                        sale.fees += Decimal(total)
                    order_lines.append(pk)
                elif variant_id is None and not total and not title:
                    # Units with no name and no price: a stock correction booked as an invoice, not a sale.
                    self.uses[Use.ADJUSTMENT].append(pk)
                    self.counts["lines_adjustment"] += 1
                elif variant_id is None:
                    # A product line whose stock code has no product at the end of the import (with
                    # `create_products`, no line of the source ever named it): waiting cannot build it.
                    # It goes to quarantine once, with its reason; the rest of the invoice is built, and
                    # a fixed line re-submitted later rebuilds the invoice whole (as `link_products` does).
                    self.blocked.append(pk)
                    blocked += 1
                else:
                    sale.lines.append(history.PastLine(variant_id, sku, title, quantity, total))
                    order_lines.append(pk)
            if blocked and not order_lines:
                self.statuses[Status.QUARANTINED].append(document)
                continue
            if not order_lines:
                self.statuses[Status.NOT_A_SALE].append(document)  # only write-offs / adjustments
                continue
            sales.append(sale)
            members[document] = order_lines
        outcome = history.record_past_sales(channel=self.channel, sales=sales, actor=self.actor)
        for document, result in outcome.items():
            self.counts[f"orders_{result}"] += 1
            status = _SALE_STATUS.get(result, Status.NEGATIVE)
            self.statuses[status].append(document)
            self.counts[f"lines_{status}"] += len(members[document])

    # -- credit notes ----------------------------------------------------------------------------------
    def record_returns(self, documents: dict[str, list[tuple]], order: list[str]) -> None:
        credits, members = [], {}
        for document in order:
            rows = documents.get(document, [])
            if not rows:
                continue
            credit = history.PastReturn(
                external_id=document, occurred_at=self.times[document], currency=rows[0][7], lines=[]
            )
            ids = []
            for pk, _, _kind, sku, _, quantity, total, _, customer_id, _, variant_id, _use in rows:
                credit.customer_id = credit.customer_id or customer_id
                product = self.target.is_product_sku(sku)
                if product and variant_id is None:
                    self.uses[Use.UNMATCHED_RETURN].append(pk)
                    self.counts[f"lines_{Use.UNMATCHED_RETURN}"] += 1
                    continue
                credit.lines.append(
                    history.PastReturnLine(
                        variant_id=variant_id if product else None,
                        sku=sku,
                        quantity=-quantity,
                        amount=-Decimal(total),
                    )
                )
                ids.append(pk)
            credits.append(credit)
            members[document] = ids
        outcomes = history.record_past_returns(channel=self.channel, returns=credits, actor=self.actor)
        for credit in credits:
            outcome = outcomes[credit.external_id]
            ids = members[credit.external_id]
            if outcome.recorded_before:
                self.statuses[Status.CONFLICT].append(credit.external_id)
                continue
            self.statuses[Status.RETURNS].append(credit.external_id)
            for pk, line, matched, refunded in zip(
                ids, credit.lines, outcome.matched, outcome.refunded, strict=True
            ):
                if line.variant_id is None:
                    use = Use.RETURN if refunded > 0 else Use.UNMATCHED_RETURN
                elif matched >= line.quantity:
                    use = Use.RETURN
                elif matched > 0:
                    use = Use.RETURN_PARTIAL
                else:
                    use = Use.UNMATCHED_RETURN
                self.uses[use].append(pk)
                self.counts[f"lines_{use}"] += 1

    # -- lines that can never be built -----------------------------------------------------------------
    def quarantine_blocked(self) -> None:
        """Quarantine the lines no product will ever come for, under the profile's own columns (so they can
        be fixed and re-submitted like any row), on the job that staged them, whose counts move from
        imported to quarantined; the line is marked and never retried."""
        if not self.blocked:
            return
        target, job = self.target, self.target.job
        columns = {f.name: f.columns[0] for f in target.profile.fields if f.columns}
        scope = f"{target.source}/{target.profile.target}"[:200]
        rows, moved = [], Counter()
        for start in range(0, len(self.blocked), CHUNK):
            chunk = self.blocked[start : start + CHUNK]
            for values in StagedTransactionLine.objects.filter(pk__in=chunk).values(*_QUARANTINE_FIELDS):
                sku = values["sku"]
                if target.sku_prefix and sku.startswith(target.sku_prefix):
                    sku = sku[len(target.sku_prefix) :]
                fields = {**values, "sku": sku, "occurred_at": values["occurred_at"].isoformat()}
                raw = {
                    column: "" if fields.get(name) is None else str(fields[name])
                    for name, column in columns.items()
                    if name in fields
                }
                reason = {
                    "field": "sku",
                    "code": "unknown_product",
                    "message": (
                        f"No product for stock code {values['sku']} ({values['description'] or 'no name'!r}, "
                        f"{values['quantity']} at {values['unit_price']}) in invoice {values['document_no']} "
                        f"(line {values['natural_key']}): no line of this source names it, so the invoice "
                        "was built without it. Import the product and re-submit, or discard."
                    ),
                }
                rows.append(
                    QuarantinedRow(
                        job_id=values["job_id"],
                        line=0,
                        raw=raw,
                        reasons=[reason],
                        scope=scope,
                        fingerprint=content_hash(raw),
                        row_key=target.quarantine_key(values),
                    )
                )
                moved[values["job_id"]] += 1
        QuarantinedRow.objects.bulk_create(rows, batch_size=1000)
        self.uses[Use.QUARANTINED].extend(self.blocked)
        self.counts["lines_quarantined"] += len(self.blocked)
        for job_id, count in moved.items():
            if job_id == job.pk:
                target.late_quarantine.extend(r.reasons[0] for r in rows if r.job_id == job.pk)
                continue
            # A document left rejected by an import before this rule: its own job's counts move.
            for counted in ("imported", "updated"):
                if ImportJob.objects.filter(pk=job_id, **{f"{counted}__gte": count}).update(
                    **{counted: F(counted) - count, "quarantined": F("quarantined") + count}
                ):
                    break

    # -- bookkeeping -----------------------------------------------------------------------------------
    def mark(self) -> None:
        for use, ids in self.uses.items():
            _stamp(ids, use)
        source = self.target.source
        for status, documents in self.statuses.items():
            for start in range(0, len(documents), CHUNK):
                StagedDocument.objects.filter(
                    source=source, document_no__in=documents[start : start + CHUNK]
                ).update(status=status, updated_at=timezone.now())


def lines_of_documents(source: str, documents: list[str], fields: tuple[str, ...]) -> list[tuple]:
    """`fields` of every staged line of these documents of `source`, in file order per document: one array
    parameter on PostgreSQL (thousands of placeholders cost more to send than the rows), the ORM in chunks
    on SQLite (its decimal columns need Django's converters).

    On PostgreSQL each document is looked up on its own in the `(source, document_no)` index (a LATERAL
    subquery the planner may not flatten): `document_no = ANY(…)` was planned from statistics, and a table
    an import has just filled has none yet (autovacuum analyses it a minute later at the earliest) — the
    planner then took `source = …` for rare and read every line of the source for each batch, so an import
    slowed down as it went (ADR 0058)."""
    if not documents:
        return []
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(StagedTransactionLine._meta.db_table)
        picked = ", ".join(f"s.{field}" for field in fields)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {picked} FROM unnest(%s::text[]) AS d (document_no) CROSS JOIN LATERAL "
                f"(SELECT id AS line_id, {', '.join(fields)} FROM {table} "
                "WHERE source = %s AND document_no = d.document_no OFFSET 0) AS s ORDER BY s.line_id",
                [list(dict.fromkeys(documents)), source],
            )
            return cursor.fetchall()
    rows: list[tuple] = []
    for start in range(0, len(documents), CHUNK):
        rows.extend(
            StagedTransactionLine.objects.filter(
                source=source, document_no__in=documents[start : start + CHUNK]
            )
            .order_by("id")
            .values_list(*fields)
        )
    return rows


def _stamp(ids: list[int], use: str) -> None:
    """Set what many lines became in few statements (one array parameter on PostgreSQL)."""
    if not ids:
        return
    if connection.vendor != "postgresql":
        for start in range(0, len(ids), 5000):
            StagedTransactionLine.objects.filter(pk__in=ids[start : start + 5000]).update(consumed_as=use)
        return
    table = connection.ops.quote_name(StagedTransactionLine._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET consumed_as = %s WHERE id = ANY(%s)", [use, ids])
