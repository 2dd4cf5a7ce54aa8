"""search.latency: product search p50/p99 on a ≥ 30 k product catalogue, in-process and over HTTP.

Catalogue: the 32,951 Olist products (titled from their English and Portuguese category names and their
measurements — Olist publishes no product names) plus 10,000 Chinese products titled from the
chinese_shopping_reviews texts, all published on one channel. English queries are category words (one
and two words), Chinese queries category words and two-word pairs, type-ahead queries are 2-4 letter
prefixes. Baseline, same run and database: the full-text match alone (`backend().match`, the engine's own
cost), so the ratio shows what channel filtering, facets and logging add. HTTP: `omnishop serve`
(its default server, granian, 2 workers), one keep-alive client. Indexing throughput is reported as its own case.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import sys
import time
from pathlib import Path

from bench.bench_recs_serving import (
    child_env,
    free_port,
    fresh_database,
    http_latencies,
    run_child,
)
from bench.harness import BenchContext, latency_cases
from bench.worker import serve, stop

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
DB_NAME = "omnishop_bench_search"
CALLS = 300
CHINESE_PRODUCTS = 10_000

EN_QUERIES = [
    "health beauty", "computers accessories", "furniture decor", "bed bath table", "sports leisure",
    "housewares", "watches gifts", "telephony", "auto", "toys", "cool stuff", "garden tools", "perfumery",
    "baby", "electronics", "stationery", "fashion bags accessories", "pet shop", "office furniture",
    "luggage", "construction tools", "books", "musical instruments", "kitchen", "drinks", "food",
]  # fmt: skip
ZH_QUERIES = [
    "手机", "平板", "水果", "洗发水", "热水器", "衣服", "计算机", "书籍", "酒店", "蒙牛",
    "手机 屏幕", "水果 新鲜", "衣服 质量", "平板 电池", "洗发水 味道", "电脑 速度",
]  # fmt: skip
PREFIXES = ["hea", "comp", "furn", "bed", "spo", "hou", "wat", "tel", "toy", "gar", "per", "bab", "手", "水"]


def olist_products():
    folder = DATASETS / "olist_catalog"
    with open(folder / "product_category_name_translation.csv", encoding="utf-8-sig") as f:
        english = {
            row["product_category_name"]: row["product_category_name_english"] for row in csv.DictReader(f)
        }
    with gzip.open(folder / "olist_products_dataset.csv.gz", "rt", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            pt = row["product_category_name"] or ""
            en = english.get(pt, pt).replace("_", " ")
            size = "x".join(
                row[k] or "?" for k in ("product_length_cm", "product_height_cm", "product_width_cm")
            )
            title = f"{en} {row['product_weight_g'] or '?'} g {size} cm".strip()
            yield row["product_id"], title, f"{en} {pt.replace('_', ' ')} photos {row['product_photos_qty']}"


def chinese_reviews(limit: int | None = None):
    path = DATASETS / "chinese_shopping_reviews" / "online_shopping_10_cats.dev.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if limit is not None and i >= limit:
                return
            text = (row["review"] or "").replace("\ufeff", "").strip()
            if text:
                yield f"zh-{i}", text[:80], text, row["cat"]


def create_catalogue(channel, rows) -> list[int]:
    """Products + one variant + a published listing each, in bulk; rows are (ref, title, description)."""
    from omnishop.catalog.models import ChannelListing, Product, Variant

    products = Product.objects.bulk_create(
        [Product(title=t[:500], slug=f"b-{ref}"[:200], description=d) for ref, t, d in rows], batch_size=2000
    )
    variants = Variant.objects.bulk_create(
        [Variant(product=p, sku=f"B-{p.slug}"[:64]) for p in products], batch_size=2000
    )
    ChannelListing.objects.bulk_create(
        [
            ChannelListing(channel=channel, variant=v, is_published=True, price="9.99", currency="BRL")
            for v in variants
        ],
        batch_size=2000,
    )
    return [p.pk for p in products]


def child_main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from omnishop.channels.services import create_channel, issue_api_key
    from omnishop.search import services
    from omnishop.search.backends import backend

    call_command("migrate", verbosity=0)
    channel = create_channel(code="bench-search", name="Bench", kind="web", currency="BRL")
    key = issue_api_key(channel=channel, name="bench", scopes=["catalog:read"]).secret
    rows = list(olist_products())
    rows += [(ref, title, text) for ref, title, text, _ in chinese_reviews(CHINESE_PRODUCTS)]
    create_catalogue(channel, rows)
    started = time.perf_counter()
    indexed = services.index_products()
    index_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # a live database has planner statistics; a freshly seeded one not yet
    rng = random.Random(3)
    engine = backend()
    results = {}
    sets = {"english": EN_QUERIES, "chinese": ZH_QUERIES, "typeahead": PREFIXES}
    for name, queries in sets.items():
        prefix = name == "typeahead"

        def call(q, prefix=prefix):
            if prefix:
                return services.suggest(channel=channel, query=q)
            return services.search_products(channel=channel, query=q, anonymous_id="bench")

        for q in queries:
            call(q)
        samples, base = [], []
        for _ in range(CALLS):
            q = rng.choice(queries)
            start = time.perf_counter()
            call(q)
            samples.append((time.perf_counter() - start) * 1000)
            terms = services.parse_query(q, prefix=prefix)
            start = time.perf_counter()
            # type-ahead's engine call ranks a bounded number of matches; its baseline does the same
            bounded = services.SUGGEST_RANKED_AT_MOST if prefix else None
            engine.match(terms, any_term=False, limit=services.CANDIDATES, rank_at_most=bounded)
            base.append((time.perf_counter() - start) * 1000)
        results[name] = {"samples": samples, "baseline": base}
    print(
        json.dumps(
            {
                "results": results,
                "indexed": indexed,
                "index_s": round(index_s, 2),
                "key": key,
                "vendor": connection.vendor,
            }
        )
    )


def main(ctx: BenchContext) -> None:
    if not (DATASETS / "olist_catalog").is_dir():
        print("search.latency: shared datasets not found; skipped")
        return
    from urllib.parse import quote

    db_url = fresh_database(ctx.database_url, DB_NAME)
    env = child_env(db_url)
    out = run_child("bench.bench_search_latency", env)
    rng = random.Random(9)
    paths = {
        "english": [f"/api/v1/search/products?q={quote(rng.choice(EN_QUERIES))}" for _ in range(CALLS)],
        "chinese": [f"/api/v1/search/products?q={quote(rng.choice(ZH_QUERIES))}" for _ in range(CALLS)],
        "typeahead": [f"/api/v1/search/suggest?q={quote(rng.choice(PREFIXES))}" for _ in range(CALLS)],
    }
    port = free_port()
    server = serve(env, port)
    try:
        http = {name: http_latencies(port, out["key"], p) for name, p in paths.items()}
    finally:
        stop(server)
    note = f"{out['vendor']}; {out['indexed']} products indexed"
    cases = []
    for name, r in out["results"].items():
        cases += latency_cases(
            name,
            r["samples"],
            r["baseline"],
            baseline_what="full-text match alone (backend().match), same database, same run",
            note=note,
            http=http[name],
        )
    cases.append(
        {
            "case": "index-all",
            "unit": "products/s",
            "value": round(out["indexed"] / out["index_s"], 1),
            "errors": 0,
            "notes": f"services.index_products() over {out['indexed']} products in {out['index_s']} s ({note})",
        }
    )
    ctx.report("search.latency", cases)


if __name__ == "__main__" and "--child" in sys.argv:
    child_main()
