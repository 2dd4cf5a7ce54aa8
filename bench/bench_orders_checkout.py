"""orders.checkout_http: checkout throughput over HTTP on PostgreSQL, and the flash sale.

`omnishop serve` (its default server, granian: 2 workers of one thread; at 8 clients also gunicorn's 2 sync
workers, and 2 workers of 4 threads at 8 and 32) serves the API; the load generator runs on the same machine as
threads (each request a fresh connection), 1, 8 and 32 concurrent clients, each
POSTing /api/v1/orders/checkout (channel key, one random SKU of 2,000, test_card payment, Idempotency-Key)
for a fixed window. A checkout there quotes, reserves stock, takes the payment, writes the order with its line,
payment, allocation and timeline. Baseline, same run, same database, same client threads: the equivalent
transaction in raw SQL via psycopg (conditional stock decrement + order + line insert, one COMMIT) on
copies of the tables. Flash sale: 1,000 buyers at once on one SKU with 100 units — it must end with exactly 100
orders and 0 units left; its wall time and p99 are reported.
"""

from __future__ import annotations

import functools
import http.client
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson

from bench.harness import BenchContext, median, percentile

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (the worker process)
    sys.path.insert(0, str(ROOT))

from bench.worker import setup_django  # noqa: E402

SKUS = 2000
FLASH = "BENCH-FLASH"
FLASH_UNITS = 100
FLASH_CLIENTS = 1000
CHANNEL = "bench-orders"
LOCATION = "bench-orders-wh"
ADDRESS = {
    "name": "Bench Buyer",
    "line1": "1 Load Street",
    "city": "London",
    "postcode": "E1 1AA",
    "country": "GB",
}
SECRET = "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
# The columns the raw-SQL baseline writes (what a checkout writes that matters for cost; the rest are left
# NULL in the copies, see _seed).
RAW_ORDER_COLUMNS = (
    "number", "payment_reference", "channel_id", "email", "status", "currency", "checkout_hash",
    "prices_include_tax", "shipping_method_name", "subtotal", "shipping_total", "tax_total", "total",
    "fees_total", "external_id", "checkout_key", "tracking_token", "created_at", "updated_at",
)  # fmt: skip
RAW_LINE_COLUMNS = (
    "order_id", "variant_id", "sku", "title", "quantity", "allocated", "fulfilled", "returned", "cancelled",
    "unit_price", "tax_rate", "line_net", "line_tax", "line_total", "weight_grams",
)  # fmt: skip


def _django(db_url: str) -> None:
    setup_django(db_url, debug=None, secret=SECRET)


def _seed() -> dict:
    from decimal import Decimal

    from django.core.management import call_command
    from django.db import connection

    from omnishop.catalog.models import ChannelListing, Product, Variant
    from omnishop.channels.models import Channel
    from omnishop.channels.services import create_channel, issue_api_key
    from omnishop.inventory import services as inventory
    from omnishop.inventory.models import StockLevel, StockLocation, StockMovement
    from omnishop.orders import services as orders
    from omnishop.orders.models import ShippingMethod

    call_command("migrate", verbosity=0)
    channel = Channel.objects.filter(code=CHANNEL).first() or create_channel(
        code=CHANNEL, name="Bench orders", kind="web", currency="GBP"
    )
    location = StockLocation.objects.filter(code=LOCATION).first() or inventory.create_location(
        code=LOCATION, name="Bench orders warehouse"
    )
    inventory.set_channel_locations(channel=channel, location_codes=[LOCATION])
    if not ShippingMethod.objects.filter(channel=channel, code="std").exists():
        orders.create_shipping_method(channel=channel, code="std", name="Standard", kind="flat", price="3.95")
    orders.set_tax_rate(channel=channel, country="GB", rate="0.20")
    product, _ = Product.objects.get_or_create(slug="bench-orders", defaults={"title": "Bench orders"})
    skus = [f"BO-{i:05d}" for i in range(SKUS)] + [FLASH]
    existing = set(Variant.objects.filter(sku__in=skus).values_list("sku", flat=True))
    Variant.objects.bulk_create(
        [Variant(product=product, sku=s, weight_grams=300) for s in skus if s not in existing]
    )
    variants = dict(Variant.objects.filter(sku__in=skus).values_list("sku", "pk"))
    listed = set(ChannelListing.objects.filter(channel=channel).values_list("variant_id", flat=True))
    ChannelListing.objects.bulk_create(
        [
            ChannelListing(
                channel=channel, variant_id=pk, is_published=True, price=Decimal("9.99"), currency="GBP"
            )
            for pk in variants.values()
            if pk not in listed
        ]
    )
    stocked = set(StockLevel.objects.filter(location=location).values_list("variant_id", flat=True))
    fresh = {sku: 10_000_000 for sku in skus if variants[sku] not in stocked and sku != FLASH}
    StockMovement.objects.bulk_create(
        [
            StockMovement(
                variant_id=variants[s], location=location, kind="receipt", quantity=q, reference="bench"
            )
            for s, q in fresh.items()
        ]
    )
    StockLevel.objects.bulk_create(
        [StockLevel(variant_id=variants[s], location=location, on_hand=q) for s, q in fresh.items()]
    )
    with connection.cursor() as cursor:
        for table in ("bench_raw_stock", "bench_raw_order", "bench_raw_line"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute("CREATE TABLE bench_raw_stock (LIKE inventory_stocklevel INCLUDING ALL)")
        cursor.execute(
            "INSERT INTO bench_raw_stock SELECT * FROM inventory_stocklevel WHERE location_id = %s",
            [location.pk],
        )
        cursor.execute(
            "CREATE TABLE bench_raw_order (LIKE orders_order INCLUDING DEFAULTS INCLUDING INDEXES)"
        )
        cursor.execute("CREATE SEQUENCE IF NOT EXISTS bench_raw_order_seq")
        cursor.execute(
            "ALTER TABLE bench_raw_order ALTER COLUMN id SET DEFAULT nextval('bench_raw_order_seq')"
        )
        cursor.execute(
            "CREATE TABLE bench_raw_line (LIKE orders_orderline INCLUDING DEFAULTS INCLUDING INDEXES)"
        )
        cursor.execute("CREATE SEQUENCE IF NOT EXISTS bench_raw_line_seq")
        cursor.execute("ALTER TABLE bench_raw_line ALTER COLUMN id SET DEFAULT nextval('bench_raw_line_seq')")
        # Django declares no database defaults: a NOT NULL column added to orders later (fees_total did,
        # on 1 Dec) made every baseline INSERT fail, and the baseline reported 0 orders/s. The copies keep
        # NOT NULL only on the columns the baseline writes, so a new column cannot silently zero it again.
        for table, written in (("bench_raw_order", RAW_ORDER_COLUMNS), ("bench_raw_line", RAW_LINE_COLUMNS)):
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND is_nullable = 'NO' AND column_default IS NULL",
                [table],
            )
            for (column,) in cursor.fetchall():
                if column not in written:
                    cursor.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" DROP NOT NULL')
        cursor.execute("ANALYZE")
    key = issue_api_key(channel=channel, name="bench", scopes=["orders:read", "orders:write"]).secret
    return {"channel_id": channel.pk, "location_id": location.pk, "variants": variants, "api_key": key}


def _flash_stock(env: dict) -> None:
    from omnishop.catalog.models import Variant
    from omnishop.inventory import services as inventory
    from omnishop.inventory.models import StockLevel, StockLocation

    level = StockLevel.objects.filter(
        variant_id=env["variants"][FLASH], location_id=env["location_id"]
    ).first()
    have = level.free if level else 0
    if have < FLASH_UNITS:
        inventory.receive_stock(
            variant=Variant.objects.get(sku=FLASH),
            location=StockLocation.objects.get(pk=env["location_id"]),
            quantity=FLASH_UNITS - have,
            reference="bench-flash",
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(
    db_url: str, threads: int = 1, extra_env: dict[str, str] | None = None, server_kind: str = ""
) -> tuple[subprocess.Popen, int]:
    """`omnishop serve`, 2 workers: its default server (granian) unless `server_kind` names one."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SECRET_KEY": SECRET,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "PYTHONPATH": str(ROOT / "src"),
        **(extra_env or {}),
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/omnishop"),
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
            "--threads",  # the gthread cases ran sync workers until 3 Dec: this argument was not passed
            str(threads),
            "--no-collectstatic",
            *(["--server", server_kind] if server_kind else []),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/health")
            ok = conn.getresponse().status == 200
            conn.close()
            if ok:
                break
        except OSError:
            time.sleep(0.3)
    return server, port


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def _case(name: str, http: dict, baseline: dict, notes: str) -> dict:
    keys = ("value", "p50_ms", "p99_ms", "errors", "error_rate")
    return {
        "case": name,
        "unit": "orders/s",
        **{k: http[k] for k in keys},
        "baseline": baseline,
        "notes": notes,
    }


def _checkout_op(port: int, key: str, sku_for):
    def op() -> str:
        payload = orjson.dumps(
            {
                "lines": [{"sku": sku_for(), "quantity": 1}],
                "shipping_method": "std",
                "shipping_address": ADDRESS,
                "payment": {"provider": "test_card", "token": "4242424242424242"},
            }
        )
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request(
            "POST",
            "/api/v1/orders/checkout",
            body=payload,
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            },
        )
        response = conn.getresponse()
        body = response.read()
        conn.close()
        if response.status == 201:
            return "ok"
        try:
            return orjson.loads(body)["error"]["code"]
        except Exception:
            return f"http_{response.status}"

    return op


def _raw_op(db_url: str, env: dict, sku_for):
    import psycopg

    pg = psycopg.connect(db_url)
    variants, location_id, channel_id = env["variants"], env["location_id"], env["channel_id"]

    def op() -> str:
        variant_id = variants[sku_for()]
        number = "RAW-" + uuid.uuid4().hex[:10].upper()
        with pg.transaction(), pg.cursor() as cur:
            cur.execute(
                "UPDATE bench_raw_stock SET allocated = allocated + 1, updated_at = now() "
                "WHERE variant_id = %s AND location_id = %s AND on_hand - allocated - reserved >= 1",
                (variant_id, location_id),
                prepare=True,
            )
            if cur.rowcount != 1:
                raise RuntimeError("insufficient")
            cur.execute(
                f"INSERT INTO bench_raw_order ({', '.join(RAW_ORDER_COLUMNS)}) VALUES (%s, %s, %s, '', 'paid', "
                "'GBP', '', true, 'Standard', 9.99, 3.95, 2.32, 13.94, 0, '', %s, %s, now(), now()) RETURNING id",
                (number, number, channel_id, number, uuid.uuid4().hex),
                prepare=True,
            )
            order_id = cur.fetchone()[0]
            cur.execute(
                f"INSERT INTO bench_raw_line ({', '.join(RAW_LINE_COLUMNS)}) "
                "VALUES (%s, %s, 'x', 'x', 1, 1, 0, 0, 0, 9.99, 0.2, 8.33, 1.66, 9.99, 300)",
                (order_id, variant_id),
                prepare=True,
            )
        return "ok"

    return op


def _run(make_op, clients: int, seconds: float) -> tuple[float, list[float], dict]:
    """`clients` threads, each calling its own op in a loop for `seconds`; returns rate, latencies, outcomes."""
    ops = [make_op() for _ in range(clients)]
    start_at = time.time() + 0.3
    end_at = start_at + seconds
    samples: list[float] = []
    outcomes: dict[str, int] = {}
    lock = threading.Lock()

    def worker(op):
        mine, counts = [], {}
        while time.time() < start_at:
            time.sleep(0.001)
        while True:
            t0 = time.perf_counter()
            try:
                outcome = op()
            except Exception as exc:
                outcome = type(exc).__name__
            t1 = time.perf_counter()
            if time.time() > end_at:
                break
            mine.append((t1 - t0) * 1000)
            counts[outcome] = counts.get(outcome, 0) + 1
        with lock:
            samples.extend(mine)
            for k, v in counts.items():
                outcomes[k] = outcomes.get(k, 0) + v

    threads = [threading.Thread(target=worker, args=(op,)) for op in ops]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = outcomes.get("ok", 0)
    return ok / seconds, samples, outcomes


def _measure(make_op, clients: int, seconds: float, repeats: int) -> dict:
    return _summary([_run(make_op, clients, seconds) for _ in range(repeats)])


def _summary(windows: list) -> dict:
    rates, samples, outcomes = [], [], {}
    for rate, s, o in windows:
        rates.append(rate)
        samples += s
        for k, v in o.items():
            outcomes[k] = outcomes.get(k, 0) + v
    total = sum(outcomes.values())
    return {
        "value": round(median(rates), 1),
        "p50_ms": round(percentile(samples, 50), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "errors": total - outcomes.get("ok", 0),
        "error_rate": round((total - outcomes.get("ok", 0)) / total, 4) if total else None,
        "outcomes": outcomes,
    }


def _flash_sale(port: int, env: dict) -> dict:
    op = _checkout_op(port, env["api_key"], lambda: FLASH)
    results: list[tuple[str, float]] = []
    lock = threading.Lock()
    go = threading.Event()

    def buyer():
        go.wait()
        t0 = time.perf_counter()
        try:
            outcome = op()
        except Exception as exc:
            outcome = type(exc).__name__
        with lock:
            results.append((outcome, (time.perf_counter() - t0) * 1000))

    threads = [threading.Thread(target=buyer) for _ in range(FLASH_CLIENTS)]
    for t in threads:
        t.start()
    started = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    outcomes: dict[str, int] = {}
    for outcome, _ in results:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {"wall_s": wall, "latencies": [ms for _, ms in results], "outcomes": outcomes}


def main(ctx: BenchContext) -> None:
    if not ctx.database_url:
        print("orders.checkout_http: BENCH_DATABASE_URL is not set (run scripts/run-bench); skipped")
        return
    _django(ctx.database_url)
    env = _seed()
    seconds, repeats = (2.0, 1) if ctx.quick else (5.0, 3)
    skus = [s for s in env["variants"] if s != FLASH]

    def any_sku():
        return random.choice(skus)

    cases: list[dict] = []
    server, port = _start_server(ctx.database_url)
    try:
        _run(lambda: _checkout_op(port, env["api_key"], any_sku), 4, 1.0)  # warm both workers
        for clients in (1, 8, 32):
            baseline = _measure(lambda: _raw_op(ctx.database_url, env, any_sku), clients, seconds, repeats)
            http = _measure(lambda: _checkout_op(port, env["api_key"], any_sku), clients, seconds, repeats)
            cases.append(
                {
                    "case": f"{clients}-clients-uniform",
                    "unit": "orders/s",
                    "value": http["value"],
                    "p50_ms": http["p50_ms"],
                    "p99_ms": http["p99_ms"],
                    "errors": http["errors"],
                    "error_rate": http["error_rate"],
                    "baseline": {
                        "what": "same transaction as raw SQL via psycopg (stock decrement + order + line, "
                        "one COMMIT), same database, same run, same client threads",
                        "value": baseline["value"],
                        "p50_ms": baseline["p50_ms"],
                        "p99_ms": baseline["p99_ms"],
                        "errors": baseline["errors"],
                        "outcomes": baseline["outcomes"],
                    },
                    "notes": f"POST /api/v1/orders/checkout, omnishop serve (granian, 2 workers of 1 thread), {clients} client "
                    f"threads on the same machine, {repeats}x{seconds:.0f}s windows, value = median; "
                    f"outcomes {http['outcomes']}",
                }
            )
    finally:
        _stop(server)
    # granian against gunicorn's 2 sync workers (`--server gunicorn`, ADR 0053) at 8 clients: one server at a
    # time (an idle server's relay threads still wake on every order), their windows alternating with a fresh
    # start each, so that neither inherits the other's or a baseline's aftermath (a checkpoint, autovacuum).
    windows: dict[str, list] = {"granian": [], "gunicorn": []}
    for _ in range(repeats):
        for kind in windows:
            server, port = _start_server(ctx.database_url, server_kind=kind)
            try:
                op = functools.partial(_checkout_op, port, env["api_key"], any_sku)
                _run(op, 4, 1.0)
                windows[kind].append(_run(op, 8, seconds))
            finally:
                _stop(server)
    base = next(c for c in cases if c["case"] == "8-clients-uniform")["baseline"]
    for kind, runs in windows.items():
        http = _summary(runs)
        cases.append(
            _case(
                f"8-clients-uniform-ab-{kind}",
                http,
                base,
                f"omnishop serve on {kind}, 2 workers of 1 thread; {repeats} windows of {seconds:.0f}s "
                "alternating with the other server's, each on a freshly started server; value = median; "
                f"outcomes {http['outcomes']}",
            )
        )
    # The same 2 worker processes with 4 threads each: a worker waiting on a commit's fsync no longer idles
    # the CPU, so commits overlap (PostgreSQL group commit), as the raw-SQL clients' do. Until 5 Dec these
    # cases ran gunicorn's gthread worker and were named `-gthread`; now granian's 4 blocking threads.
    server, port = _start_server(ctx.database_url, threads=4)
    try:
        _run(lambda: _checkout_op(port, env["api_key"], any_sku), 4, 1.0)
        for clients in (8, 32):
            http = _measure(lambda: _checkout_op(port, env["api_key"], any_sku), clients, seconds, repeats)
            base = next(c for c in cases if c["case"] == f"{clients}-clients-uniform")["baseline"]
            cases.append(
                _case(
                    f"{clients}-clients-uniform-threads",
                    http,
                    base,
                    f"as {clients}-clients-uniform but omnishop serve --workers 2 --threads 4 (granian); "
                    f"outcomes {http['outcomes']}",
                )
            )
        _flash_stock(env)
        from django.db.models import Sum

        from omnishop.orders.models import OrderLine

        before = OrderLine.objects.filter(sku=FLASH).aggregate(n=Sum("quantity"))["n"] or 0
        flash = _flash_sale(port, env)
        sold = (OrderLine.objects.filter(sku=FLASH).aggregate(n=Sum("quantity"))["n"] or 0) - before
    finally:
        _stop(server)
    from omnishop.inventory import services as inventory
    from omnishop.inventory.models import StockLevel

    level = StockLevel.objects.get(variant_id=env["variants"][FLASH], location_id=env["location_id"])
    mismatches = inventory.verify_ledger()
    cases.append(
        {
            "case": f"flash-sale-{FLASH_CLIENTS}-clients-{FLASH_UNITS}-units",
            "unit": "s (wall time until every buyer had an answer)",
            "value": round(flash["wall_s"], 3),
            "p50_ms": round(percentile(flash["latencies"], 50), 2),
            "p99_ms": round(percentile(flash["latencies"], 99), 2),
            "errors": sum(v for k, v in flash["outcomes"].items() if k not in ("ok", "insufficient_stock")),
            "orders": flash["outcomes"].get("ok", 0),
            "units_sold": sold,
            "free_after": level.free,
            "oversold": sold > FLASH_UNITS,
            "notes": f"{FLASH_CLIENTS} threads released at once; outcomes {flash['outcomes']}; "
            f"ledger mismatches after the run: {len(mismatches)}",
        }
    )
    ctx.report("orders.checkout_http", cases)


if __name__ == "__main__":
    main(BenchContext())
