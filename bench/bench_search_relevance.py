"""search.relevance: precision@10 of product search on labelled Chinese and English data.

Chinese: every review of chinese_shopping_reviews (50 k) becomes a product (title: its first 80
characters, description: the text; the category label is NOT indexed); queries are the ten category words
(书籍, 平板, 手机, …); a hit is a product whose label is the queried category.
English: the Complete Journey product table (≈ 91 k grocery products) indexed by product type, brand,
department and package size — the category name itself is NOT indexed; queries are the 30 largest category
names (lower-cased); a hit is a product of that category. Both run through `search_products` on the
database in use, exactly as the API does. Reported per query set: mean precision@10 (and @1), the share
of queries with no result. Baseline: the precision@10 of the category's share of the catalogue (what a
random ranking would score), so the ratio is the lift over chance.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from bench.bench_recs_serving import child_env, fresh_database, run_child
from bench.bench_search_latency import chinese_reviews, create_catalogue
from bench.harness import BenchContext

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
DB_NAME = "omnishop_bench_search_rel"
ZH_CATEGORIES = ["书籍", "平板", "手机", "水果", "洗发水", "热水器", "蒙牛", "衣服", "计算机", "酒店"]


def grocery_products():
    import pyarrow.parquet as pq

    table = pq.read_table(DATASETS / "complete_journey" / "products.parquet").to_pylist()
    for row in table:
        if not row["product_category"] or not row["product_type"]:
            continue
        title = f"{row['product_type']} {row['brand'] or ''}".strip()
        description = f"{row['department'] or ''} {row['package_size'] or ''}".strip()
        yield f"cj-{row['product_id']}", title, description, row["product_category"]


def child_main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from omnishop.channels.services import create_channel
    from omnishop.search import services

    call_command("migrate", verbosity=0)
    channel = create_channel(code="bench-rel", name="Bench", kind="web", currency="USD")
    sets = {}
    zh = list(chinese_reviews())
    en = list(grocery_products())
    for name, rows in (("chinese", zh), ("english", en)):
        ids = create_catalogue(channel, [(ref, title, text) for ref, title, text, _ in rows])
        sets[name] = dict(zip(ids, [label for *_, label in rows], strict=True))
    services.index_products()
    top_categories = [c for c, _ in Counter(sets["english"].values()).most_common(30)]
    queries = {
        "chinese": [(c, c) for c in ZH_CATEGORIES],
        "english": [(c.lower(), c) for c in top_categories],
    }
    out = {"vendor": connection.vendor}
    for name, pairs in queries.items():
        labels = sets[name]
        share = Counter(labels.values())
        per_query = []
        for query, truth in pairs:
            result = services.search_products(channel=channel, query=query, limit=10, log=False)
            got = [labels.get(i["product_id"]) for i in result.items]
            per_query.append(
                {
                    "query": query,
                    "p@10": sum(g == truth for g in got) / 10,
                    "p@1": float(bool(got) and got[0] == truth),
                    "results": result.total,
                    "chance": share[truth] / len(labels),
                }
            )
        out[name] = {"queries": per_query, "documents": len(labels)}
    print(json.dumps(out, ensure_ascii=False))


def main(ctx: BenchContext) -> None:
    if not (DATASETS / "chinese_shopping_reviews").is_dir():
        print("search.relevance: shared datasets not found; skipped")
        return
    env = child_env(fresh_database(ctx.database_url, DB_NAME))
    out = run_child("bench.bench_search_relevance", env)
    cases = []
    for name in ("chinese", "english"):
        qs = out[name]["queries"]
        p10 = sum(q["p@10"] for q in qs) / len(qs)
        chance = sum(q["chance"] for q in qs) / len(qs)
        cases.append(
            {
                "case": f"{name}-categories",
                "dataset": "chinese_shopping_reviews" if name == "chinese" else "complete_journey products",
                "model": f"search ({out['vendor']})",
                "metrics": {
                    "precision@10": round(p10, 4),
                    "precision@1": round(sum(q["p@1"] for q in qs) / len(qs), 4),
                    "no_result_share": round(sum(q["results"] == 0 for q in qs) / len(qs), 4),
                    "chance@10": round(chance, 4),
                    "lift": round(p10 / chance, 2) if chance else None,
                    "queries": len(qs),
                    "documents": out[name]["documents"],
                },
                "per_query": {q["query"]: q["p@10"] for q in qs},
                "notes": (__doc__ or "").split("\n\n")[0].replace("\n", " "),
            }
        )
    ctx.report("search.relevance", cases)


if __name__ == "__main__" and "--child" in sys.argv:
    child_main()
