"""Load-independent costs of one reservation on a hot SKU vs the raw-SQL baseline (issue 16, ADR 0044).

Usage: PYTHONPATH=src .venv/bin/python bench/measure_hot_reservation.py postgres://… [REV]   (a scratch database)

With REV (a git revision, e.g. the commit before a change), the reservation statement of that revision's
`inventory/services/reserving.py` is measured too, in turn with today's, in the same rounds.

Seeds the reservation benchmark's data, then for N reservations of one unit of the hot SKU (one client, in
turn with the raw-SQL baselines of bench_inventory_reservations: the same durable work, and the bare
conditional UPDATE) reports medians over rounds of:
statements, WAL bytes (`pg_current_wal_lsn()` difference), client CPU (`time.process_time`), server CPU
(the backend's utime + stime from /proc/<pid>/stat, same machine only), and the writes made while the hot
stock row is locked — read from the statement's EXPLAIN (ANALYZE) plan: every ModifyTable node that runs
after the LockRows node (or, for the raw UPDATE, the update itself).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_inventory_reservations import (  # noqa: E402
    HOT,
    RAW_RESERVE_SQL,
    RAW_UPDATE_SQL,
    _django,
    _seed,
)

ROUNDS, N = 5, 300


def _server_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") * 1000


def _reserving_at(rev: str):
    """`inventory.services.reserving` as it was at git revision `rev` (a module of its own)."""
    import importlib.util
    import subprocess

    source = subprocess.run(
        ["git", "show", f"{rev}:src/omnishop/inventory/services/reserving.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    spec = importlib.util.spec_from_loader("omnishop.inventory.services.reserving_at_rev", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "omnishop.inventory.services"
    sys.modules[spec.name] = module
    exec(compile(source, f"reserving.py@{rev}", "exec"), module.__dict__)
    return module


def main(db_url: str, rev: str | None = None) -> None:
    _django(db_url)
    env = _seed()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from omnishop.channels.models import Channel
    from omnishop.inventory import services

    channel = Channel.objects.get(code="bench-inv")
    variant_id, location_id = env["variants"][HOT], env["location_id"]
    import psycopg

    raw = psycopg.connect(db_url, autocommit=True)
    tag = time.time_ns()
    counter = 0

    def wal() -> int:
        with connection.cursor() as c:
            c.execute("SELECT pg_current_wal_lsn() - '0/0'")
            return int(c.fetchone()[0])

    def service_once():
        nonlocal counter
        counter += 1
        services.reserve_stock(
            channel=channel, lines=[services.LineRequest(HOT, 1)], key=f"m-{tag}-{counter}"
        )

    def raw_params():
        nonlocal counter
        counter += 1
        return {
            "channel": channel.pk,
            "key": f"r-{tag}-{counter}",
            "variant": variant_id,
            "location": location_id,
        }

    def raw_once():
        raw.execute(RAW_RESERVE_SQL, raw_params(), prepare=True)

    def raw_update_once():
        raw.execute(RAW_UPDATE_SQL, (variant_id, location_id), prepare=True)

    from omnishop.inventory.services import holds

    versions = {"now": holds.reserve_in_one_statement}
    if rev:
        versions[rev] = _reserving_at(rev).reserve_in_one_statement

    def at(version: str, once):
        def run():
            holds.reserve_in_one_statement = versions[version]
            try:
                once()
            finally:
                holds.reserve_in_one_statement = versions["now"]

        return run

    connection.ensure_connection()
    service_pid = connection.connection.info.backend_pid
    raw_pid = raw.info.backend_pid
    service_once(), raw_once(), raw_update_once()
    cases = [(f"service@{v}", at(v, service_once), service_pid) for v in versions]
    cases.append(("raw", raw_once, raw_pid))
    cases.append(("raw-update-only", raw_update_once, raw_pid))
    for _, once, _ in cases:
        once()
    figures: dict[str, dict[str, list[float]]] = {name: {} for name, _, _ in cases}
    for _ in range(ROUNDS):
        for name, once, pid in cases:
            w0, s0, c0 = wal(), _server_cpu(pid), time.process_time()
            for _ in range(N):
                once()
            c1, s1, w1 = time.process_time(), _server_cpu(pid), wal()
            f = figures[name]
            f.setdefault("wal_bytes", []).append((w1 - w0) / N)
            f.setdefault("client_cpu_ms", []).append((c1 - c0) * 1000 / N)
            f.setdefault("server_cpu_ms", []).append((s1 - s0) / N)
    with CaptureQueriesContext(connection) as captured:
        service_once()
    for name, f in figures.items():
        print(name, {k: round(statistics.median(v), 3) for k, v in f.items()})
    print("service statements:", len(captured.captured_queries))
    for version in versions:
        times = _node_times(at(version, service_once))
        print(f"node times @{version} (ms, median of 30 EXPLAIN ANALYZE):", times)
    print("node times raw (ms, median of 30 EXPLAIN ANALYZE):", _raw_node_times(raw, raw_params))


def _walk(plan: dict, name: str, samples: dict[str, list[float]]) -> None:
    name = plan.get("Subplan Name") or name
    if plan["Node Type"] in ("ModifyTable", "LockRows"):
        samples.setdefault(name.replace("CTE ", ""), []).append(plan["Actual Total Time"])
    for child in plan.get("Plans", []):
        _walk(child, name, samples)


def _raw_node_times(raw, params, runs: int = 30) -> dict:
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        top = raw.execute("EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) " + RAW_RESERVE_SQL, params()).fetchone()[
            0
        ][0]
        _walk(top["Plan"], "main", samples)
        samples.setdefault("statement", []).append(top["Execution Time"])
    return {k: round(statistics.median(v), 3) for k, v in samples.items()}


def _columns(sql: str) -> int:
    """How many columns the statement's final SELECT returns (commas at parenthesis depth 0)."""
    tail, depth, columns = sql.rsplit("SELECT (SELECT id FROM head)", 1)[1], 0, 1
    for char in tail:
        depth += {"(": 1, ")": -1}.get(char, 0)
        columns += char == "," and depth == 0
    return columns


def _node_times(once, runs: int = 30) -> dict:
    """Run reservations under EXPLAIN (ANALYZE): the median time (ms) of each write and of the row lock.

    EXPLAIN's times are each node's own (inclusive) time, not a timeline; which writes happen while the stock
    row is locked follows from the statement's data dependencies (ADR 0044: before, every write waited for
    the lock; now only the stock update and the low-stock alert do)."""
    import json

    from omnishop.inventory.services import reserving

    samples: dict[str, list[float]] = {}
    real = reserving.run_statement

    def explained(sql, params, many=False):
        row = real("EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) " + sql, params)
        top = (row[0] if isinstance(row[0], list) else json.loads(row[0]))[0]
        _walk(top["Plan"], "main", samples)
        samples.setdefault("statement", []).append(top["Execution Time"])
        return (1, None, True, True, None, None, 1)[: _columns(sql)]

    modules = [
        m for name, m in sys.modules.items() if name.startswith("omnishop.inventory.services.reserving")
    ]
    for module in modules:
        module.run_statement = explained  # type: ignore[attr-defined]
    try:
        for _ in range(runs):
            once()
    finally:
        for module in modules:
            module.run_statement = real  # type: ignore[attr-defined]
    return {k: round(statistics.median(v), 3) for k, v in samples.items()}


if __name__ == "__main__":
    main(*sys.argv[1:3])
