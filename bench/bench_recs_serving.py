"""recs.serving: recommendation latency per endpoint, in-process (service call) and over HTTP.

Seeds a shop from the UCI Online Retail data (3.4 k products published on one channel, 3.3 k customers
known to it, their 225 k purchases as events, 300 anonymous browsing sessions), trains a version with
`services.train()` (its wall time is reported too), then times 400 sequential calls per endpoint with random
keys. Baseline, same run, same database: the one indexed read of a precomputed list by raw SQL (what a
serving layer cannot avoid), so the ratio shows what filtering, fallbacks and serialisation cost on top.
HTTP: `omnishop serve` (its default server, granian, 2 workers) on the loopback, one keep-alive client.
Runs on BENCH_DATABASE_URL (PostgreSQL, fresh database) or, without it, a temporary SQLite file. The
Django work runs in a child process so each benchmark module gets its own settings.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import BenchContext, latency_cases
from bench.worker import serve, stop

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
DB_NAME = "omnishop_bench_recs"
CALLS = 400
SECRET = "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH"


# --- shared helpers (also used by bench_search_latency) ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(base_url: str, name: str) -> str:
    """A new, empty database on the bench server, or a temporary SQLite file without one."""
    if not base_url:
        return f"sqlite:///{tempfile.mkdtemp(prefix='omnishop-bench-')}/{name}.sqlite3"
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def child_env(database_url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": SECRET,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "OMNISHOP_VAR_DIR": tempfile.mkdtemp(prefix="omnishop-bench-var-"),
        "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
        "LOG_LEVEL": "ERROR",
        "DJANGO_SETTINGS_MODULE": "omnishop.settings",
    }


def run_child(module: str, env: dict, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", module, "--child", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} child failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def http_latencies(port: int, key: str, paths: list[str]) -> tuple[list[float], int]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {key}"}
    samples, errors = [], 0
    for path in paths[:20]:  # warm-up
        conn.request("GET", path, headers=headers)
        conn.getresponse().read()
    for path in paths:
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        samples.append((time.perf_counter() - start) * 1000)
        errors += response.status != 200
    conn.close()
    return samples, errors


# --- child: seed, train, time in-process ------------------------------------------------------------------


def _seed() -> dict:
    import numpy as np
    from django.core.management import call_command
    from django.utils import timezone

    from omnishop.catalog.models import ChannelListing, Product, Variant
    from omnishop.channels.services import create_channel, issue_api_key
    from omnishop.customers.models import ChannelIdentity, Customer
    from omnishop.recommendations.engine.data import load_online_retail
    from omnishop.recommendations.models import Event

    call_command("migrate", verbosity=0)
    channel = create_channel(code="bench-recs", name="Bench", kind="web", currency="GBP")
    key = issue_api_key(channel=channel, name="bench", scopes=["catalog:read", "events:write"]).secret
    data = load_online_retail(DATASETS / "online_retail_uci")
    products = Product.objects.bulk_create(
        [
            Product(title=(data.item_text[i] or f"Item {code}").title(), slug=f"uci-{code.lower()}")
            for i, code in enumerate(data.item_ids.tolist())
        ],
        batch_size=2000,
    )
    variants = Variant.objects.bulk_create(
        [Variant(product=p, sku=f"UCI-{p.slug}") for p in products], batch_size=2000
    )
    ChannelListing.objects.bulk_create(
        [
            ChannelListing(channel=channel, variant=v, is_published=True, price="2.50", currency="GBP")
            for v in variants
        ],
        batch_size=2000,
    )
    now = timezone.now()
    customers = Customer.objects.bulk_create(
        [Customer(email=f"uci{int(u)}@example.com") for u in data.user_ids.tolist()], batch_size=2000
    )
    ChannelIdentity.objects.bulk_create(
        [
            ChannelIdentity(customer=c, channel=channel, email=c.email, first_seen_at=now, last_seen_at=now)
            for c in customers
        ],
        batch_size=2000,
    )
    shift = int(now.timestamp()) - 86_400 - int(data.time.max())
    product_ids = np.array([p.pk for p in products])
    customer_ids = np.array([c.pk for c in customers])
    from datetime import UTC, datetime

    events = [
        Event(
            channel=channel,
            kind="purchase",
            customer_id=int(customer_ids[u]),
            product_id=int(product_ids[i]),
            occurred_at=datetime.fromtimestamp(int(t) + shift, UTC),
            source="import",
        )
        for u, i, t in zip(data.user.tolist(), data.item.tolist(), data.time.tolist(), strict=True)
    ]
    rng = random.Random(7)
    for s in range(300):
        for _ in range(5):
            events.append(
                Event(
                    channel=channel,
                    kind="view",
                    anonymous_id=f"session-{s}",
                    product_id=int(rng.choice(product_ids)),
                    occurred_at=now,
                )
            )
    Event.objects.bulk_create(events, batch_size=5000)
    return {
        "channel": channel,
        "key": key,
        "products": product_ids.tolist(),
        "customers": customer_ids.tolist(),
        "events": len(events),
    }


def child_main() -> None:
    import django

    django.setup()
    from django.db import connection

    from omnishop.recommendations import services
    from omnishop.recommendations.models import CandidateList

    seed = _seed()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # a live database has planner statistics; a freshly seeded one not yet
    channel = seed["channel"]
    started = time.perf_counter()
    version = services.train()
    train_s = time.perf_counter() - started
    rng = random.Random(11)
    products, customers = seed["products"], seed["customers"]
    from omnishop.customers.models import Customer

    customer_objs = {c.pk: c for c in Customer.objects.filter(pk__in=customers)}
    calls = {
        "customer": lambda: services.for_customer(
            channel=channel, customer=customer_objs[rng.choice(customers)]
        ),
        "similar": lambda: services.similar_products(channel=channel, product_id=rng.choice(products)),
        "bought_together": lambda: services.bought_together(channel=channel, product_id=rng.choice(products)),
        "cart": lambda: services.for_cart(channel=channel, product_ids=rng.sample(products, 3)),
        "session": lambda: services.for_session(
            channel=channel, anonymous_id=f"session-{rng.randrange(300)}"
        ),
    }
    kinds = {"customer": "customer", "similar": "similar", "bought_together": "together", "cart": "together"}
    sql = (
        f"SELECT product_ids, scores FROM {CandidateList._meta.db_table} "
        "WHERE version_id = %s AND kind = %s AND key = %s"
    )
    results = {}
    for name, call in calls.items():
        for _ in range(20):
            call()
        samples = []
        for _ in range(CALLS):
            start = time.perf_counter()
            call()
            samples.append((time.perf_counter() - start) * 1000)
        kind = kinds.get(name, "similar")
        pool = customers if kind == "customer" else products
        base = []
        with connection.cursor() as cursor:
            for _ in range(CALLS):
                start = time.perf_counter()
                cursor.execute(sql, [version.pk, kind, rng.choice(pool)])
                cursor.fetchall()
                base.append((time.perf_counter() - start) * 1000)
        results[name] = {"samples": samples, "baseline": base}
    print(
        json.dumps(
            {
                "results": results,
                "train_s": round(train_s, 2),
                "version": version.number,
                "stats": version.stats,
                "metrics": version.metrics,
                "key": seed["key"],
                "products": products,
                "customers": customers,
                "vendor": connection.vendor,
            }
        )
    )


def main(ctx: BenchContext) -> None:
    if not (DATASETS / "online_retail_uci").is_dir():
        print("recs.serving: shared datasets not found; skipped")
        return
    db_url = fresh_database(ctx.database_url, DB_NAME)
    env = child_env(db_url)
    out = run_child("bench.bench_recs_serving", env)
    rng = random.Random(5)
    paths = {
        "customer": [
            f"/api/v1/recommendations/customers/{rng.choice(out['customers'])}" for _ in range(CALLS)
        ],
        "similar": [
            f"/api/v1/recommendations/products/{rng.choice(out['products'])}/similar" for _ in range(CALLS)
        ],
        "bought_together": [
            f"/api/v1/recommendations/products/{rng.choice(out['products'])}/bought-together"
            for _ in range(CALLS)
        ],
        "cart": [
            "/api/v1/recommendations/cart?"
            + "&".join(f"product_id={p}" for p in rng.sample(out["products"], 3))
            for _ in range(CALLS)
        ],
        "session": [f"/api/v1/recommendations/sessions/session-{rng.randrange(300)}" for _ in range(CALLS)],
    }
    port = free_port()
    server = serve(env, port)
    try:
        http = {name: http_latencies(port, out["key"], p) for name, p in paths.items()}
    finally:
        stop(server)
    cases = []
    note = f"{out['vendor']}; version {out['version']} trained in {out['train_s']} s on {out['stats']}"
    for name, r in out["results"].items():
        cases += latency_cases(
            name,
            r["samples"],
            r["baseline"],
            baseline_what="raw SQL read of the precomputed list, same database, same run",
            note=note,
            http=http[name],
        )
    cases.append(
        {
            "case": "train-online-retail",
            "unit": "s",
            "value": out["train_s"],
            "errors": 0,
            "notes": f"services.train(): load events, holdout evaluation, fit, precompute lists; {out['stats']}; holdout {out['metrics']}",
        }
    )
    ctx.report("recs.serving", cases)


if __name__ == "__main__" and "--child" in sys.argv:
    child_main()
