"""inventory.reservations: reservation (+ allocation) throughput on PostgreSQL, service layer and HTTP.

Clients are separate processes (the GIL would otherwise serialise the service layer), 1, 8 and 32 of them,
each hammering for a fixed window; uniform = a random one of 2,000 SKUs per operation, hot = every
operation on the same SKU. The baseline, measured in the same run on the same database with the same
clients, is the same durable work as raw SQL (ADR 0047): one statement sent with psycopg in autocommit that
writes the reservation row, its line and its stock-changed mark and then runs the conditional UPDATE of the
stock row (`reserved = reserved + 1 WHERE free >= 1`), on copies of those four tables (same columns,
constraints, indexes, fillfactor), so the baseline does not upset the ledger. The bare conditional UPDATE
(the baseline until ADR 0047) is still measured as `raw-update-only-*`, for comparison with earlier runs.
After the run `verify_ledger()` must be empty and the hot-limited case must end with exactly its stock
reserved.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import BenchContext, median, percentile

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (the worker process)
    sys.path.insert(0, str(ROOT))

from bench.worker import setup_django  # noqa: E402

SKUS = 2000
HOT = "BENCH-HOT"
LIMITED = "BENCH-LIMITED"
LIMITED_UNITS = 300
CHANNEL = "bench-inv"
LOCATION = "bench-inv-wh"
RAW_TABLE = "bench_raw_stocklevel"
# The copies the raw-SQL baseline writes (the service's tables: inventory_<name>).
RAW_COPIES = {
    "stocklevel": RAW_TABLE,
    "reservation": "bench_raw_reservation",
    "reservationline": "bench_raw_reservationline",
    "stockevent": "bench_raw_stockevent",
}

# The baseline until ADR 0047: the conditional UPDATE alone — one row, none of the reservation's records.
RAW_UPDATE_SQL = (
    f"UPDATE {RAW_TABLE} SET reserved = reserved + 1, updated_at = now() "
    "WHERE variant_id = %s AND location_id = %s AND on_hand - allocated - reserved >= 1"
)
# The baseline (ADR 0047): the same durable work as a reservation of one unit, as a raw-SQL programmer would
# write it — the reservation, its line and its stock-changed mark, then the conditional UPDATE, in one
# statement and one transaction (autocommit). The rows go first, as in the service (ADR 0044), so the stock
# row is locked for as short a time as in the service. A refusal (no free unit) divides by zero, which undoes
# the statement. Simpler than the service, in the baseline's favour: a plain INSERT (the unique key still
# refuses a repeated key) instead of ON CONFLICT, ids instead of SKUs, no policy, buffer or quota.
RAW_RESERVE_SQL = f"""
WITH head AS (
    INSERT INTO {RAW_COPIES["reservation"]} (channel_id, key, reference, status, expires_at, created_at)
    VALUES (%(channel)s, %(key)s, '', 'active', now() + interval '900 seconds', now())
    RETURNING id
),
line AS (
    INSERT INTO {RAW_COPIES["reservationline"]} (reservation_id, variant_id, location_id, quantity)
    SELECT id, %(variant)s, %(location)s, 1 FROM head
    RETURNING 1
),
mark AS (
    INSERT INTO {RAW_COPIES["stockevent"]} (variant_id, location_id, cause, created_at)
    VALUES (%(variant)s, %(location)s, 'reserved', now())
    RETURNING 1
),
upd AS (
    UPDATE {RAW_TABLE} SET reserved = reserved + 1, updated_at = now()
    WHERE variant_id = %(variant)s AND location_id = %(location)s AND on_hand - allocated - reserved >= 1
      AND (SELECT COUNT(*) FROM line) + (SELECT COUNT(*) FROM mark) = 2
    RETURNING 1
)
SELECT 1 / (SELECT COUNT(*) FROM upd)
"""


def _django(db_url: str) -> None:
    setup_django(db_url, debug=None)


# --- set-up (main process) ------------------------------------------------------------------------------


def _seed() -> dict:
    from django.core.management import call_command
    from django.db import connection

    from omnishop.catalog.models import Product, Variant
    from omnishop.channels.models import Channel
    from omnishop.channels.services import create_channel, issue_api_key
    from omnishop.inventory import services
    from omnishop.inventory.models import StockLevel, StockLocation, StockMovement

    call_command("migrate", verbosity=0)
    channel = Channel.objects.filter(code=CHANNEL).first() or create_channel(
        code=CHANNEL, name="Bench", kind="web", currency="GBP"
    )
    location = StockLocation.objects.filter(code=LOCATION).first() or services.create_location(
        code=LOCATION, name="Bench warehouse"
    )
    services.set_channel_locations(channel=channel, location_codes=[LOCATION])
    product, _ = Product.objects.get_or_create(slug="bench-inventory", defaults={"title": "Bench"})
    skus = [f"BENCH-{i:05d}" for i in range(SKUS)] + [HOT, LIMITED]
    existing = set(Variant.objects.filter(sku__in=skus).values_list("sku", flat=True))
    Variant.objects.bulk_create([Variant(product=product, sku=s) for s in skus if s not in existing])
    variants = dict(Variant.objects.filter(sku__in=skus).values_list("sku", "pk"))
    stocked = set(StockLevel.objects.filter(location=location).values_list("variant_id", flat=True))
    fresh = {
        sku: (LIMITED_UNITS if sku == LIMITED else 10_000_000) for sku in skus if variants[sku] not in stocked
    }
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
        for name, copy in RAW_COPIES.items():  # no foreign keys: the service's rows have none either
            cursor.execute(f"DROP TABLE IF EXISTS {copy}")
            cursor.execute(f"CREATE TABLE {copy} (LIKE inventory_{name} INCLUDING ALL)")
            cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [f"inventory_{name}"])
            for option in cursor.fetchone()[0] or []:  # the same fillfactor, so the same in-place updates
                cursor.execute(f"ALTER TABLE {copy} SET ({option})")
        cursor.execute(
            f"INSERT INTO {RAW_TABLE} SELECT * FROM inventory_stocklevel WHERE location_id = %s",
            [location.pk],
        )
        cursor.execute(f"ANALYZE {RAW_TABLE}")
        cursor.execute("ANALYZE")
    key = issue_api_key(channel=channel, name="bench", scopes=["inventory:read", "inventory:write"]).secret
    return {"location_id": location.pk, "channel_id": channel.pk, "variants": variants, "api_key": key}


# --- clients (one process each) ---------------------------------------------------------------------------


def _client(conn, mode: str, db_url: str, env: dict) -> None:
    """A client process: set up once, then run each case it is sent and answer with its samples."""
    variants, location_id = env["variants"], env["location_id"]
    uniform = [s for s in variants if s.startswith("BENCH-0")]
    rng = random.Random(os.getpid())
    tag = f"{os.getpid()}-{time.time_ns()}"
    counter = 0
    if mode == "raw":
        import psycopg

        pg = psycopg.connect(db_url, autocommit=True)

        def op(sku, update_only=False):
            nonlocal counter
            with pg.cursor() as cur:
                if update_only:
                    cur.execute(RAW_UPDATE_SQL, (variants[sku], location_id), prepare=True)
                    return "ok" if cur.rowcount == 1 else "insufficient_stock"
                counter += 1
                params = {
                    "channel": env["channel_id"],
                    "key": f"r-{tag}-{counter}",
                    "variant": variants[sku],
                    "location": location_id,
                }
                try:
                    cur.execute(RAW_RESERVE_SQL, params, prepare=True)
                except psycopg.errors.DivisionByZero:
                    return "insufficient_stock"
                return "ok"

    elif mode == "http":
        import http.client

        import orjson

        host, port = env["http"]
        headers = {"Authorization": f"Bearer {env['api_key']}", "Content-Type": "application/json"}

        def op(sku):
            nonlocal counter
            counter += 1
            body = orjson.dumps({"key": f"h-{tag}-{counter}", "lines": [{"sku": sku, "quantity": 1}]})
            http_conn = http.client.HTTPConnection(host, port, timeout=120)
            http_conn.request("POST", "/api/v1/inventory/reservations", body=body, headers=headers)
            response = http_conn.getresponse()
            data = response.read()
            http_conn.close()
            if response.status == 201:
                return "ok"
            return orjson.loads(data)["error"]["code"] if data.startswith(b"{") else f"http_{response.status}"

    else:
        _django(db_url)
        from omnishop.channels.models import Channel
        from omnishop.core.errors import DomainError
        from omnishop.inventory import services

        channel = Channel.objects.get(code=CHANNEL)

        def op(sku, allocate=False):
            nonlocal counter
            counter += 1
            try:
                reservation = services.reserve_stock(
                    channel=channel, lines=[services.LineRequest(sku, 1)], key=f"s-{tag}-{counter}"
                )
                if allocate:
                    services.allocate_reservation(
                        reservation=reservation, order_reference=f"o-{tag}-{counter}"
                    )
                return "ok"
            except DomainError as exc:
                return exc.code

    op(uniform[0])  # warm up: connection, imports, prepared statements
    if mode == "raw":
        op(uniform[0], True)  # the bare UPDATE's prepared statement too
    conn.send("ready")
    while True:
        case = conn.recv()
        if case is None:
            return
        start, end = case["start"], case["end"]
        while time.time() < start:
            time.sleep(0.001)
        samples, outcomes = [], {}
        while True:
            sku = case["sku"] or rng.choice(uniform)
            t0 = time.perf_counter()
            try:
                outcome = op(sku, True) if case.get("allocate") or case.get("update_only") else op(sku)
            except Exception as exc:  # deadlocks, timeouts: counted as errors, never hidden
                outcome = type(exc).__name__
            t1 = time.perf_counter()
            if time.time() > end:
                break
            samples.append((t1 - t0) * 1000)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        conn.send((samples, outcomes))


class Clients:
    def __init__(self, mode: str, count: int, db_url: str, env: dict) -> None:
        ctx = mp.get_context("spawn")
        self.pipes = []
        self.procs = []
        for _ in range(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_client, args=(child, mode, db_url, env), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)
        for pipe in self.pipes:
            if not pipe.poll(300) or pipe.recv() != "ready":
                raise RuntimeError(f"a {mode} client did not start")

    def run(
        self, clients: int, sku: str | None, seconds: float, allocate: bool = False, update_only: bool = False
    ) -> tuple[float, list[float], dict]:
        start = time.time() + 0.5
        for pipe in self.pipes[:clients]:
            case = {"start": start, "end": start + seconds, "sku": sku, "allocate": allocate}
            pipe.send({**case, "update_only": update_only})
        samples, outcomes = [], {}
        for pipe in self.pipes[:clients]:
            s, o = pipe.recv()
            samples += s
            for k, v in o.items():
                outcomes[k] = outcomes.get(k, 0) + v
        return len(samples) / seconds, samples, outcomes

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for proc in self.procs:
            proc.join(timeout=10)


class Samples:
    """Rates, latencies and outcomes of one case over its repeats."""

    def __init__(self) -> None:
        self.rates: list[float] = []
        self.latencies: list[float] = []
        self.outcomes: dict[str, int] = {}

    def add(self, rate: float, latencies: list[float], outcomes: dict) -> None:
        self.rates.append(rate)
        self.latencies += latencies
        for k, v in outcomes.items():
            self.outcomes[k] = self.outcomes.get(k, 0) + v

    def figures(self) -> dict:
        return {
            "value": round(median(self.rates), 1),
            "p50_ms": round(percentile(self.latencies, 50), 2),
            "p99_ms": round(percentile(self.latencies, 99), 2),
            "errors": sum(v for k, v in self.outcomes.items() if k not in ("ok", "insufficient_stock")),
            "outcomes": self.outcomes,
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(db_url: str) -> tuple[subprocess.Popen, tuple[str, int]]:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "PYTHONPATH": str(ROOT / "src"),
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "omnishop.wsgi:application",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    import http.client

    deadline = time.time() + 180
    while time.time() < deadline:  # both workers answer /health once they have booted
        try:
            answered = 0
            for _ in range(4):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/health")
                answered += conn.getresponse().status == 200
                conn.close()
            if answered == 4:
                break
        except OSError:
            time.sleep(0.5)
    return server, ("127.0.0.1", port)


def main(ctx: BenchContext) -> None:
    if not ctx.database_url:
        print("inventory.reservations: BENCH_DATABASE_URL is not set (run scripts/run-bench); skipped")
        return
    _django(ctx.database_url)
    env = _seed()
    seconds, repeats = (1.5, 1) if ctx.quick else (4.0, 3)
    counts = (1, 8, 32)
    cases: list[dict] = []
    baselines: dict[tuple[str, int], float] = {}
    update_only_baselines: dict[tuple[str, int], float] = {}

    def record(name, unit, figures, baseline_key, notes):
        case = {
            "case": name,
            "unit": unit,
            **{k: figures[k] for k in ("value", "p50_ms", "p99_ms", "errors")},
        }
        base = baselines.get(baseline_key)
        if base is not None:
            case["baseline"] = {
                "what": "the same durable work as raw SQL via psycopg (autocommit): one statement writing the "
                "reservation, its line, its stock-changed mark and the conditional UPDATE; same database, same "
                "run, same number of client processes",
                "value": base,
            }
            update_only = update_only_baselines.get(baseline_key)
            if update_only:  # the ratio to the baseline before ADR 0047, for comparison with earlier runs
                notes = f"{notes}; ratio to the bare conditional UPDATE {figures['value'] / update_only:.4f}"
        case["notes"] = f"{notes}; outcomes {figures['outcomes']}"
        cases.append(case)

    # Every variant is measured in turn inside each repeat (raw, service, service+allocation, HTTP), so a
    # case and its baseline always share the machine's momentary load (other work on a shared machine).
    variants = {
        "raw": (
            "reservations/s",
            "baseline itself: reservation, line, mark and conditional UPDATE, one statement",
        ),
        "raw_update_only": ("updates/s", "the bare conditional UPDATE (the baseline until ADR 0047)"),
        "service": ("reservations/s", "service layer: reserve_stock()"),
        "service_allocate": ("orders/s", "service layer: reserve_stock() then allocate_reservation()"),
        "http": (
            "reservations/s",
            "POST /api/v1/inventory/reservations, gunicorn 2 sync workers, load generator on the same machine",
        ),
    }
    samples = {(v, n, shape): Samples() for v in variants for n in counts for shape in ("uniform", "hot")}
    pools: dict[str, Clients] = {}
    server = None
    try:
        server, address = _start_server(ctx.database_url)
        pools["raw"] = Clients("raw", max(counts), ctx.database_url, env)
        pools["service"] = Clients("service", max(counts), ctx.database_url, env)
        pools["http"] = Clients("http", max(counts), ctx.database_url, {**env, "http": address})
        for n in counts:
            for shape, sku in (("uniform", None), ("hot", HOT)):
                for _ in range(repeats):
                    samples[("raw", n, shape)].add(*pools["raw"].run(n, sku, seconds))
                    samples[("raw_update_only", n, shape)].add(
                        *pools["raw"].run(n, sku, seconds, update_only=True)
                    )
                    samples[("service", n, shape)].add(*pools["service"].run(n, sku, seconds))
                    samples[("service_allocate", n, shape)].add(*pools["service"].run(n, sku, seconds, True))
                    samples[("http", n, shape)].add(*pools["http"].run(n, sku, seconds))
        limited = Samples()  # correctness under contention: 32 clients, 300 units, most buyers refused
        limited.add(*pools["service"].run(32, LIMITED, seconds))
    finally:
        for pool in pools.values():
            pool.close()
            for proc in pool.procs:
                if proc.is_alive():
                    proc.kill()
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()

    for name, (unit, notes) in variants.items():
        for n in counts:
            for shape in ("uniform", "hot"):
                baselines[(shape, n)] = samples[("raw", n, shape)].figures()["value"]
                update_only_baselines[(shape, n)] = samples[("raw_update_only", n, shape)].figures()["value"]
                labels = {"raw": "raw-sql", "raw_update_only": "raw-update-only"}
                label = f"{labels.get(name, name)}-{n}-clients-{shape}"
                record(
                    label,
                    unit,
                    samples[(name, n, shape)].figures(),
                    None if name in labels else (shape, n),
                    notes,
                )
    record(
        "service-32-clients-hot-limited", "reservations/s", limited.figures(), ("hot", 32), "300 units only"
    )

    from omnishop.inventory import services
    from omnishop.inventory.models import StockLevel

    mismatches = services.verify_ledger()
    limited = StockLevel.objects.get(variant__sku=LIMITED)
    for case in cases:
        if case["case"] == "service-32-clients-hot-limited":
            case["notes"] += f"; afterwards reserved={limited.reserved} of on_hand={limited.on_hand}"
    print(f"ledger after the benchmark: {'verified' if not mismatches else f'{len(mismatches)} MISMATCHES'}")
    ctx.report("inventory.reservations", cases)
