"""scale.capacity: what one request costs, measured at 1 and 2 workers of `omnishop serve`, and the capacity model
built on it.

Four request kinds, each at 8 clients against `omnishop serve` (its default server, granian: workers of one
thread, ADR 0053) with 1 and then 2 workers, on the bench
PostgreSQL, load generator on the same machine:
- `api-list` and `api-detail`: the public catalogue API (bench/catalog_fixture.py's catalogue, the sample of
  bench_api_catalog, cold requests: no validator), driven by wrk;
- `product-page`: the web shop's product page (HTML, `/p/<slug>/`) of the same products, driven by wrk;
- `checkout`: POST /api/v1/orders/checkout (bench_orders_checkout's shop and request), driven by threads.
For each, CPU milliseconds per request are read from /proc for the server's processes (`server`), the whole
PostgreSQL cluster (`db`) and the load generator (`load`). Those are the figures that survive a shared machine.

The model (docs/scaling.md, "Capacity model"): a one-thread worker is busy for its own CPU time plus the time it
waits on the database, so W workers serve at most W × 1000 / (server + db) requests per second; the machine
serves at most cores × 1000 / (server + db + load). The prediction is the smaller of the two, checked against the
throughput measured at 1 and 2 workers in the same run (`prediction_error`). The projection cases then size a
deployment from the same per-request costs at a 70 % CPU target: application cores = rate × server ms / 700,
database cores = rate × db ms / 700 (writes on the primary, reads spread over replicas).

Baselines, same run, same database: the same reads as raw SQL (bench_api_catalog's replay; the product page
against its detail statements) and the same checkout transaction as raw SQL (bench_orders_checkout's).
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (the checkout worker process)
    sys.path.insert(0, str(ROOT))

from bench.harness import BenchContext, median, percentile  # noqa: E402

BENCHMARK = "scale.capacity"
DB_READS = "omnishop_bench_capacity"
DB_ORDERS = "omnishop_bench_capacity_orders"
WORKERS = (1, 2)
CLIENTS = 8
REPEATS = 3
UTILISATION = 0.7  # the CPU share a sized deployment aims at, leaving headroom for peaks and failover
# What the projections size: the two examples, and what a page view is made of.
TARGET_ORDERS = 1_000
TARGET_PAGE_VIEWS = 50_000
CDN_HIT = 0.9  # share of public catalogue page views a CDN answers from its copy (max-age 60 s + swr)


def _cpu_seconds(pids: list[int]) -> float:
    from bench.bench_api_catalog import _process_cpu

    return _process_cpu(pids)


def _database(base_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def _model(cpu: dict, workers: int, cores: int) -> float:
    """Requests per second the model predicts for `workers` one-thread workers on `cores` shared cores."""
    busy = cpu["server"] + cpu.get("db", 0.0)  # a one-thread worker waits while the database works for it
    total = busy + cpu.get("load", 0.0)
    return min(workers * 1000 / busy, cores * 1000 / total)


def _case(kind: str, workers: int, runs: list[dict], baseline: dict, cores: int) -> dict:
    cpu = {
        name: round(median([r[f"{name}_cpu_ms"] for r in runs]), 3)
        for name in ("server", "db", "load")
        if f"{name}_cpu_ms" in runs[0]
    }
    value = round(median([r["rps"] for r in runs]), 1)
    predicted = round(_model(cpu, workers, cores), 1)
    return {
        "case": f"{kind}-{workers}-worker{'s' if workers > 1 else ''}",
        "unit": "orders/s" if kind == "checkout" else "requests/s",
        "value": value,
        "p50_ms": round(median([r["p50_ms"] for r in runs]), 3),
        "p99_ms": round(median([r["p99_ms"] for r in runs]), 3),
        "errors": sum(r["errors"] for r in runs),
        "runs": [round(r["rps"], 1) for r in runs],
        "cpu_ms_per_request": cpu,
        "predicted": predicted,
        "prediction_error": round((value - predicted) / predicted, 3),
        "baseline": baseline,
        "notes": f"omnishop serve --workers {workers} (granian, 1 thread each), {CLIENTS} clients on the same {cores}-core "
        f"machine, {len(runs)} runs, median; load average {os.getloadavg()[1]:.1f} during the run",
    }


# --- reads: the catalogue API and the product page, driven by wrk -------------------------------------------


def _reads(ctx: BenchContext, seconds: int, cores: int) -> tuple[list[dict], dict]:
    from bench.bench_api_catalog import (
        LUA,
        _analyze,
        _baseline,
        _children,
        _env,
        _free_port,
        _postgres_pids,
        _run,
        _wrk,
        server_pid,
    )
    from bench.worker import serve, stop

    work = Path(tempfile.mkdtemp(prefix="omnishop-bench-capacity-"))
    database_url = _database(ctx.database_url, DB_READS)
    env = _env(database_url, work / "var")
    env.pop("REDIS_URL", None)
    env.update({"OMNISHOP_WEB_CHANNEL": "web", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0"})
    omnishop = str(Path(sys.executable).with_name("omnishop"))
    _run([omnishop, "migrate", "-v0"], env)
    _run([sys.executable, "-m", "bench.catalog_fixture", "load"], env)
    _analyze(database_url)
    sample_file = work / "sample.json"
    _run([sys.executable, "-m", "bench.catalog_fixture", "sample", str(sample_file)], env)
    sample = json.loads(sample_file.read_text())
    web_details = [item for item in sample["detail"] if "/web/" in item["path"]]
    pages = [{"path": f"/p/{item['path'].rstrip('/').rsplit('/', 1)[1]}/"} for item in web_details]
    kinds = {"api-list": sample["list"], "api-detail": sample["detail"], "product-page": pages}
    for kind, items in kinds.items():
        (work / f"{kind}.lua").write_text(
            LUA % {"paths": ", ".join(json.dumps(item["path"]) for item in items), "etags": ""}
        )
    baselines = {}
    for kind, items in (("api-list", sample["list"]), ("api-detail", sample["detail"])):
        requests = [[(sql, params) for sql, params in item["statements"]] for item in items]
        runs = [_baseline(database_url, requests, max(3, seconds // 2)) for _ in range(REPEATS)]
        baselines[kind] = {
            "what": "the same statements as raw SQL via psycopg (prepared), 8 threads × own connection",
            "value": round(median([r["rps"] for r in runs]), 1),
            "p50_ms": round(median([r["p50_ms"] for r in runs]), 3),
            "p99_ms": round(median([r["p99_ms"] for r in runs]), 3),
        }
    baselines["product-page"] = {
        **baselines["api-detail"],
        "what": "the product's detail statements as raw SQL (the data the page shows; the page itself "
        "reads more: header, categories, recommendations)",
    }
    postgres = _postgres_pids(database_url)
    cases = []
    statuses = {}
    for workers in WORKERS:
        port = _free_port()
        server = serve(env, port, workers=workers)
        cpu_of = {
            "server": lambda server=server: _children(server_pid(server)),
            "db": lambda: postgres + _children(postgres[0]),
        }
        if not postgres:
            del cpu_of["db"]
        try:
            for kind in kinds:
                script = work / f"{kind}.lua"
                _wrk(port, script, CLIENTS, 2)  # warm the workers' connections and prepared statements
                runs = []
                for _ in range(REPEATS):
                    r = _wrk(port, script, CLIENTS, seconds, cpu_of)
                    runs.append(
                        {
                            "rps": r["rps"],
                            "p50_ms": r["p50_us"] / 1000,
                            "p99_ms": r["p99_us"] / 1000,
                            "errors": r["connect"] + r["read"] + r["write"] + r["timeout"] + r["status"],
                            "server_cpu_ms": r["server_cpu_ms"],
                            **({"db_cpu_ms": r["db_cpu_ms"]} if "db_cpu_ms" in r else {}),
                            "load_cpu_ms": r["wrk_cpu_ms"],
                        }
                    )
                statuses[kind] = _status(port, kinds[kind][0]["path"])
                cases.append(_case(kind, workers, runs, baselines[kind], cores))
        finally:
            stop(server)
    bad = {k: s for k, s in statuses.items() if s != 200}
    if bad:
        raise RuntimeError(
            f"scale.capacity: these requests do not answer 200, so they measure nothing: {bad}"
        )
    return cases, {"products": len(pages), "pages": len(sample["list"])}


def _status(port: int, path: str) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status


# --- checkout, driven by threads in a worker process (Django set up for its own database) ----------------------


def _checkout_worker(seconds: float) -> dict:
    from bench import bench_orders_checkout as co
    from bench.bench_api_catalog import _children, _postgres_pids
    from bench.worker import serve, stop

    database_url = os.environ["DATABASE_URL"]
    co._django(database_url)
    shop = co._seed()
    skus = [s for s in shop["variants"] if s != co.FLASH]

    def any_sku() -> str:
        return random.choice(skus)

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": co.SECRET,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "PYTHONPATH": str(ROOT / "src"),
        "OMNISHOP_VAR_DIR": tempfile.mkdtemp(prefix="omnishop-bench-capacity-var-"),
    }
    postgres = _postgres_pids(database_url)
    out: dict = {"baseline": {}, "workers": {}}
    raw = [co._run(lambda: co._raw_op(database_url, shop, any_sku), CLIENTS, seconds) for _ in range(REPEATS)]
    out["baseline"] = {
        "what": "the same transaction as raw SQL via psycopg (stock decrement + order + line, one COMMIT), "
        "same database, same client threads",
        "value": round(median([rate for rate, _, _ in raw]), 1),
        "p50_ms": round(percentile([x for _, s, _ in raw for x in s], 50), 3),
        "p99_ms": round(percentile([x for _, s, _ in raw for x in s], 99), 3),
    }
    for workers in WORKERS:
        port = co._free_port()
        server = serve(env, port, workers=workers)
        try:
            co._run(lambda port=port: co._checkout_op(port, shop["api_key"], any_sku), 4, 1.0)  # warm
            runs = []
            for _ in range(REPEATS):
                pids = _children(server.pid)
                server_before = _cpu_seconds(pids)
                db_before = _cpu_seconds(postgres + _children(postgres[0])) if postgres else 0.0
                me = os.times()
                rate, samples, outcomes = co._run(
                    lambda port=port: co._checkout_op(port, shop["api_key"], any_sku), CLIENTS, seconds
                )
                me_after = os.times()
                done = max(sum(outcomes.values()), 1)
                runs.append(
                    {
                        "rps": rate,
                        "p50_ms": percentile(samples, 50),
                        "p99_ms": percentile(samples, 99),
                        "errors": done - outcomes.get("ok", 0),
                        "server_cpu_ms": (_cpu_seconds(pids) - server_before) * 1000 / done,
                        **(
                            {
                                "db_cpu_ms": (_cpu_seconds(postgres + _children(postgres[0])) - db_before)
                                * 1000
                                / done
                            }
                            if postgres
                            else {}
                        ),
                        "load_cpu_ms": ((me_after.user + me_after.system) - (me.user + me.system))
                        * 1000
                        / done,
                    }
                )
            out["workers"][str(workers)] = runs
        finally:
            stop(server)
    return out


# --- the projections --------------------------------------------------------------------------------------


def _projections(cases: list[dict]) -> list[dict]:
    """Size a deployment for the issue's two examples from the per-request costs measured at 2 workers."""
    at2 = {
        c["case"].rsplit("-2-workers", 1)[0]: c["cpu_ms_per_request"]
        for c in cases
        if "-2-workers" in c["case"]
    }
    out = []
    checkout = at2.get("checkout")
    if checkout:
        app = TARGET_ORDERS * checkout["server"] / 1000 / UTILISATION
        db = TARGET_ORDERS * checkout.get("db", 0.0) / 1000 / UTILISATION
        out.append(
            {
                "case": f"projection-{TARGET_ORDERS}-orders-per-s",
                "unit": "application cores",
                "value": math.ceil(app),
                "database_cores_primary": math.ceil(db),
                "notes": f"checkout at {checkout['server']} ms application CPU and {checkout.get('db', 0)} ms "
                f"database CPU per order (2-worker run), {UTILISATION:.0%} CPU target; every checkout writes, so "
                "its database cores are the primary's (a replica cannot take them)",
            }
        )
    page, listing = at2.get("product-page"), at2.get("api-list")
    if page and listing:
        origin = TARGET_PAGE_VIEWS * (1 - CDN_HIT)
        # A page view of the shop: the product page, with one catalogue list call in five (category browsing).
        server_ms = page["server"] + 0.2 * listing["server"]
        db_ms = page.get("db", 0.0) + 0.2 * listing.get("db", 0.0)
        for label, rate in (("with-cdn", origin), ("no-cdn", float(TARGET_PAGE_VIEWS))):
            out.append(
                {
                    "case": f"projection-{TARGET_PAGE_VIEWS}-page-views-per-s-{label}",
                    "unit": "application cores",
                    "value": math.ceil(rate * server_ms / 1000 / UTILISATION),
                    "database_cores_replicas": math.ceil(rate * db_ms / 1000 / UTILISATION),
                    "origin_requests_per_s": round(rate),
                    "notes": f"a page view = the product page ({page['server']} + {page.get('db', 0)} ms) plus "
                    f"0.2 × a catalogue list call ({listing['server']} + {listing.get('db', 0)} ms), application + "
                    f"database CPU per request at 2 workers; "
                    + (
                        f"a CDN answers {CDN_HIT:.0%} of views from its copy (public max-age 60 s + "
                        "stale-while-revalidate, ADR 0024), so the origin sees the rest; "
                        if label == "with-cdn"
                        else "every view reaches the origin (no CDN); "
                    )
                    + "reads can go to replicas (docs/scaling.md, Read replica)",
                }
            )
    return out


def main(ctx: BenchContext) -> None:
    if not ctx.database_url:
        print("scale.capacity: BENCH_DATABASE_URL is not set (run through scripts/run-bench); skipped")
        return
    seconds = 3 if ctx.quick else 8
    cores = os.cpu_count() or 1
    cases, what = _reads(ctx, seconds, cores)
    orders_url = _database(ctx.database_url, DB_ORDERS)
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(seconds)],
        env={**os.environ, "DATABASE_URL": orders_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scale.capacity checkout worker failed:\n{done.stderr[-4000:]}")
    checkout = json.loads(done.stdout.strip().splitlines()[-1])
    for workers in WORKERS:
        cases.append(
            _case("checkout", workers, checkout["workers"][str(workers)], checkout["baseline"], cores)
        )
    cases.extend(_projections(cases))
    print(f"scale.capacity: catalogue sample {what}")
    ctx.report(BENCHMARK, cases)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        result = _checkout_worker(float(sys.argv[2]))
        print(json.dumps(result))
    else:
        main(BenchContext())
