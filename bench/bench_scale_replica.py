"""scale.replica: catalogue read throughput with the reads routed to a streaming replica vs to the primary.

The catalogue of api.catalog (bench/catalog_fixture.py) in its own database on the bench PostgreSQL; a hot
standby of that server made with `pg_basebackup -R` (omnishop/testing_replica.py) on a free port. The same
`omnishop serve` (its default server, granian, 2 workers) runs twice side by side: with DATABASE_REPLICA_URL
(the storefront API's list and detail and the web shop's product page read the catalogue from the replica,
ADR 0030) — the case — and without (every read on the primary) — the baseline. wrk at 8 connections rotates
over the same pages and products (cold: no validator; the product pages of the `web` channel), 3 repeats
per case alternating which server goes first, median. The replica's `pg_stat_database` counters are read
around every run, to prove where the reads went (rows returned by the replica's copy of the database).

On one 2-core machine a replica adds no CPU: the primary and the replica share the same cores as the app
server and wrk. The figure measures what routing costs (the per-process lag check, the second connection)
and proves correctness under load — not the capacity a second machine would add (docs/scaling.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench_api_catalog import LUA, _analyze, _database, _env, _free_port, _run, _wrk
from bench.harness import BenchContext, median
from bench.worker import serve, stop

CONNECTIONS = 8
REPEATS = 3


def _replica_rows(replica, dbname: str) -> int:
    return int(
        replica.sql(f"SELECT tup_returned + tup_fetched FROM pg_stat_database WHERE datname = '{dbname}'")[0]
    )


def _flush_lsn(database_url: str) -> str:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return str(conn.execute("SELECT pg_current_wal_flush_lsn()").fetchone()[0])


def _free_port_for(name: str, ports: dict[str, int]) -> int:
    ports[name] = _free_port()
    return ports[name]


def main(ctx: BenchContext) -> None:
    if not ctx.database_url:
        print("scale.replica: BENCH_DATABASE_URL is not set (run through scripts/run-bench); skipped")
        return
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (scripts/ensure-system-packages wrk)")
    from psycopg.conninfo import conninfo_to_dict

    from omnishop.testing_replica import start_replica

    seconds = 2 if ctx.quick else 10
    work = Path(tempfile.mkdtemp(prefix="omnishop-bench-replica-"))
    database_url = _database(ctx.database_url)
    dbname = database_url.rsplit("/", 1)[1]
    env = _env(database_url, work / "var")
    env.pop("REDIS_URL", None)
    env.update({"OMNISHOP_WEB_CHANNEL": "web", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0"})
    omnishop = str(Path(sys.executable).with_name("omnishop"))
    _run([omnishop, "migrate", "-v0"], env)
    fixture = json.loads(_run([sys.executable, "-m", "bench.catalog_fixture", "load"], env))
    _analyze(database_url)
    sample_file = work / "sample.json"
    _run([sys.executable, "-m", "bench.catalog_fixture", "sample", str(sample_file)], env)
    sample = json.loads(sample_file.read_text())
    web_details = [item for item in sample["detail"] if "/web/" in item["path"]]
    sample["product-page"] = [
        {"path": f"/p/{item['path'].rstrip('/').rsplit('/', 1)[1]}/"} for item in web_details
    ]

    primary = conninfo_to_dict(database_url)
    replica = start_replica(
        host=primary.get("host", "127.0.0.1"),
        port=primary.get("port", 5432),
        user=primary.get("user", "postgres"),
    )
    results: dict[tuple[str, str], list[dict]] = {}
    rows_on_replica: dict[str, int] = {}  # rows the replica returned during each kind's runs on each server
    ports: dict[str, int] = {}
    try:
        replica.caught_up_with(_flush_lsn(database_url))
        replica_url = f"postgres://{primary.get('user', 'postgres')}@127.0.0.1:{replica.port}/{dbname}"
        # Both servers run side by side and the repeats alternate between them (primary first, then replica
        # first), so that the machine's drifting load falls on both alike.
        servers: dict[str, subprocess.Popen] = {}
        try:
            servers["primary"] = serve(env, _free_port_for("primary", ports))
            servers["replica"] = serve(
                {**env, "DATABASE_REPLICA_URL": replica_url}, _free_port_for("replica", ports)
            )
            for kind in ("list", "detail", "product-page"):
                script = work / f"{kind}.lua"
                paths = ", ".join(json.dumps(item["path"]) for item in sample[kind])
                script.write_text(LUA % {"paths": paths, "etags": ""})
                for target in servers:  # warm both workers' connections and prepared statements
                    _wrk(ports[target], script, CONNECTIONS, 2)
                    results[kind, target] = []
                for repeat in range(REPEATS):
                    order = ("primary", "replica") if repeat % 2 == 0 else ("replica", "primary")
                    for target in order:
                        before = _replica_rows(replica, dbname)
                        results[kind, target].append(_wrk(ports[target], script, CONNECTIONS, seconds))
                        rows_on_replica[f"{kind}-{target}"] = (
                            rows_on_replica.get(f"{kind}-{target}", 0)
                            + _replica_rows(replica, dbname)
                            - before
                        )
        finally:
            for server in servers.values():
                stop(server)
    finally:
        replica.remove()
        shutil.rmtree(work, ignore_errors=True)

    for kind in ("list", "detail", "product-page"):
        if rows_on_replica[f"{kind}-replica"] <= rows_on_replica[f"{kind}-primary"]:
            raise RuntimeError(f"the routed {kind} run did not read from the replica: rows {rows_on_replica}")
    load = os.getloadavg()[1]
    cases = []
    for kind, what in (
        ("list", "a page of 20 products"),
        ("detail", "a product with its variants"),
        ("product-page", "the web shop's product page, HTML, as a guest"),
    ):
        base, case = results[kind, "primary"], results[kind, "replica"]

        def errors(runs: list[dict]) -> int:
            return sum(r["connect"] + r["read"] + r["write"] + r["timeout"] + r["status"] for r in runs)

        if errors(base):
            raise RuntimeError(f"scale.replica: the primary baseline of {kind} had errors: {base}")
        cases.append(
            {
                "case": f"{kind}-{CONNECTIONS}-clients-reads-on-replica",
                "unit": "requests/s",
                "value": round(median([r["rps"] for r in case]), 1),
                "p50_ms": round(median([r["p50_us"] for r in case]) / 1000, 3),
                "p99_ms": round(median([r["p99_us"] for r in case]) / 1000, 3),
                "errors": errors(case),
                "runs": [round(r["rps"], 1) for r in case],
                "baseline": {
                    "what": f"the same server and requests ({what}, cold) with every read on the primary "
                    "(no DATABASE_REPLICA_URL), same run, repeats interleaved",
                    "value": round(median([r["rps"] for r in base]), 1),
                    "p50_ms": round(median([r["p50_us"] for r in base]) / 1000, 3),
                    "p99_ms": round(median([r["p99_us"] for r in base]) / 1000, 3),
                },
                "rows_returned_by_replica": {
                    "routed": rows_on_replica[f"{kind}-replica"],
                    "baseline": rows_on_replica[f"{kind}-primary"],
                },
                "notes": f"one {os.cpu_count()}-core machine runs the primary, the replica, omnishop serve "
                f"(granian, 2 workers of 1 thread) and wrk: a replica adds no CPU here, so the ratio shows routing's overhead and "
                f"correctness under load, not added capacity; load average {load:.1f}; {REPEATS}×{seconds}s "
                f"per case, median; catalog {fixture['products']} products / {fixture['variants']} variants; "
                f"rotating over {len(sample[kind])} paths",
            }
        )
    ctx.report("scale.replica", cases)
