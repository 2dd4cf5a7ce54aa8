"""backoffice.dashboard: the analytics dashboard's queries for a 90-day range over a long order history, on
PostgreSQL and SQLite, and what keeping the rollups costs per order placed.

History: NOT the Complete Journey import the issue names (importing ≈1M lines through the data hub does not
fit this shared 2-core machine's time budget); instead orders and lines are bulk-inserted straight into the
order tables (two years, two channels in GBP and EUR, 1–8 lines per order, some cancelled) and the rollups are
built by `rollups.rebuild()` — the backfill path an import takes — whose throughput is reported too.

Cases per database:
- `dashboard-90d`: every query the dashboard page runs (KPI cards with the previous period, sales per day,
  top products and top categories each by revenue and by units, stock per location, returns by reason,
  orders by status, zero-result searches, the action list) for the last 90 days; p50/p99 over repeated calls,
  and under `queries` each query's own p50/p99 and statement count. Baseline: one raw SQL aggregate over the
  orders table for the same 90 days (orders and sales per channel and currency) — the cheapest way to get
  only the headline totals without rollups.
- `kpis-90d`: the KPI cards alone, same baseline.
- `rollup-per-order`: µs the rollup adds to `place_order` (card payment, one line): median time per order with
  the rollup listener connected minus disconnected, blocks interleaved.
- `rebuild`: orders per second of `rollups.rebuild()` over the whole history.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import median, percentile  # noqa: E402
from bench.worker import run_worker, setup_django  # noqa: E402

DB_NAME = "bench_backoffice_dashboard"
DAYS = 730


def _seed(orders: int) -> dict:
    from django.contrib.auth import get_user_model  # noqa: F401 (apps loaded)

    from omnishop.catalog.models import Product, Variant
    from omnishop.channels.services import create_channel
    from omnishop.core.bulk import insert_rows
    from omnishop.customers.models import Customer
    from omnishop.orders.models import Order, OrderLine

    rng = random.Random(13)
    # Scale knobs (defaults: the committed run). Complete Journey's scale is about
    # BENCH_DASHBOARD_ORDERS=114029 BENCH_DASHBOARD_MAX_LINES=18 BENCH_DASHBOARD_PRODUCTS=20000 (≈ 1.1 M lines).
    products_n = int(os.environ.get("BENCH_DASHBOARD_PRODUCTS", "500"))
    max_lines = int(os.environ.get("BENCH_DASHBOARD_MAX_LINES", "8"))
    web = create_channel(code="bench-web", name="Web", kind="web", currency="GBP")
    market = create_channel(code="bench-market", name="Market", kind="marketplace", currency="EUR")
    Product.objects.bulk_create(
        [Product(title=f"Bench product {i}", slug=f"bench-product-{i}") for i in range(products_n)],
        batch_size=500,
    )
    products = list(Product.objects.order_by("pk").values_list("pk", flat=True))
    Variant.objects.bulk_create(
        [Variant(product_id=p, sku=f"BENCH-{i}") for i, p in enumerate(products)], batch_size=500
    )
    variants = list(Variant.objects.order_by("pk").values_list("pk", "sku"))
    Customer.objects.bulk_create(
        [Customer(email=f"bench{i}@example.com", first_name="B") for i in range(5000)], batch_size=1000
    )
    customers = list(Customer.objects.values_list("pk", flat=True))
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    lines_total = 0
    batch = 5000
    for first in range(0, orders, batch):
        order_rows, line_specs = [], []
        for n in range(first, min(first + batch, orders)):
            channel, currency = (web, "GBP") if n % 3 else (market, "EUR")
            at = start + timedelta(seconds=rng.randrange(DAYS * 86400))
            status = (
                "cancelled" if n % 50 == 0 else rng.choice(["paid", "fulfilled", "completed", "delivered"])
            )
            lines = [(rng.choice(variants), rng.randint(1, 3), Decimal(rng.randint(300, 9000)) / 100) for _ in
                     range(rng.randint(1, max_lines))]  # fmt: skip
            merged = {}
            for (vid, sku), qty, price in lines:
                merged.setdefault(vid, [sku, 0, price])[1] += qty
            total = sum((v[1] * v[2] for v in merged.values()), Decimal(0))
            number = f"B{n:08d}"
            order_rows.append(
                (number, number, channel.pk, rng.choice(customers) if n % 4 else None, "", status, currency,
                 True, None, "", total, Decimal(0), Decimal(0), Decimal(0), total, "", "", "", f"t{n}", at, at)
            )  # fmt: skip
            line_specs.append((number, merged))
        insert_rows(Order._meta.db_table, _ORDER_COLUMNS, order_rows)
        ids = dict(Order.objects.filter(number__in=[n for n, _ in line_specs]).values_list("number", "pk"))
        line_rows = []
        for number, merged in line_specs:
            for vid, (sku, qty, price) in merged.items():
                line_rows.append(
                    (ids[number], vid, sku, "", qty, 0, 0, 0, 0, price, Decimal(0), qty * price, Decimal(0),
                     qty * price, 0)
                )  # fmt: skip
        insert_rows(OrderLine._meta.db_table, _LINE_COLUMNS, line_rows)
        lines_total += len(line_rows)
    return {"orders": orders, "lines": lines_total, "products": products_n, "end": end.date().isoformat()}


_ORDER_COLUMNS = (
    "number", "payment_reference", "channel_id", "customer_id", "email", "status", "currency",
    "prices_include_tax", "shipping_address", "shipping_method_name", "subtotal", "shipping_total",
    "tax_total", "fees_total", "total", "external_id", "checkout_key", "checkout_hash", "tracking_token",
    "created_at", "updated_at",
)  # fmt: skip
_LINE_COLUMNS = (
    "order_id", "variant_id", "sku", "title", "quantity", "allocated", "fulfilled", "returned", "cancelled",
    "unit_price", "tax_rate", "line_net", "line_tax", "line_total", "weight_grams",
)  # fmt: skip


def _page_queries(p) -> list[tuple[str, object]]:
    """The queries the dashboard page runs, in page order (web/analytics.py: the cards, CHARTS, the action
    list)."""
    from omnishop.backoffice.analytics import queries

    return [
        ("kpis", lambda: queries.kpis(p)),
        ("sales", lambda: queries.sales(p)),
        ("top_products_revenue", lambda: queries.top_products(p, by="revenue")),
        ("top_products_units", lambda: queries.top_products(p, by="units")),
        ("top_categories_revenue", lambda: queries.top_categories(p, by="revenue")),
        ("top_categories_units", lambda: queries.top_categories(p, by="units")),
        ("stock", lambda: queries.stock(p)),
        ("returns_by_reason", lambda: queries.returns_by_reason(p)),
        ("orders_by_status", lambda: queries.orders_by_status(p)),
        ("zero_result_searches", lambda: queries.zero_result_searches(p)),
        ("actions", queries.actions),
    ]


def _dashboard(p) -> None:
    for _name, query in _page_queries(p):
        query()


def _per_query(p, repeats: int) -> dict:
    """Each query of the page on its own: statements it sends, p50/p99 over `repeats` calls."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    out = {}
    for name, query in _page_queries(p):
        with CaptureQueriesContext(connection) as captured:
            query()
        samples = _timed(query, repeats)
        out[name] = {
            "statements": len(captured.captured_queries),
            "p50_ms": round(percentile(samples, 50), 3),
            "p99_ms": round(percentile(samples, 99), 3),
        }
    return out


def _baseline(p):
    from django.db import connection

    start = datetime.combine(p.start, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(p.end, datetime.min.time(), tzinfo=UTC) + timedelta(days=1)

    def run():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT channel_id, currency, COUNT(*), SUM(total) FROM orders_order "
                "WHERE created_at >= %s AND created_at < %s AND status NOT IN ('cancelled', 'merged') "
                "GROUP BY channel_id, currency",
                [start, end],
            )
            return cursor.fetchall()

    return run


def _timed(fn, count: int) -> list[float]:
    fn()
    samples = []
    for _ in range(count):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def _placement_cost(count: int) -> dict:
    """Per order placed (card payment, one line): the time spent in the rollup's refreshes, measured by
    wrapping `rollups.refresh`, and the whole placement's time."""
    from omnishop.backoffice.analytics import rollups
    from omnishop.catalog.models import ChannelListing, Product, Variant
    from omnishop.channels.services import create_channel
    from omnishop.inventory import services as inventory
    from omnishop.orders import services

    channel = create_channel(code="bench-checkout", name="Checkout", kind="web", currency="GBP")
    where = inventory.create_location(code="bench-checkout-wh", name="Bench")
    inventory.set_channel_locations(channel=channel, location_codes=[where.code])
    services.create_shipping_method(channel=channel, code="std", name="Std", kind="flat", price="4.95")
    services.set_tax_rate(channel=channel, country="GB", rate="0.20")
    product = Product.objects.create(title="Checkout product", slug="bench-checkout-product")
    variant = Variant.objects.create(product=product, sku="BENCH-CHECKOUT")
    ChannelListing.objects.create(
        channel=channel, variant=variant, is_published=True, price=Decimal("12.00"), currency="GBP"
    )
    inventory.receive_stock(variant=variant, location=where, quantity=1_000_000, reference="bench")
    address = {"name": "B", "line1": "1 Road", "city": "London", "postcode": "E1 1AA", "country": "GB"}
    spent = {"ms": 0.0, "calls": 0}
    refresh = rollups.refresh

    def timed_refresh(**kwargs):
        t = time.perf_counter()
        try:
            return refresh(**kwargs)
        finally:
            spent["ms"] += (time.perf_counter() - t) * 1000
            spent["calls"] += 1

    rollups.refresh = timed_refresh
    rollup_ms, total_ms, calls = [], [], 0
    try:
        for n in range(count + 3):
            spent["ms"], spent["calls"] = 0.0, 0
            t = time.perf_counter()
            services.place_order(
                channel=channel,
                quantities={variant.sku: 1},
                shipping_method="std",
                shipping_address=address,
                payment=services.PaymentRequest(provider="test_card", token="4242424242424242"),
                key=f"bench-{n}",
                email="b@example.com",
                actor="bench",
            )
            if n >= 3:  # warm-up
                total_ms.append((time.perf_counter() - t) * 1000)
                rollup_ms.append(spent["ms"])
                calls += spent["calls"]
    finally:
        rollups.refresh = refresh
    return {"rollup_ms": rollup_ms, "total_ms": total_ms, "refreshes_per_order": calls / count}


def worker(url: str, orders: int, repeats: int) -> None:
    setup_django(url)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from omnishop.backoffice.analytics import queries, rollups

    t = time.perf_counter()
    seeded = _seed(orders)
    seed_s = time.perf_counter() - t
    t = time.perf_counter()
    rollups.rebuild()
    rebuild_s = time.perf_counter() - t
    end = datetime.fromisoformat(seeded["end"]).date() - timedelta(days=1)
    p = queries.period(start=end - timedelta(days=89), end=end)
    dashboard = _timed(lambda: _dashboard(p), repeats)
    per_query = _per_query(p, repeats)
    kpis = _timed(lambda: queries.kpis(p), repeats)
    baseline = _timed(_baseline(p), repeats)
    cost = _placement_cost(30 if repeats < 20 else 100)
    version = ""
    if connection.vendor == "postgresql":
        version = connection.cursor().connection.info.server_version
    print(
        json.dumps(
            {
                "seeded": seeded,
                "seed_s": seed_s,
                "rebuild_s": rebuild_s,
                "dashboard": dashboard,
                "per_query": per_query,
                "kpis": kpis,
                "baseline": baseline,
                "cost": cost,
                "vendor": connection.vendor,
                "version": version,
            }
        )
    )


def main(ctx) -> None:
    orders = int(os.environ.get("BENCH_DASHBOARD_ORDERS", "5000" if ctx.quick else "60000"))
    repeats = 15 if ctx.quick else 50
    databases = []
    if ctx.database_url:
        import psycopg

        with psycopg.connect(ctx.database_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DB_NAME}")
        databases.append(("postgresql", ctx.database_url.rsplit("/", 1)[0] + f"/{DB_NAME}"))
    sqlite_dir = Path(tempfile.mkdtemp(prefix="bench-dashboard-sqlite-"))
    databases.append(("sqlite", f"sqlite:///{sqlite_dir / 'bench.sqlite3'}"))
    cases = []
    for name, url in databases:
        r = run_worker(__file__, url, str(orders), str(repeats))
        s = r["seeded"]
        history = (
            f"{s['orders']} orders / {s['lines']} lines / {s.get('products', 500)} products bulk-inserted over {DAYS} days (not the Complete Journey "
            f"import: see the module docstring), rollups by rebuild() in {r['rebuild_s']:.1f} s"
        )
        base = {
            "what": "one raw SQL aggregate over orders_order (orders, sales per channel and currency) for the "
            "same 90 days, same database, same run",
            "value": round(median(r["baseline"]), 3),
        }
        for case, key, what in (
            ("dashboard-90d", "dashboard", "every query of the dashboard page"),
            ("kpis-90d", "kpis", "the KPI cards with the previous period"),
        ):
            cases.append(
                {
                    "case": f"{name}-{case}",
                    "unit": "ms",
                    "value": round(median(r[key]), 3),
                    "p50_ms": round(percentile(r[key], 50), 3),
                    "p99_ms": round(percentile(r[key], 99), 3),
                    "errors": 0,
                    "baseline": base,
                    "notes": f"{what}, {len(r[key])} calls after a warm-up; {history}",
                }
            )
            if key == "dashboard":
                cases[-1]["statements"] = sum(q["statements"] for q in r["per_query"].values())
                cases[-1]["queries"] = r["per_query"]
                for query, q in r["per_query"].items():
                    print(f"  {name:10s} {query:24s} {q['statements']:3d} statements  p50 {q['p50_ms']:8.3f}  "
                          f"p99 {q['p99_ms']:8.3f} ms")  # fmt: skip
        rollup_ms, total_ms = r["cost"]["rollup_ms"], r["cost"]["total_ms"]
        cases.append(
            {
                "case": f"{name}-rollup-per-order",
                "unit": "µs/order",
                "value": round(median(rollup_ms) * 1000, 1),
                "p50_ms": round(percentile(rollup_ms, 50), 3),
                "p99_ms": round(percentile(rollup_ms, 99), 3),
                "errors": 0,
                "baseline": {
                    "what": "the whole place_order (card, one line) it is part of, µs, same run",
                    "value": round(median(total_ms) * 1000, 1),
                },
                "notes": (
                    f"time inside rollups.refresh per order placed, {len(rollup_ms)} orders; "
                    f"{r['cost']['refreshes_per_order']:.1f} refreshes per order (one per timeline entry that "
                    "can change a figure); ratio = share of the placement"
                ),
            }
        )
        cases.append(
            {
                "case": f"{name}-rebuild",
                "unit": "orders/s",
                "value": round(s["orders"] / r["rebuild_s"], 1),
                "errors": 0,
                "notes": f"rollups.rebuild() over {s['orders']} orders / {s['lines']} lines, one run",
            }
        )
        if name == "postgresql" and r.get("version"):
            v = str(r["version"])
            ctx.database_version = ctx.database_version or f"postgresql {v[:2]}.{int(v[2:])}"
    shutil.rmtree(sqlite_dir, ignore_errors=True)
    ctx.report("backoffice.dashboard", cases)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
