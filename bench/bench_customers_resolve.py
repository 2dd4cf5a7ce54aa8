"""customers.resolve and customers.find_duplicates on PostgreSQL.

customers.resolve: every invoice of UCI Online Retail December 2010 (real data, /work/shared/datasets) with
a CustomerID is attributed to its customer through `resolve_customer(channel=, external_id=)`, in invoice
order, each call its own transaction — first sight creates the customer and identity, later invoices
find them. Baseline in the same run and database: the same work as hand-written SQL with psycopg (SELECT
the identity; INSERT customer + identity, or UPDATE last_seen) in one transaction per invoice. Each run
uses a fresh channel, so creation is measured every time.

customers.find_duplicates: a synthetic population (seeded; the datasets carry no names or addresses) of N
people at UK-style addresses, 5 % of them entered a second time with a typo, nickname, swapped name order
or a differently spaced postcode. We time `find_duplicates(min_score=0.8)` and report the recall and
precision of the planted pairs. Baseline: rapidfuzz `cdist` over all name pairs (no blocking, vectorised
C, names only) — the O(n²) comparison blocking avoids.
"""

from __future__ import annotations

import csv
import gzip
import os
import random
import sys
import time
from pathlib import Path

from bench.harness import BenchContext, median, percentile

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (the worker process)
    sys.path.insert(0, str(ROOT))

from bench.worker import setup_django  # noqa: E402

DATASET = Path(os.environ.get("OMNISHOP_DATASETS", ROOT.parent / "shared" / "datasets"))
INVOICES = DATASET / "online_retail_uci" / "online_retail_2010-12.csv.gz"
REPEATS = 3


def _django(db_url: str) -> None:
    setup_django(db_url, debug=None)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _invoice_customers() -> list[str]:
    """CustomerID of each invoice with one, in invoice order ('17850.0' -> '17850')."""
    seen, out = set(), []
    with gzip.open(INVOICES, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            invoice, customer = row["InvoiceNo"], row["CustomerID"].strip()
            if not customer or invoice in seen:
                continue
            seen.add(invoice)
            out.append(str(int(float(customer))))
    return out


def _fresh_channel(tag: str):
    from omnishop.channels.services import create_channel

    code = f"bench-cust-{tag}-{time.time_ns() % 10**12}"
    return create_channel(code=code, name=code, kind="marketplace", currency="GBP")


def _service_run(ids: list[str]) -> tuple[float, list[float]]:
    from omnishop.customers.services import resolve_customer

    channel = _fresh_channel("svc")
    latencies = []
    start = time.perf_counter()
    for external_id in ids:
        t0 = time.perf_counter()
        resolve_customer(channel=channel, external_id=external_id)
        latencies.append((time.perf_counter() - t0) * 1000)
    return len(ids) / (time.perf_counter() - start), latencies


def _raw_run(db_url: str, ids: list[str]) -> tuple[float, list[float]]:
    import psycopg

    channel = _fresh_channel("raw")
    latencies = []
    with psycopg.connect(db_url) as conn:
        start = time.perf_counter()
        for external_id in ids:
            t0 = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    "SELECT id FROM customers_channelidentity WHERE channel_id = %s AND external_id = %s FOR UPDATE",
                    [channel.pk, external_id],
                )
                found = cur.fetchone()
                if found:
                    cur.execute(
                        "UPDATE customers_channelidentity SET last_seen_at = now() WHERE id = %s", [found[0]]
                    )
                else:
                    cur.execute(
                        "INSERT INTO customers_customer (first_name, last_name, email, phone, created_at,"
                        " updated_at) VALUES ('', '', '', '', now(), now()) RETURNING id"
                    )
                    customer_id = cur.fetchone()[0]
                    cur.execute(
                        "INSERT INTO customers_channelidentity (customer_id, channel_id, external_id, email,"
                        " phone, first_seen_at, last_seen_at) VALUES (%s, %s, %s, '', '', now(), now())",
                        [customer_id, channel.pk, external_id],
                    )
            latencies.append((time.perf_counter() - t0) * 1000)
        return len(ids) / (time.perf_counter() - start), latencies


FIRST = [
    "Oliver",
    "George",
    "Harry",
    "Jack",
    "Jacob",
    "Noah",
    "Charlie",
    "Muhammad",
    "Thomas",
    "Oscar",
    "William",
    "James",
    "Amelia",
    "Olivia",
    "Isla",
    "Emily",
    "Poppy",
    "Ava",
    "Isabella",
    "Jessica",
    "Lily",
    "Sophie",
    "Grace",
    "Sophia",
    "Mia",
    "Evie",
    "Ruby",
    "Ella",
    "Scarlett",
    "Chloe",
    "Wei",
    "Li",
    "Priya",
    "Aisha",
    "Mateusz",
    "Giulia",
    "Lucas",
    "Sven",
]
LAST = [
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "Zhang",
    "Wang",
    "Kowalski",
    "Rossi",
    "Nielsen",
]
STREETS = [
    "High Street",
    "Station Road",
    "Main Street",
    "Park Road",
    "Church Road",
    "Church Street",
    "London Road",
    "Victoria Road",
    "Green Lane",
    "Manor Road",
    "Church Lane",
    "Park Avenue",
    "The Avenue",
    "Queens Road",
    "New Road",
    "Grange Road",
    "Kings Road",
    "Mill Lane",
    "Albert Road",
    "North Street",
]
NICK = {
    "William": "Bill",
    "James": "Jim",
    "Thomas": "Tom",
    "Isabella": "Bella",
    "Jessica": "Jess",
    "Charlie": "Charles",
}


def _population(n: int, seed: int = 7) -> tuple[list[dict], set[tuple[int, int]]]:
    rng = random.Random(seed)
    people = []
    for _ in range(n):
        outward = f"{rng.choice(['LS', 'M', 'B', 'E', 'N', 'S', 'W', 'SE', 'NW', 'YO', 'HU', 'BS'])}{rng.randint(1, 30)}"
        people.append(
            {
                "first": rng.choice(FIRST),
                "last": rng.choice(LAST),
                "line1": f"{rng.randint(1, 250)} {rng.choice(STREETS)}",
                "city": rng.choice(
                    ["Leeds", "Manchester", "Birmingham", "London", "York", "Hull", "Bristol"]
                ),
                "postcode": f"{outward} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
            }
        )
    planted = []
    for index in rng.sample(range(n), n // 20):
        twin = dict(people[index])
        change = rng.choice(["typo", "nick", "swap", "postcode", "street"])
        if change == "typo":
            pos = rng.randrange(1, len(twin["last"]))
            twin["last"] = twin["last"][:pos] + twin["last"][pos + 1 :]
        elif change == "nick":
            twin["first"] = NICK.get(twin["first"], twin["first"][:3])
        elif change == "swap":
            twin["first"], twin["last"] = twin["last"], twin["first"]
        elif change == "postcode":
            twin["postcode"] = twin["postcode"].replace(" ", "").lower()
        else:
            twin["line1"] = (
                twin["line1"].replace("Street", "St").replace("Road", "Rd").replace("Avenue", "Ave")
            )
        planted.append((index, len(people)))
        people.append(twin)
    return people, set(planted)


def _load_population(people: list[dict]) -> list[int]:
    from django.db import connection

    from omnishop.customers.models import Address, Customer

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE customers_mergerecord, customers_address, customers_channelidentity, "
            "customers_marketingconsent, customers_customerpreferences, customers_customer CASCADE"
        )
    customers = Customer.objects.bulk_create(
        [Customer(first_name=p["first"], last_name=p["last"]) for p in people]
    )
    Address.objects.bulk_create(
        [
            Address(
                customer=c,
                name=f"{p['first']} {p['last']}",
                line1=p["line1"],
                city=p["city"],
                postcode=p["postcode"],
                country="GB",
                is_default_shipping=True,
                is_default_billing=True,
            )
            for c, p in zip(customers, people, strict=True)
        ]
    )
    return [c.pk for c in customers]


def _duplicates_case(n: int) -> dict:
    from rapidfuzz import fuzz, process

    from omnishop.customers.services import find_duplicates

    people, planted = _population(n)
    ids = _load_population(people)
    planted_ids = {tuple(sorted((ids[a], ids[b]))) for a, b in planted}
    times, found = [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        found = find_duplicates(min_score=0.8)
        times.append(time.perf_counter() - start)
    pairs = {(p.customer_a, p.customer_b) for p in found}
    hits = len(pairs & planted_ids)
    names = [f"{p['first']} {p['last']}".lower() for p in people]
    base_times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        process.cdist(names, names, scorer=fuzz.token_sort_ratio, score_cutoff=80, dtype="uint8", workers=1)
        base_times.append(time.perf_counter() - start)
    value = len(people) / median(times)
    return {
        "case": f"{len(people)}-customers",
        "unit": "customers/s",
        "value": round(value, 1),
        "p50_ms": round(median(times) * 1000, 1),
        "p99_ms": round(max(times) * 1000, 1),
        "errors": 0,
        "metrics_detail": {
            "planted_pairs": len(planted_ids),
            "recall": round(hits / len(planted_ids), 3),
            "precision": round(hits / len(pairs), 3) if pairs else None,
            "pairs_reported": len(pairs),
        },
        "baseline": {
            "what": "rapidfuzz cdist over all name pairs (no blocking, names only, 1 thread), same data, same run",
            "value": round(len(people) / median(base_times), 1),
        },
        "notes": f"find_duplicates(min_score=0.8) median of {REPEATS}; p99 = slowest run; synthetic population "
        f"(seed 7), 5% planted duplicates with mild changes (typo, nickname, swapped names, postcode spacing, "
        "St/Rd abbreviations) — easier than real data, so recall/precision are an upper bound; full scan from "
        "PostgreSQL included",
    }


def main(ctx: BenchContext) -> None:
    if not ctx.database_url:
        print("customers: BENCH_DATABASE_URL is not set (run through scripts/run-bench); skipped")
        return
    _django(ctx.database_url)
    ids = _invoice_customers()
    if ctx.quick:
        ids = ids[:400]
    _service_run(ids[:50])  # warm connections and caches
    service, raw = [], []
    for _ in range(REPEATS):
        service.append(_service_run(ids))
        raw.append(_raw_run(ctx.database_url, ids))
    latencies = [ms for _, run in service for ms in run]
    ctx.report(
        "customers.resolve",
        [
            {
                "case": "uci-2010-12-invoices",
                "unit": "invoices/s",
                "value": round(median([r for r, _ in service]), 1),
                "p50_ms": round(median(latencies), 3),
                "p99_ms": round(percentile(latencies, 99), 3),
                "errors": 0,
                "baseline": {
                    "what": "same lookups/inserts as hand-written SQL via psycopg, one transaction per invoice, same database, same run",
                    "value": round(median([r for r, _ in raw]), 1),
                },
                "notes": f"{len(ids)} invoices, {len(set(ids))} distinct customers; fresh channel per run; "
                f"median of {REPEATS} runs; one client, sequential",
            }
        ],
    )
    sizes = [2000] if ctx.quick else [2000, 10000]
    ctx.report("customers.find_duplicates", [_duplicates_case(n) for n in sizes])
