"""Where a checkout's Python CPU goes: N checkouts in process, through Django's test client (the whole
middleware stack of `omnishop serve`), on the PostgreSQL of DATABASE_URL, the request and payload of
bench/bench_orders_checkout.py (channel key, one random SKU, flat shipping, test_card, Idempotency-Key).

Not a benchmark and not a test: a measuring tool whose figures do not depend on the machine's load.
It prints
- every statement one warm checkout sends, including what runs after the commit (on_commit hooks), and
  what the outbox relay then runs for that order's events (in `omnishop serve` a relay thread of the same
  worker does it, off the request);
- CPU ms per order (time.process_time, median of `--rounds` rounds of N checkouts), request and relay;
- the top `--top` cumulative costs under cProfile (of the checkouts, or with `--relay` of the relay draining
  their events).

    DATABASE_URL=postgres://… PYTHONPATH=src .venv/bin/python bench/profile_checkout.py [-n 200]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@contextmanager
def _counting(into: list[str]):
    """Every statement psycopg sends, Django's and the raw cursors' (the stock take uses one) alike, with
    BEGIN (psycopg opens a transaction implicitly, on a transaction's first statement) and COMMIT/ROLLBACK."""
    import psycopg

    originals = {}

    def patch(cls, name, wrap):
        originals[(cls, name)] = getattr(cls, name)
        setattr(cls, name, wrap(originals[(cls, name)]))

    def on_execute(original):
        def execute(self, query, *args, **kwargs):
            conn = self.connection
            if not conn.autocommit and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                into.append("BEGIN")
            into.append(" ".join(str(query if isinstance(query, str) else query.as_string(conn)).split()))
            return original(self, query, *args, **kwargs)

        return execute

    def on_end(word):
        def wrap(original):
            def end(self):
                if self.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    into.append(word)
                return original(self)

            return end

        return wrap

    patch(psycopg.Cursor, "execute", on_execute)  # ClientCursor (Django's) inherits it
    patch(psycopg.Cursor, "executemany", on_execute)
    patch(psycopg.Connection, "commit", on_end("COMMIT"))
    patch(psycopg.Connection, "rollback", on_end("ROLLBACK"))
    try:
        yield
    finally:
        for (cls, name), original in originals.items():
            setattr(cls, name, original)


def _backend_cpu_ms() -> float | None:
    """CPU time (user + system) the connection's PostgreSQL backend has used so far, from /proc (a server on
    this machine); None when it cannot be read. Clock ticks: measure enough checkouts per round."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200, help="checkouts per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--no-profile", action="store_true", help="only the statements and CPU per order")
    parser.add_argument("--dump", help="also write the cProfile stats to this file (pstats, snakeviz)")
    parser.add_argument(
        "--relay", action="store_true", help="profile the relay draining N orders' events, not the checkouts"
    )
    args = parser.parse_args()
    db_url = os.environ["DATABASE_URL"]
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

    from bench.bench_orders_checkout import ADDRESS, _django, _seed

    _django(db_url)
    os.environ["DEBUG"] = "0"
    import orjson
    from django.test import Client

    from omnishop.core import outbox

    env = _seed()
    skus = [s for s in env["variants"] if s.startswith("BO-")]
    client = Client(HTTP_HOST="127.0.0.1")
    headers = {"Authorization": f"Bearer {env['api_key']}"}

    def checkout() -> None:
        body = orjson.dumps(
            {
                "lines": [{"sku": random.choice(skus), "quantity": 1}],
                "shipping_method": "std",
                "shipping_address": ADDRESS,
                "payment": {"provider": "test_card", "token": "4242424242424242"},
            }
        )
        r = client.post(
            "/api/v1/orders/checkout",
            body,
            content_type="application/json",
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        if r.status_code != 201:
            raise SystemExit(f"checkout failed: {r.status_code} {r.content[:500]!r}")

    def drain() -> None:
        while outbox.run_once():
            pass

    for _ in range(20):  # warm: per-process caches, imports, prepared plans
        checkout()
    drain()

    statements: list[str] = []
    with _counting(statements):
        checkout()
    request_statements = list(statements)
    statements.clear()
    with _counting(statements):
        drain()
    relay_statements = list(statements)
    print(f"statements per checkout request (incl. after commit): {len(request_statements)}")
    for i, sql in enumerate(request_statements, 1):
        print(f"  {i:3d} {sql[:220]}")
    print(f"statements the relay then runs for its 2 events: {len(relay_statements)}")
    for i, sql in enumerate(relay_statements, 1):
        print(f"  {i:3d} {sql[:220]}")

    request_ms, relay_ms, server_ms = [], [], []
    for _ in range(args.rounds):
        s0 = _backend_cpu_ms()
        t0 = time.process_time()
        for _ in range(args.n):
            checkout()
        t1 = time.process_time()
        s1 = _backend_cpu_ms()
        drain()
        t2 = time.process_time()
        request_ms.append((t1 - t0) * 1000 / args.n)
        relay_ms.append((t2 - t1) * 1000 / args.n)
        if s0 is not None and s1 is not None:
            server_ms.append((s1 - s0) / args.n)
    request_ms.sort()
    relay_ms.sort()
    server_ms.sort()
    print(
        f"CPU ms per order, request: median {request_ms[len(request_ms) // 2]:.2f} "
        f"(rounds {', '.join(f'{x:.2f}' for x in request_ms)}); relay afterwards: median "
        f"{relay_ms[len(relay_ms) // 2]:.2f} (rounds {', '.join(f'{x:.2f}' for x in relay_ms)})"
    )
    if server_ms:
        print(
            f"server CPU ms per order (the request's PostgreSQL backend): median "
            f"{server_ms[len(server_ms) // 2]:.2f} (rounds {', '.join(f'{x:.2f}' for x in server_ms)})"
        )

    if args.no_profile:
        return
    profile = cProfile.Profile(time.process_time)  # CPU, not the waits of a loaded machine
    if args.relay:
        for _ in range(args.n):
            checkout()
        profile.enable()
        drain()
        profile.disable()
    else:
        profile.enable()
        for _ in range(args.n):
            checkout()
        profile.disable()
        drain()
    if args.dump:
        profile.dump_stats(args.dump)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats(args.sort).print_stats(args.top)
    what = "the relay draining the events of" if args.relay else "cProfile of"
    print(f"{what} {args.n} checkouts (times are totals over all of them; divide by {args.n}):")
    print(out.getvalue())


if __name__ == "__main__":
    main()
