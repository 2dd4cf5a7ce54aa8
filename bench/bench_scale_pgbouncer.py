"""scale.pgbouncer: HTTP checkout through PgBouncer (transaction pool mode) against the same checkout straight to
PostgreSQL, in the same run (ADR 0031).

Three `omnishop serve` instances (its default server, granian: 2 workers of one thread each) on the same seeded
database: direct with the default settings (hot statements prepared on the server), direct with the pooler's
settings (OMNISHOP_DB_POOLER=pgbouncer: nothing prepared, no server-side cursors) to separate the cost of the
settings from the cost of the extra hop, and through a throwaway PgBouncer (scripts/pgbouncer-start, Debian's 1.18).
Their windows alternate, so drift on a shared machine spreads over all three. The baseline of each case is the
direct server with the default settings; the checkout's own functions come from bench_orders_checkout.
"""

from __future__ import annotations

import random
import subprocess
import tempfile

from bench.bench_orders_checkout import (
    ROOT,
    _checkout_op,
    _django,
    _free_port,
    _run,
    _seed,
    _start_server,
    _stop,
)
from bench.harness import BenchContext, median, percentile

CLIENTS = 8


def main(ctx: BenchContext) -> None:
    if not ctx.database_url:
        print("scale.pgbouncer: BENCH_DATABASE_URL is not set (run scripts/run-bench); skipped")
        return
    _django(ctx.database_url)
    env = _seed()
    seconds, repeats = (2.0, 1) if ctx.quick else (5.0, 3)
    skus = [s for s in env["variants"] if s != "BENCH-FLASH"]

    def any_sku():
        return random.choice(skus)

    pgb_dir = tempfile.mkdtemp(prefix="omnishop-bench-pgbouncer-")
    started = subprocess.run(
        ["sh", str(ROOT / "scripts/pgbouncer-start"), pgb_dir, str(_free_port()), ctx.database_url],
        capture_output=True,
        text=True,
        check=True,
    )
    pgb_url = started.stdout.strip().splitlines()[-1]
    pooler = {"OMNISHOP_DB_POOLER": "pgbouncer"}
    setups = {
        "direct": (ctx.database_url, {}),
        "direct-pooler-settings": (ctx.database_url, pooler),
        "pgbouncer": (pgb_url, pooler),
    }
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        for name, (url, extra) in setups.items():
            servers[name] = _start_server(url, extra_env=extra)
        for _, port in servers.values():  # warm both workers of each
            _run(lambda port=port: _checkout_op(port, env["api_key"], any_sku), 4, 1.0)
        rates: dict[str, list[float]] = {name: [] for name in setups}
        samples: dict[str, list[float]] = {name: [] for name in setups}
        outcomes: dict[str, dict[str, int]] = {name: {} for name in setups}
        for _ in range(repeats):
            for name, (_, port) in servers.items():
                rate, lat, out = _run(
                    lambda port=port: _checkout_op(port, env["api_key"], any_sku), CLIENTS, seconds
                )
                rates[name].append(rate)
                samples[name] += lat
                for k, v in out.items():
                    outcomes[name][k] = outcomes[name].get(k, 0) + v
    finally:
        for server, _ in servers.values():
            _stop(server)
        subprocess.run(["sh", str(ROOT / "scripts/pgbouncer-stop"), "--wipe", pgb_dir], check=False)

    def figures(name: str) -> dict:
        total = sum(outcomes[name].values())
        errors = total - outcomes[name].get("ok", 0)
        return {
            "value": round(median(rates[name]), 1),
            "p50_ms": round(percentile(samples[name], 50), 2),
            "p99_ms": round(percentile(samples[name], 99), 2),
            "errors": errors,
            "error_rate": round(errors / total, 4) if total else None,
            "outcomes": outcomes[name],
        }

    direct = figures("direct")
    baseline = {
        "what": "the same HTTP checkout, omnishop serve straight to PostgreSQL with the default settings, "
        "same database, same run, windows alternating with this case's",
        **{k: direct[k] for k in ("value", "p50_ms", "p99_ms", "errors", "outcomes")},
    }
    cases = []
    for name, what in (
        ("direct", "straight to PostgreSQL, default settings (the baseline itself: ratio 1)"),
        ("direct-pooler-settings", "straight to PostgreSQL with OMNISHOP_DB_POOLER=pgbouncer's settings"),
        ("pgbouncer", "through PgBouncer 1.18, pool_mode=transaction, default_pool_size=40"),
    ):
        got = figures(name)
        cases.append(
            {
                "case": f"{CLIENTS}-clients-checkout-{name}",
                "unit": "orders/s",
                **{k: got[k] for k in ("value", "p50_ms", "p99_ms", "errors", "error_rate")},
                "baseline": baseline,
                "notes": f"POST /api/v1/orders/checkout, {what}; omnishop serve (granian, 2 workers of 1 thread), "
                f"{CLIENTS} client threads on the same machine, {repeats}x{seconds:.0f}s windows, value = median; "
                f"outcomes {got['outcomes']}",
            }
        )
    ctx.report("scale.pgbouncer", cases)


if __name__ == "__main__":
    main(BenchContext())
