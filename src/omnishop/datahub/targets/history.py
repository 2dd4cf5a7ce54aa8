"""Staged transaction lines → the orders context's past orders and returns, at the end of an import.

Every line not yet consumed names a document (invoice or credit note); each such document is rebuilt from
ALL its staged lines (an invoice may span files, a re-submitted quarantined row may add a line later):
- an invoice becomes one completed, paid past order: product lines (one per variant), postage lines as
  shipping, other non-product lines (manual amounts, fees, vouchers) as fees; warehouse write-offs and
  accounting adjustments stay staged, marked as what they are;
- a credit note ("C" invoice) becomes returns and refunds against the same customer's earlier orders
  (orders.services.history matches by variant, newest purchase first); what matches nothing is marked
  unmatched, never forced.
Each line then says what it became (`consumed_as`), so the import's quality report can count it and a
later import only revisits documents whose lines changed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

from django.utils import timezone

from omnishop.orders.services import history

from ..models import StagedTransactionLine

Kind = StagedTransactionLine.Kind
Use = StagedTransactionLine.Use
CHUNK = 2000  # documents per round trip


class OrderHistory:
    def __init__(self, target) -> None:
        self.target = target
        self.channel = target.channel
        self.actor = f"import #{target.job.pk}"
        self.uses: dict[str, list[int]] = defaultdict(list)
        self.counts: Counter = Counter()

    def consume(self) -> None:
        pending = (
            StagedTransactionLine.objects.filter(source=self.target.source, consumed_at__isnull=True)
            .values_list("document_no", "kind", "occurred_at")
            .distinct()
        )
        sales: set[str] = set()
        credits: dict[str, object] = {}
        for document, kind, at in pending.iterator(chunk_size=5000):
            if kind == Kind.CANCELLATION:
                credits[document] = min(at, credits.get(document, at))
            else:
                sales.add(document)
        sales -= credits.keys()
        ordered_sales = sorted(sales)
        for start in range(0, len(ordered_sales), CHUNK):
            self.record_sales(self.load(ordered_sales[start : start + CHUNK]))
        ordered_credits = sorted(credits, key=lambda d: (credits[d], d))
        for start in range(0, len(ordered_credits), CHUNK):
            self.record_returns(
                self.load(ordered_credits[start : start + CHUNK]), ordered_credits[start : start + CHUNK]
            )
        self.mark()
        for name, count in self.counts.items():
            self.target.entity_counts[name] += count

    def load(self, documents: list[str]) -> dict[str, list[tuple]]:
        lines: dict[str, list[tuple]] = defaultdict(list)
        rows = (
            StagedTransactionLine.objects.filter(source=self.target.source, document_no__in=documents)
            .order_by("id")
            .values_list(
                "id", "document_no", "kind", "sku", "description", "quantity", "line_total", "currency",
                "occurred_at", "customer_id", "country", "variant_id",
            )
        )  # fmt: skip
        for row in rows:
            lines[row[1]].append(row)
        return lines

    # -- invoices --------------------------------------------------------------------------------------
    def record_sales(self, documents: dict[str, list[tuple]]) -> None:
        sales, members = [], {}
        for document, rows in documents.items():
            sale = history.PastSale(
                external_id=document, occurred_at=rows[0][8], currency=rows[0][7], lines=[]
            )
            order_lines: list[int] = []
            for pk, _, kind, sku, title, quantity, total, _, _, customer_id, country, variant_id in rows:
                sale.customer_id = sale.customer_id or customer_id
                sale.country = sale.country or country
                if kind == Kind.WRITE_OFF:
                    self.uses[Use.WRITE_OFF].append(pk)
                elif kind == Kind.ADJUSTMENT:
                    self.uses[Use.ADJUSTMENT].append(pk)
                elif kind == Kind.FEE:
                    if sku in self.target.shipping_skus:
                        sale.shipping += Decimal(total)
                    else:
                        sale.fees += Decimal(total)
                    order_lines.append(pk)
                elif variant_id is None and not total and not title:
                    # Units with no name and no price: a stock correction booked as an invoice, not a sale.
                    self.uses[Use.ADJUSTMENT].append(pk)
                elif variant_id is None:
                    # A product line whose stock code never got a product: the invoice cannot be whole.
                    sale = None
                    break
                else:
                    sale.lines.append(history.PastLine(variant_id, sku, title, quantity, Decimal(total)))
                    order_lines.append(pk)
            if sale is None:
                self.uses[Use.REJECTED].extend(r[0] for r in rows)
                self.counts["orders_rejected_unknown_product"] += 1
                continue
            if not order_lines:
                continue  # only write-offs / adjustments: no sale happened
            sales.append(sale)
            members[document] = order_lines
        outcome = history.record_past_sales(channel=self.channel, sales=sales, actor=self.actor)
        for document, result in outcome.items():
            self.counts[f"orders_{result}"] += 1
            use = {"created": Use.ORDER, "replaced": Use.ORDER, "conflict": Use.CONFLICT}.get(
                result, Use.REJECTED
            )
            self.uses[use].extend(members[document])

    # -- credit notes ----------------------------------------------------------------------------------
    def record_returns(self, documents: dict[str, list[tuple]], order: list[str]) -> None:
        credits, members = [], {}
        for document in order:
            rows = documents.get(document, [])
            if not rows:
                continue
            credit = history.PastReturn(
                external_id=document, occurred_at=rows[0][8], currency=rows[0][7], lines=[]
            )
            ids = []
            for pk, _, _kind, sku, _, quantity, total, _, _, customer_id, _, variant_id in rows:
                credit.customer_id = credit.customer_id or customer_id
                product = self.target.is_product_sku(sku)
                if product and variant_id is None:
                    self.uses[Use.UNMATCHED_RETURN].append(pk)
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
                self.uses[Use.CONFLICT].extend(ids)
                continue
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

    # -- bookkeeping -----------------------------------------------------------------------------------
    def mark(self) -> None:
        now = timezone.now()
        for use, ids in self.uses.items():
            self.counts[f"lines_{use}"] += len(ids)
            # A rejected invoice is tried again by the next import of its source (its product may exist
            # by then); everything else is settled.
            when = None if use == Use.REJECTED else now
            for start in range(0, len(ids), 5000):
                StagedTransactionLine.objects.filter(pk__in=ids[start : start + 5000]).update(
                    consumed_at=when, consumed_as=use
                )
