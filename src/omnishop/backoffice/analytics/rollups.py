"""Keeping the dashboard's rollups equal to the orders, payments and returns — incrementally, in the same
transaction as the change.

Every change of an order writes a timeline entry (`orders.states.event`); when one is written, `refresh`
recomputes that order's facts (`OrderFacts`: what it adds to the figures now), and adds the difference to the
daily rollups with one `INSERT … ON CONFLICT DO UPDATE SET x = x + …` per row touched. The rollups are
therefore the sum of the facts, and the facts are a function of the order's rows, so the figures are exact
(the Hypothesis test in tests/test_analytics_equality.py compares them with totals computed from the orders).
`rebuild` recomputes everything from the orders (backfill after an import, repair).

What the figures mean (docs/backoffice.md#analytics):
- an order is booked on the UTC day it was placed; it *counts* unless it was cancelled or merged;
- sales = the order's total (goods, shipping and tax, after partial cancellations);
- refunds = money refunded on the payments of its payment reference (booked on the reference's first order,
  so a split family's refunds count once) + store credit issued for its received returns;
- units = ordered − cancelled; returned units = units received back; return reasons from received returns;
- new / returning / guest = whether the customer had an earlier order (by placement time, then id).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery, Sum
from django.db.models.signals import post_save

from omnishop.backoffice.analytics.queries import bucket
from omnishop.backoffice.models import (
    DailyReturnReason,
    DailySales,
    DailyStatus,
    OrderFacts,
    ProductSales,
)
from omnishop.core import batch
from omnishop.core.bulk import insert_rows
from omnishop.orders.models import Order, OrderEvent, OrderLine, ReturnLine, ReturnRequest
from omnishop.orders.services.listeners import PlacedRows, on_past_orders_recorded
from omnishop.payments.models import Payment

logger = logging.getLogger(__name__)

S = Order.Status
NOT_COUNTED = frozenset({S.CANCELLED, S.MERGED})
ZERO = Decimal(0)
#: timeline kinds that never change a figure (a status change writes its own `status_changed` entry)
NEUTRAL_KINDS = frozenset({"note", "fulfilments_created", "shipped", "delivered", "tracking"})
#: every table `rebuild` rewrites
ROLLUPS = (DailySales, ProductSales, DailyStatus, DailyReturnReason, OrderFacts)
#: the blocks `ProductSales` keeps each product's sales in (queries.calendar_blocks reads a period from them)
GRAINS = ("day", "week", "month")


@dataclass(frozen=True)
class Facts:
    """What one order adds to the rollups."""

    day: date
    channel_id: int
    currency: str
    status: str
    customer_kind: str
    sales: Decimal
    refunds: Decimal
    units: int
    returned_units: int
    lines: dict[str, list] = field(default_factory=dict)  # variant id -> [product id, units, "revenue"]
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def counted(self) -> bool:
        return self.status not in NOT_COUNTED

    @classmethod
    def of_row(cls, row: OrderFacts) -> Facts:
        return cls(
            day=row.day,
            channel_id=row.channel_id,
            currency=row.currency,
            status=row.status,
            customer_kind=row.customer_kind,
            sales=row.sales,
            refunds=row.refunds,
            units=row.units,
            returned_units=row.returned_units,
            lines=row.lines,
            reasons=row.reasons,
        )

    def values(self, order_id: int) -> tuple:
        """The row as FACT_COLUMNS values (for bulk inserts)."""
        return (
            order_id, self.day, self.channel_id, self.currency, self.status, self.customer_kind, self.counted,
            self.sales, self.refunds, self.units, self.returned_units, self.lines, self.reasons,
        )  # fmt: skip

    def row(self, order_id: int) -> OrderFacts:
        return OrderFacts(
            order_id=order_id,
            day=self.day,
            channel_id=self.channel_id,
            currency=self.currency,
            status=self.status,
            customer_kind=self.customer_kind,
            counted=self.counted,
            sales=self.sales,
            refunds=self.refunds,
            units=self.units,
            returned_units=self.returned_units,
            lines=self.lines,
            reasons=self.reasons,
        )


FACT_COLUMNS = (
    "order_id", "day", "channel_id", "currency", "status", "customer_kind", "counted", "sales", "refunds",
    "units", "returned_units", "lines", "reasons",
)  # fmt: skip


# -- the facts of orders, from their rows ------------------------------------------------------------------


def facts_for(order_ids: Iterable[int], *, first_orders: dict[int, int] | None = None) -> dict[int, Facts]:
    """The facts of these orders as their rows say now (a fixed number of queries, whatever the count).

    `first_orders` (customer id -> id of their first order) spares the per-order lookup in a rebuild."""
    ids = list(order_ids)
    if not ids:
        return {}
    # One query for the orders with what their payment reference adds: money refunded on it, and which of
    # the reference's orders (not merged away) comes first — the one its refunds are booked on.
    refunded = (
        Payment.objects.filter(reference=OuterRef("payment_reference"))
        .order_by()
        .values("reference")
        .annotate(total=Sum("refunded"))
        .values("total")
    )
    holder = (
        Order.objects.filter(payment_reference=OuterRef("payment_reference"))
        .exclude(status=S.MERGED)
        .order_by("pk")
        .values("pk")[:1]
    )
    orders = Order.objects.filter(pk__in=ids).annotate(refunded=Subquery(refunded), holder=Subquery(holder))
    columns = ("pk", "created_at", "channel_id", "currency", "status", "total", "customer_id")
    columns += ("refunded", "holder")
    if first_orders is None:
        earliest = Order.objects.filter(customer_id=OuterRef("customer_id")).order_by("created_at", "pk")
        orders = orders.annotate(first_order=Subquery(earliest.values("pk")[:1]))
        rows = list(orders.values_list(*columns, "first_order"))
    else:
        rows = [(*r, first_orders.get(r[6])) for r in orders.values_list(*columns)]
    lines: dict[int, dict[str, list]] = defaultdict(dict)
    units: dict[int, int] = defaultdict(int)
    returned: dict[int, int] = defaultdict(int)
    for order_id, variant_id, product_id, quantity, cancelled, back, line_total in OrderLine.objects.filter(
        order_id__in=ids
    ).values_list(
        "order_id", "variant_id", "variant__product_id", "quantity", "cancelled", "returned", "line_total"
    ):
        sold = quantity - cancelled
        units[order_id] += sold
        returned[order_id] += back
        if sold or line_total:
            lines[order_id][str(variant_id)] = [product_id, sold, str(line_total)]
    with_returns = [i for i in ids if returned[i]]
    credited: dict[int, Decimal] = {}
    reasons: dict[int, dict[str, int]] = defaultdict(dict)
    if with_returns:
        received = ReturnRequest.objects.filter(
            order_id__in=with_returns, status=ReturnRequest.Status.RECEIVED
        )
        credited = dict(
            received.filter(refund_to=ReturnRequest.RefundTo.STORE_CREDIT)
            .values("order_id")
            .annotate(total=Sum("refund_amount"))
            .values_list("order_id", "total")
        )
        for order_id, reason, quantity in (
            ReturnLine.objects.filter(request__in=received)
            .values("request__order_id", "reason")
            .annotate(units=Sum("quantity"))
            .values_list("request__order_id", "reason", "units")
        ):
            key = reason.strip() or "(no reason given)"
            reasons[order_id][key] = reasons[order_id].get(key, 0) + quantity
    facts = {}
    for pk, created_at, channel_id, currency, status, total, customer_id, money_back, holder, first in rows:
        refunds = credited.get(pk) or ZERO
        if holder == pk:
            refunds += money_back or ZERO
        if customer_id is None:
            kind = OrderFacts.CustomerKind.GUEST
        else:
            kind = OrderFacts.CustomerKind.NEW if first == pk else OrderFacts.CustomerKind.RETURNING
        facts[pk] = Facts(
            day=created_at.date(),
            channel_id=channel_id,
            currency=currency,
            status=status,
            customer_kind=str(kind),
            sales=total,
            refunds=refunds,
            units=units[pk],
            returned_units=returned[pk],
            lines=lines.get(pk, {}),
            reasons=reasons.get(pk, {}),
        )
    return facts


# -- differences, added to the rollups ---------------------------------------------------------------------

SALES_COLUMNS = (
    "orders",
    "cancelled",
    "sales",
    "refunds",
    "units",
    "returned_units",
    "returned_orders",
    "new_customers",
    "returning_customers",
    "guest_orders",
)


class Deltas:
    """Differences to add to the rollups, grouped by rollup row."""

    def __init__(self) -> None:
        self.sales: dict[tuple, list] = defaultdict(lambda: [0, 0, ZERO, ZERO, 0, 0, 0, 0, 0, 0])
        self.blocks: dict[tuple, list] = defaultdict(lambda: [0, ZERO])  # units, revenue
        self.status: dict[tuple, int] = defaultdict(int)
        self.reasons: dict[tuple, int] = defaultdict(int)

    def add(self, f: Facts, sign: int) -> None:
        self.status[(f.day, f.channel_id, f.status)] += sign
        if not f.counted:
            self.sales[(f.day, f.channel_id, f.currency)][1] += sign if f.status == S.CANCELLED else 0
            return
        row = self.sales[(f.day, f.channel_id, f.currency)]
        kind = ("new", "returning", "guest").index(f.customer_kind)
        for i, value in enumerate(
            (1, 0, f.sales, f.refunds, f.units, f.returned_units, int(f.returned_units > 0))
        ):
            row[i] += sign * value
        row[7 + kind] += sign
        blocks = [(grain, bucket(f.day, grain), f.channel_id, f.currency) for grain in GRAINS]
        for product, units, revenue in f.lines.values():
            count, money = sign * int(units), sign * Decimal(revenue)
            for block in blocks:
                total = self.blocks[(*block, product)]
                total[0] += count
                total[1] += money
        for reason, units in f.reasons.items():
            self.reasons[(f.day, f.channel_id, reason)] += sign * units

    def size(self) -> int:
        """Rollup rows touched (an upper bound: rows whose difference is zero are left out later)."""
        return len(self.sales) + len(self.blocks) + len(self.status) + len(self.reasons)

    def changes(self) -> list[tuple]:
        """(model, keys, added, rows, replaced) per rollup, in one fixed table order (the lock order)."""
        day = connection.ops.adapt_datefield_value
        sales = [(day(k[0]), k[1], k[2], *v) for k, v in self.sales.items() if any(x != 0 for x in v)]
        blocks = [(k[0], day(k[1]), *k[2:], *v) for k, v in self.blocks.items() if v[0] or v[1]]
        status = [(day(k[0]), k[1], k[2], v) for k, v in self.status.items() if v]
        reasons = [(day(k[0]), k[1], k[2], v) for k, v in self.reasons.items() if v]
        return [
            (DailySales, ("day", "channel_id", "currency"), SALES_COLUMNS, sales, ()),
            (
                ProductSales,
                ("grain", "start", "channel_id", "currency", "product_id"),
                ("units", "revenue"),
                blocks,
                (),
            ),
            (DailyStatus, ("day", "channel_id", "status"), ("orders",), status, ()),
            (DailyReturnReason, ("day", "channel_id", "reason"), ("units",), reasons, ()),
        ]

    def write(self, *, into_empty: bool = False) -> None:
        """Add the differences to the rollups; `into_empty` (a rebuild, after emptying them) appends the rows
        in bulk instead of one upsert per row — every key occurs once here."""
        write = _append if into_empty else _upsert
        for model, keys, added, rows, replaced in self.changes():
            write(model, keys, added, rows, replaced=replaced)


def _append(model, keys: tuple, added: tuple, rows: list, *, replaced: tuple = ()) -> None:
    """Insert the rows as they are (the table is empty and every key occurs once)."""
    insert_rows(model._meta.db_table, (*keys, *replaced, *added), rows)


def _upsert_sql(model, keys: tuple, added: tuple, replaced: tuple, rows: int) -> str:
    """INSERT … VALUES (one tuple per row) ON CONFLICT (keys) DO UPDATE: `added` columns add, `replaced`
    columns overwrite. Concurrent writers add, never overwrite (the upsert takes the row lock)."""
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    columns = (*keys, *replaced, *added)
    updates = [f"{qn(c)} = excluded.{qn(c)}" for c in replaced]
    updates += [f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in added]
    one = f"({', '.join(['%s'] * len(columns))})"
    return (
        f"INSERT INTO {table} ({', '.join(qn(c) for c in columns)}) VALUES {', '.join([one] * rows)} "
        f"ON CONFLICT ({', '.join(qn(c) for c in keys)}) DO UPDATE SET {', '.join(updates)}"
    )


def _upsert(model, keys: tuple, added: tuple, rows: list, *, replaced: tuple = ()) -> None:
    """Add `added` columns to the row of each key (inserting it when missing), many rows per statement (each
    key occurs once in `rows`); rows are (keys…, replaced…, added…)."""
    if not rows:
        return
    # Up to 900 parameters per statement (SQLite's oldest limit is 999): an imported history's 50,000 rows
    # are a few hundred statements, not 50,000.
    per = max(1, 900 // (len(keys) + len(added) + len(replaced)))
    with connection.cursor() as cursor:
        full = _upsert_sql(model, keys, added, replaced, per) if len(rows) >= per else ""
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            sql = full if len(chunk) == per else _upsert_sql(model, keys, added, replaced, len(chunk))
            cursor.execute(sql, [value for row in chunk for value in row])


#: above this many rollup rows, PostgreSQL stages them with COPY instead of one VALUES statement
STAGE_ABOVE = 500
#: above this many orders of which none has facts yet (an imported history), PostgreSQL sums the rollups
#: from the staged facts in SQL instead of per order in Python
NEW_IN_SQL_ABOVE = 50


def _write_staged(deltas: Deltas, facts: list[Facts], ids: list[int]) -> None:
    """PostgreSQL, many rows (an imported history's orders): each table's rows go by COPY into a temporary
    table and join it with one `INSERT … SELECT … ON CONFLICT DO UPDATE`. A VALUES list of a few hundred
    thousand parameters costs seconds to build on the client and to parse and plan on the server; COPY
    costs neither. Same tables in the same order as the one-statement path, rows in key order."""
    qn = connection.ops.quote_name
    tables = [change for change in deltas.changes() if change[3]]
    if facts:
        tables.append(
            (
                OrderFacts,
                ("order_id",),
                (),
                [f.values(pk) for pk, f in zip(ids, facts, strict=True)],
                FACT_COLUMNS[1:],
            )
        )
    with connection.cursor() as cursor:
        for model, keys, added, rows, replaced in tables:
            table = qn(model._meta.db_table)
            staged = qn(f"_stage_{model._meta.db_table}")
            columns = (*keys, *replaced, *added)
            listed = ", ".join(qn(c) for c in columns)
            cursor.execute(f"DROP TABLE IF EXISTS {staged}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {staged} ON COMMIT DROP AS SELECT {listed} FROM {table} WITH NO DATA"
            )
            insert_rows(f"_stage_{model._meta.db_table}", columns, rows)
            updates = [f"{qn(c)} = excluded.{qn(c)}" for c in replaced]
            updates += [f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in added]
            cursor.execute(
                f"INSERT INTO {table} ({listed}) SELECT {listed} FROM {staged} "
                f"ORDER BY {', '.join(qn(c) for c in keys)} "
                f"ON CONFLICT ({', '.join(qn(c) for c in keys)}) DO UPDATE SET {', '.join(updates)}"
            )
            cursor.execute(f"DROP TABLE {staged}")


def _add_new_facts_in_sql(facts: list[Facts], ids: list[int]) -> None:
    """PostgreSQL, orders with no facts yet (an imported history): only the facts go by COPY into a temporary
    table; each rollup's rows are summed from it by the server — one `INSERT … SELECT … GROUP BY … ORDER BY
    key ON CONFLICT DO UPDATE` per table, the same rows `Deltas.add` of each order with sign +1 would add
    (rows that add nothing are left out, as `Deltas.changes` leaves them out). Same tables in the same order
    as the other paths; no Python work per order line."""
    qn = connection.ops.quote_name
    facts_table = OrderFacts._meta.db_table
    staged = qn(f"_stage_{facts_table}")
    listed = ", ".join(qn(c) for c in FACT_COLUMNS)
    # The counted orders' lines, summed per day, channel, currency and product (one pass over the JSON).
    per_product = qn("_stage_product_sales")
    expand = (
        f"CREATE TEMPORARY TABLE {per_product} ON COMMIT DROP AS SELECT f.day, f.channel_id, f.currency, "
        "(l.line->>0)::bigint AS product_id, "
        "sum((l.line->>1)::integer) AS units, sum((l.line->>2)::numeric) AS revenue "
        f"FROM {staged} f CROSS JOIN LATERAL jsonb_each(f.lines) AS l(variant, line) WHERE f.counted "
        "GROUP BY 1, 2, 3, 4"
    )
    block_start = (
        "CASE g.grain WHEN 'week' THEN v.day - (extract(isodow FROM v.day)::integer - 1) "
        "WHEN 'month' THEN date_trunc('month', v.day::timestamp)::date ELSE v.day END"
    )
    grains = " UNION ALL ".join(f"SELECT '{grain}'::varchar AS grain" for grain in GRAINS)
    kinds = [str(kind) for kind in OrderFacts.CustomerKind]
    sums = (
        # (model, keys, replaced, added, what to select) in the order and with the columns of Deltas.changes
        (
            DailySales,
            ("day", "channel_id", "currency"),
            (),
            SALES_COLUMNS,
            "f.day, f.channel_id, f.currency, count(*) FILTER (WHERE f.counted), "
            "count(*) FILTER (WHERE f.status = %(cancelled)s), "
            "coalesce(sum(f.sales) FILTER (WHERE f.counted), 0), "
            "coalesce(sum(f.refunds) FILTER (WHERE f.counted), 0), "
            "coalesce(sum(f.units) FILTER (WHERE f.counted), 0), "
            "coalesce(sum(f.returned_units) FILTER (WHERE f.counted), 0), "
            "count(*) FILTER (WHERE f.counted AND f.returned_units > 0), "
            + ", ".join(f"count(*) FILTER (WHERE f.counted AND f.customer_kind = '{k}')" for k in kinds)
            + f" FROM {staged} f GROUP BY f.day, f.channel_id, f.currency "
            "HAVING count(*) FILTER (WHERE f.counted OR f.status = %(cancelled)s) > 0",
        ),
        (
            ProductSales,
            ("grain", "start", "channel_id", "currency", "product_id"),
            (),
            ("units", "revenue"),
            f"g.grain, {block_start}, v.channel_id, v.currency, v.product_id, sum(v.units), sum(v.revenue) "
            f"FROM {per_product} v CROSS JOIN ({grains}) g GROUP BY 1, 2, 3, 4, 5 "
            "HAVING sum(v.units) <> 0 OR sum(v.revenue) <> 0",
        ),
        (
            DailyStatus,
            ("day", "channel_id", "status"),
            (),
            ("orders",),
            f"f.day, f.channel_id, f.status, count(*) FROM {staged} f GROUP BY f.day, f.channel_id, f.status",
        ),
        (
            DailyReturnReason,
            ("day", "channel_id", "reason"),
            (),
            ("units",),
            f"f.day, f.channel_id, r.reason, sum(r.units::integer) FROM {staged} f "
            "CROSS JOIN LATERAL jsonb_each_text(f.reasons) AS r(reason, units) WHERE f.counted "
            "GROUP BY f.day, f.channel_id, r.reason HAVING sum(r.units::integer) <> 0",
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {staged}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staged} ON COMMIT DROP AS SELECT {listed} FROM {qn(facts_table)} "
            "WITH NO DATA"
        )
        insert_rows(
            f"_stage_{facts_table}", FACT_COLUMNS, [f.values(pk) for pk, f in zip(ids, facts, strict=True)]
        )
        cursor.execute(f"DROP TABLE IF EXISTS {per_product}")
        cursor.execute(expand)
        for model, keys, replaced, added, select in sums:
            table = qn(model._meta.db_table)
            columns = ", ".join(qn(c) for c in (*keys, *replaced, *added))
            updates = [f"{qn(c)} = excluded.{qn(c)}" for c in replaced]
            updates += [f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in added]
            key = ", ".join(qn(c) for c in keys)
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {select} ORDER BY "
                f"{', '.join(str(i + 1) for i in range(len(keys)))} "
                f"ON CONFLICT ({key}) DO UPDATE SET {', '.join(updates)}",
                {"cancelled": S.CANCELLED.value},
            )
        updates = ", ".join(f"{qn(c)} = excluded.{qn(c)}" for c in FACT_COLUMNS[1:])
        cursor.execute(
            f"INSERT INTO {qn(facts_table)} ({listed}) SELECT {listed} FROM {staged} ORDER BY {qn('order_id')} "
            f"ON CONFLICT ({qn('order_id')}) DO UPDATE SET {updates}"
        )
        cursor.execute(f"DROP TABLE {staged}, {per_product}")


def _write_in_one_statement(deltas: Deltas, facts: list[OrderFacts]) -> None:
    """PostgreSQL: every rollup's upsert and the facts' upsert as the parts of ONE statement (one round trip
    instead of one per table). Each table's keys occur once (Deltas groups by key), as one upsert needs; the
    parts keep the fixed table order of `Deltas.changes`, so concurrent writers lock in one order."""
    parts, params = [], []
    for model, keys, added, rows, replaced in deltas.changes():
        if rows:
            parts.append(_upsert_sql(model, keys, added, replaced, len(rows)))
            params += [value for row in rows for value in row]
    if facts:
        parts.append(_upsert_sql(OrderFacts, ("order_id",), (), FACT_COLUMNS[1:], len(facts)))
        prep = {f.attname: f for f in OrderFacts._meta.concrete_fields}
        for row in facts:
            params += [prep[c].get_db_prep_save(getattr(row, c), connection) for c in FACT_COLUMNS]
    # Deferred: sent with the block's other trailing writes (a second write of the block sends the first).
    if not parts or batch.defer(parts, params, key="backoffice.rollups"):
        return
    sql = "WITH " + ", ".join(f"part{i} AS ({part})" for i, part in enumerate(parts)) + " SELECT 1"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# -- the two ways in ---------------------------------------------------------------------------------------


def refresh(*, order_ids: Iterable[int]) -> None:
    """Bring the rollups up to date with these orders' rows, in the caller's transaction."""
    ids = sorted(set(order_ids))
    batch.flush()  # the facts and rollups are read below: pending writes of the block first
    with transaction.atomic(savepoint=False):  # part of the caller's change: it fails with it
        old = {
            row.order_id: Facts.of_row(row)
            for row in OrderFacts.objects.select_for_update().filter(order_id__in=ids)
        }
        new = facts_for(ids)
        if not old and len(new) > NEW_IN_SQL_ABOVE and connection.vendor == "postgresql":
            _add_new_facts_in_sql(list(new.values()), list(new))
            return
        deltas, changed, changed_ids = Deltas(), [], []
        for pk in ids:
            before, after = old.get(pk), new.get(pk)
            if before == after:
                continue
            if before is not None:
                deltas.add(before, -1)
            if after is not None:
                deltas.add(after, +1)
                changed.append(after)
                changed_ids.append(pk)
        if connection.vendor != "postgresql":
            deltas.write()
            _save_facts([f.row(pk) for pk, f in zip(changed_ids, changed, strict=True)])
        elif deltas.size() + len(changed) > STAGE_ABOVE:
            _write_staged(deltas, changed, changed_ids)
        else:
            _write_in_one_statement(deltas, [f.row(pk) for pk, f in zip(changed_ids, changed, strict=True)])


def _save_facts(rows: list[OrderFacts]) -> None:
    if rows:
        OrderFacts.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["order"],
            update_fields=[f.name for f in OrderFacts._meta.concrete_fields if not f.primary_key],
        )


def rebuild(*, batch: int = 5000) -> int:
    """Recompute every rollup from the orders (backfill of imported history, repair); returns the orders
    counted in. Runs in one transaction: the dashboard shows the old figures until the new ones commit."""
    with transaction.atomic():
        for model in ROLLUPS:
            model.objects.all().delete()
        first_orders: dict[int, int] = {}
        for customer_id, pk in (
            Order.objects.filter(customer__isnull=False)
            .order_by("customer_id", "created_at", "pk")
            .values_list("customer_id", "pk")
            .iterator(chunk_size=20000)
        ):
            first_orders.setdefault(customer_id, pk)
        ids = list(Order.objects.order_by("pk").values_list("pk", flat=True))
        deltas = Deltas()
        for start in range(0, len(ids), batch):
            chunk = facts_for(ids[start : start + batch], first_orders=first_orders)
            for facts in chunk.values():
                deltas.add(facts, +1)
            insert_rows(OrderFacts._meta.db_table, FACT_COLUMNS, [f.values(pk) for pk, f in chunk.items()])
        deltas.write(into_empty=True)
        _analyze(ROLLUPS)
    return len(ids)


def _analyze(models: Iterable) -> None:
    """Fresh planner statistics for tables rewritten wholesale: until autovacuum notices (up to a minute or
    more), PostgreSQL would plan the dashboard's range reads with default guesses on the new rows."""
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def placed_facts(order: Order, rows: PlacedRows) -> Facts:
    """The facts of an order placed in the caller's transaction, from the rows its checkout just wrote
    (`facts_for` would read them back): booked on its own day, refunds only from its own payment (its
    number is its new payment reference), no returns yet. A customer's order needs one read: is it their
    first?"""
    if order.customer_id is None:
        kind = OrderFacts.CustomerKind.GUEST
    else:
        earlier = Order.objects.filter(customer_id=order.customer_id).filter(
            Q(created_at__lt=order.created_at) | Q(created_at=order.created_at, pk__lt=order.pk)
        )
        kind = OrderFacts.CustomerKind.RETURNING if earlier.exists() else OrderFacts.CustomerKind.NEW
    lines: dict[str, list] = {}
    for variant_id, product_id, quantity, line_total in rows.lines:
        if quantity or line_total:
            lines[str(variant_id)] = [product_id, quantity, str(line_total)]
    return Facts(
        day=order.created_at.date(),
        channel_id=order.channel_id,
        currency=order.currency,
        status=order.status,
        customer_kind=str(kind),
        sales=order.total,
        refunds=rows.refunded,
        units=sum(line[2] for line in rows.lines),
        returned_units=0,
        lines=lines,
        reasons={},
    )


def record_placed(order: Order, rows: PlacedRows) -> None:
    """`refresh` for an order placed in the caller's transaction, without reading anything back: it has
    no facts yet (no one else can see the order), so its facts are added as they are — in one statement,
    or deferred into the checkout's one trailing statement (core.batch)."""
    facts = placed_facts(order, rows)
    deltas = Deltas()
    deltas.add(facts, +1)
    if connection.vendor != "postgresql":
        deltas.write()
        _save_facts([facts.row(order.pk)])
    else:
        _write_in_one_statement(deltas, [facts.row(order.pk)])


def on_order_event(sender, instance: OrderEvent, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw and instance.kind not in NEUTRAL_KINDS:
        rows = getattr(instance.order, "placed_rows", None) if instance.kind == "placed" else None
        if rows is not None:  # the checkout says what it wrote: nothing to read back
            record_placed(instance.order, rows)
        else:
            refresh(order_ids=[instance.order_id])


def on_past_orders(channel, orders) -> None:
    """Imported history (written in bulk, without timeline events per change) joins the rollups."""
    ids = [o.order_id for o in orders]
    for start in range(0, len(ids), 2000):
        refresh(order_ids=ids[start : start + 2000])


def connect() -> None:
    """Called once from BackofficeConfig.ready()."""
    post_save.connect(on_order_event, sender=OrderEvent, dispatch_uid="backoffice.analytics.rollups")
    on_past_orders_recorded(on_past_orders)
