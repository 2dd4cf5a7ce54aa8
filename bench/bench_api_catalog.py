"""api.catalog_list and api.product_detail: the storefront read path over HTTP, against raw SQL.

Loads a fixed catalog (bench/catalog_fixture.py: ≥ 10,000 variants, 3 channels, listings, stock) into
its own database on the bench PostgreSQL, migrates it with `omnishop migrate`, serves it with
`omnishop serve` (its default server, granian, 2 workers) and drives it with wrk at 1, 8 and 32 connections, rotating over
many pages (cursors of all three channels) and product details. Each case runs ≥ 3 times; the value is
the median req/s, with the median of the runs' p50 and p99 (wrk's own histogram, via a Lua `done`).

Baseline, same run, same database: the exact statements those requests execute (captured with their
parameters from the service), sent through psycopg as prepared statements from 8 threads with one
connection each — requests/s, p50, p99. ratio = HTTP req/s ÷ baseline req/s.

Servers (ADR 0053): every case runs on `omnishop serve`'s default, granian; the cold and warm cases at 8
clients run again on `--server gunicorn` (sync workers) in the same run, as `…-gunicorn` cases.

Cold and revalidated: every case runs twice, once as a first visit (no validator: the catalogue version,
the page or detail, the stock) and once as a CDN or browser revalidating its copy (`If-None-Match` with
the path's current ETag, answered `304` after the catalogue version statement alone, ADR 0024). The
revalidated cases' baseline is that one statement as raw SQL. The server's OMNISHOP_HTTP_CACHE_VERSION_TTL
is a day so that no tag expires mid-run; every path is checked to answer 304 before and after.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.harness import ROOT, BenchContext, median, percentile
from bench.worker import serve, stop

DB_NAME = "omnishop_bench_catalog"
SMOKE = os.environ.get("BENCH_CATALOG_SMOKE", "") == "1"
CONNECTIONS = (8,) if SMOKE else (1, 8, 32)
REPEATS = 1 if SMOKE else 3
WORKERS = 2
WARM_CACHE_BYTES = str(32 * 1024 * 1024)
# (server, modes, response cache bytes, connections): the default server in full, gunicorn at 8 clients.
SERVERS = (
    ("granian", ("cold", "revalidated"), "0", CONNECTIONS),
    ("granian", ("warm",), WARM_CACHE_BYTES, CONNECTIONS),
    ("gunicorn", ("cold",), "0", (8,)),
    ("gunicorn", ("warm",), WARM_CACHE_BYTES, (8,)),
)

LUA = r"""
local paths = {%(paths)s}
local etags = {%(etags)s}
local counter = 0
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  counter = (id or 0) * 7919
end
function request()
  counter = counter + 1
  local n = (counter %% #paths) + 1
  if #etags > 0 then
    return wrk.format("GET", paths[n], {["If-None-Match"] = etags[n]})
  end
  return wrk.format("GET", paths[n])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"timeout":%%d,"status":%%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.timeout, e.status))
end
"""


def _process_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _postgres_pids(database_url: str) -> list[int]:
    """The bench cluster's postmaster and its children (backends, writer, WAL…), for CPU accounting."""
    import psycopg

    try:
        with psycopg.connect(database_url) as conn:
            data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        postmaster = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    except (OSError, psycopg.Error, ValueError):
        return []
    return [postmaster, *_children(postmaster)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database(base_url: str) -> str:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    return base_url.rsplit("/", 1)[0] + f"/{DB_NAME}"


def _env(database_url: str, var_dir: Path) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on the loopback
        "OMNISHOP_VAR_DIR": str(var_dir),
        "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
        "LOG_LEVEL": "ERROR",
        "OMNISHOP_HTTP_CACHE_VERSION_TTL": "86400",  # no ETag expires mid-run (the sample's are the server's)
        # Off for the sample (its statements are a miss's) and the cold server; the warm server turns it on.
        "OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES": "0",
    }


def _run(argv: list[str], env: dict) -> str:
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def server_pid(server: subprocess.Popen) -> int:
    """`omnishop serve` itself: it runs gunicorn's arbiter or granian's main process in-process; the workers are its
    children."""
    return server.pid


def _wrk(port: int, script: Path, connections: int, seconds: int, cpu_of: dict | None = None) -> dict:
    threads = 1 if connections == 1 else 2
    cpu_of = cpu_of or {}
    before = {name: _process_cpu(pids()) for name, pids in cpu_of.items()}
    children_before = os.times()
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    children_after = os.times()
    requests = max(result["requests"], 1)
    for name, pids in cpu_of.items():
        result[f"{name}_cpu_ms"] = (_process_cpu(pids()) - before[name]) * 1000 / requests
    wrk_cpu = (children_after.children_user + children_after.children_system) - (
        children_before.children_user + children_before.children_system
    )
    result["wrk_cpu_ms"] = wrk_cpu * 1000 / requests
    return result


def _analyze(database_url: str) -> None:
    """Statistics for the bulk-loaded tables before anything is measured. Without them the first cases ran
    on plans a live shop never sees, and autovacuum's ANALYZE arrived mid-run: on 3 Dec the list measured
    42 ms of database CPU per request at 1 and 8 clients and 3.6 ms at 32 in the same run — the
    non-monotonic list figures of issue 16 (84 → 156 → 1,113 req/s) have that shape."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _check_revalidated(port: int, items: list[dict]) -> None:
    """Every path answers 304 to its recorded ETag: the revalidated cases measure what they say."""
    import http.client

    for item in items:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", item["path"], headers={"If-None-Match": item["etag"]})
        status = conn.getresponse().status
        conn.close()
        if status != 304:
            raise RuntimeError(f"{item['path']} answered {status}, not 304, to its ETag {item['etag']}")


def _prime(port: int, script: Path, requests: int, limit_s: float = 60) -> None:
    """Fill the workers' response caches: `requests` rotating requests (or `limit_s` seconds) at 8 clients."""
    sent, deadline = 0, time.monotonic() + limit_s
    while sent < requests and time.monotonic() < deadline:
        sent += _wrk(port, script, 8, 3)["requests"]


def _bodies(port: int, items: list[dict]) -> dict[str, bytes]:
    import http.client

    bodies = {}
    for item in items:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", item["path"])
        response = conn.getresponse()
        bodies[item["path"]] = response.read()
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"{item['path']} answered {response.status}")
    return bodies


def _baseline(database_url: str, requests: list[list], seconds: float, threads: int = 8) -> dict:
    """Replay each request's statements (prepared, as the app sends them) from `threads` connections."""
    import psycopg

    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop = threading.Event()
    ready = threading.Barrier(threads + 1)

    def worker(n: int) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            for statements in requests[:50]:  # warm: prepare every statement shape once
                for sql, params in statements:
                    conn.execute(sql, params, prepare=True).fetchall()
            ready.wait()
            i = n * 7919
            mine = latencies[n]
            while not stop.is_set():
                statements = requests[i % len(requests)]
                i += 1
                start = time.perf_counter()
                for sql, params in statements:
                    conn.execute(sql, params, prepare=True).fetchall()
                mine.append((time.perf_counter() - start) * 1000)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    ready.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    samples = [x for per in latencies for x in per]
    return {
        "rps": len(samples) / elapsed,
        "p50_ms": percentile(samples, 50),
        "p99_ms": percentile(samples, 99),
    }


def main(ctx: BenchContext) -> None:
    if not ctx.database_url:
        print("api.catalog: BENCH_DATABASE_URL is not set (run through scripts/run-bench); skipped")
        return
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (scripts/ensure-system-packages wrk)")
    seconds = 3 if ctx.quick else 10
    work = Path(tempfile.mkdtemp(prefix="omnishop-bench-catalog-"))
    database_url = _database(ctx.database_url)
    env = _env(database_url, work / "var")
    omnishop = str(Path(sys.executable).with_name("omnishop"))
    _run([omnishop, "migrate", "-v0"], env)
    fixture = json.loads(_run([sys.executable, "-m", "bench.catalog_fixture", "load"], env))
    _analyze(database_url)
    sample_file = work / "sample.json"
    _run([sys.executable, "-m", "bench.catalog_fixture", "sample", str(sample_file)], env)
    sample = json.loads(sample_file.read_text())
    print(
        f"catalog: {fixture}; rotating over {len(sample['list'])} pages and {len(sample['detail'])} products"
    )

    http: dict[tuple[str, str, str], dict[int, list[dict]]] = {}
    cold_bodies: dict[str, dict[str, bytes]] = {}
    hit_rate: dict[tuple[str, str], float] = {}
    for server_kind, modes, cache_bytes, connection_counts in SERVERS:
        port = _free_port()
        server = serve(
            {**env, "OMNISHOP_STOREFRONT_RESPONSE_CACHE_BYTES": cache_bytes}, port, WORKERS, server_kind
        )
        postgres = _postgres_pids(database_url)
        # CPU per request of each party: the figure that does not depend on what else the machine is doing.
        cpu_of = {
            "server": lambda server=server: _children(server_pid(server)),
            "db": lambda postgres=postgres: postgres + _children(postgres[0]),
        }
        if not postgres:
            del cpu_of["db"]
        try:
            for kind in ("list", "detail"):
                if "cold" in modes and kind not in cold_bodies:
                    cold_bodies[kind] = _bodies(port, sample[kind])
                for mode in modes:
                    script = work / f"{kind}-{mode}.lua"
                    paths = ", ".join(json.dumps(item["path"]) for item in sample[kind])
                    etags = (
                        ", ".join(json.dumps(item["etag"]) for item in sample[kind])
                        if mode == "revalidated"
                        else ""
                    )
                    script.write_text(LUA % {"paths": paths, "etags": etags})
                    if mode == "revalidated":
                        _check_revalidated(port, sample[kind])
                    _wrk(port, script, 8, 2)  # warm both workers' connections and prepared statements
                    if mode == "warm":
                        _prime(port, script, 3 * WORKERS * len(sample[kind]))
                    http[kind, mode, server_kind] = runs = {
                        connections: [
                            _wrk(port, script, connections, seconds, cpu_of) for _ in range(REPEATS)
                        ]
                        for connections in connection_counts
                    }
                    if mode == "revalidated":
                        _check_revalidated(port, sample[kind])
                    if mode == "warm":
                        if _bodies(port, sample[kind]) != cold_bodies[kind]:
                            raise RuntimeError(
                                f"{kind}: a body from the response cache differs from a miss's"
                            )
                        # Timed requests only; every miss a worker could still have is counted as one.
                        total = sum(r["requests"] for repeats in runs.values() for r in repeats)
                        hit_rate[kind, server_kind] = max(0.0, 1 - len(sample[kind]) * WORKERS / total)
        finally:
            stop(server)

    load = os.getloadavg()[1]
    notes = (
        f"load average {load:.1f} on the machine during the run (other work shares the cores); "
        f"omnishop serve: {WORKERS} workers, lean storefront WSGI path; wrk on the same "
        f"{os.cpu_count()}-core machine; {REPEATS}×{seconds}s per case, median; catalog {fixture['products']} "
        f"products / {fixture['variants']} variants / 3 channels; rotating over "
    )
    for kind, benchmark, what in (
        (
            "list",
            "api.catalog_list",
            "a page of 20 products (price range + availability): the catalogue version, the page, the stock",
        ),
        (
            "detail",
            "api.product_detail",
            "a product with its published variants and availability: the catalogue version, the detail, "
            "the stock",
        ),
    ):
        cases = []
        for mode, key, baseline_what in (
            ("cold", "statements", what),
            ("revalidated", "revalidation", "a revalidation answered 304: the catalogue version statement"),
            ("warm", "revalidation", "a response-cache hit: the catalogue version statement"),
        ):
            requests = [[(sql, params) for sql, params in item[key]] for item in sample[kind]]
            runs = [_baseline(database_url, requests, max(3, seconds // 2)) for _ in range(REPEATS)]
            baseline = {
                "what": f"the same statements as raw SQL via psycopg (prepared), 8 threads × own connection: "
                f"{baseline_what}",
                "value": round(median([r["rps"] for r in runs]), 1),
                "p50_ms": round(median([r["p50_ms"] for r in runs]), 3),
                "p99_ms": round(median([r["p99_ms"] for r in runs]), 3),
            }
            for server_kind, connections in [
                (server_kind, connections)
                for server_kind, modes, _, connection_counts in SERVERS
                if mode in modes
                for connections in connection_counts
            ]:
                results = http[kind, mode, server_kind][connections]
                errors = sum(
                    r["connect"] + r["read"] + r["write"] + r["timeout"] + r["status"] for r in results
                )
                suffix = ("" if mode == "cold" else f"-{mode}") + (
                    "-gunicorn" if server_kind == "gunicorn" else ""
                )
                case = {
                    "case": f"{connections}-client{'s' if connections > 1 else ''}{suffix}",
                    "unit": "requests/s",
                    "value": round(median([r["rps"] for r in results]), 1),
                    "p50_ms": round(median([r["p50_us"] for r in results]) / 1000, 3),
                    "p99_ms": round(median([r["p99_us"] for r in results]) / 1000, 3),
                    "errors": errors,
                    "runs": [round(r["rps"], 1) for r in results],
                    "cpu_ms_per_request": {
                        name: round(median([r[f"{name}_cpu_ms"] for r in results]), 3)
                        for name in ("server", "db", "wrk")
                        if f"{name}_cpu_ms" in results[0]
                    },
                    "baseline": baseline,
                    "server": server_kind,
                    "notes": notes
                    + f"{len(sample[kind])} paths; {server_kind}"
                    + {
                        "cold": "; response cache off: every request renders",
                        "revalidated": "; each with If-None-Match: its current ETag (304, no body)",
                        "warm": "; no validator, response cache on (32 MiB per worker): a hit answers the kept "
                        "body after the version statement",
                    }[mode],
                }
                if mode == "warm":
                    case["hit_rate_at_least"] = round(hit_rate[kind, server_kind], 4)
                cases.append(case)
        ctx.report(benchmark, cases)
    shutil.rmtree(work, ignore_errors=True)
