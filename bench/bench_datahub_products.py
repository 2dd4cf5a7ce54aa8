"""datahub.import_products: product catalogues through the products target end to end — the Magento 2 sample
product CSV (1,994 rows: 147 configurables, 1,847 children with listings, categories, attributes) with the
`magento_products` profile, and the Olist product master (32,951 products, gzip CSV) with `olist_products`
— on PostgreSQL (BENCH_DATABASE_URL) and SQLite.

Cases per database and file: a first import into empty catalog tables, and a re-import of the same file
(every row "unchanged"). Baseline, same run, same database: as many product and variant rows as the first
import created, appended by core.bulk.insert_rows (COPY on PostgreSQL, executemany on SQLite) straight into
the catalog tables — the floor a products importer sits on. Figures: source rows/s (median of the
repeats), p50/p99 of the per-repeat seconds, ratio to the baseline. Each database runs in its own worker
process (Django settings are per process). BENCH_QUICK=1 imports the first 5,000 Olist products only.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (the worker process)
    sys.path.insert(0, str(ROOT))

from bench.worker import clear_tables, run_worker, setup_django  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
CHANNEL = "bench-products"
CLEAR = [
    "datahub_quarantinedrow",
    "datahub_importedrecord",
    "datahub_importjob",
    "catalog_productimage",
    "catalog_channellisting",
    "catalog_supplieroffer",
    "catalog_variant",
    "catalog_product",
    "catalog_category",
]


def sources(quick: bool, workdir: Path) -> list[tuple[str, str, Path]]:
    """(case name, profile, file) per benchmarked file."""
    olist = DATA / "olist_catalog" / "olist_products_dataset.csv.gz"
    if quick:
        sliced = workdir / "olist_products_5000.csv.gz"
        with gzip.open(olist, "rb") as src, gzip.open(sliced, "wb") as out:
            for _ in range(5001):
                out.write(src.readline())
        olist = sliced
    return [
        ("magento", "magento_products", DATA / "channel_exports" / "magento" / "Configurable__products.csv"),
        ("olist", "olist_products", olist),
    ]


# --- worker (one database) ------------------------------------------------------------------------------


def _clear() -> None:
    clear_tables(CLEAR)


def _baseline(products: int, variants: int) -> float:
    """Seconds to append `products` products and `variants` variants with core.bulk.insert_rows."""
    from django.db import transaction
    from django.utils import timezone

    from omnishop.catalog.models import Product, Variant
    from omnishop.core.bulk import insert_rows

    now = timezone.now()
    start = time.perf_counter()
    with transaction.atomic():
        insert_rows(
            "catalog_product",
            ["title", "slug", "description", "brand", "attributes", "is_active", "created_at", "updated_at"],
            [(f"Bench {i}", f"bench-{i}", "", "", {}, True, now, now) for i in range(products)],
        )
        first = Product.objects.filter(slug="bench-0").values_list("pk", flat=True).get()
        insert_rows(
            "catalog_variant",
            ["product_id", "sku", "title", "attributes", "position", "is_active", "created_at", "updated_at"],
            [
                (first + i % max(products, 1), f"BENCH-{i}", "", {}, 0, True, now, now)
                for i in range(variants)
            ],
        )
    elapsed = time.perf_counter() - start
    Variant.objects.filter(sku__startswith="BENCH-").delete()
    Product.objects.filter(slug__startswith="bench-").delete()
    return elapsed


def _import(profile: str, path: Path, channel) -> tuple[float, dict]:
    from omnishop.datahub import services

    start = time.perf_counter()
    job = services.import_files(profile=profile, paths=[path], channel=channel)[0]
    elapsed = time.perf_counter() - start
    assert job.status == "succeeded", (job.error_code, job.error_message)
    assert job.rows_read == job.imported + job.updated + job.unchanged + job.merged + job.quarantined
    counts = {
        name: getattr(job, name) for name in ("rows_read", "imported", "unchanged", "merged", "quarantined")
    }
    return elapsed, {**counts, "entities": job.entity_counts}


def worker(db_url: str, quick: bool, repeats: int) -> dict:
    setup_django(db_url)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from omnishop.channels.models import Channel
    from omnishop.channels.services import create_channel

    workdir = Path(tempfile.mkdtemp(prefix="bench-products-"))
    settings.OMNISHOP_DATAHUB_UPLOAD_DIR = workdir / "uploads"
    call_command("migrate", verbosity=0)
    version = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0].split()[0]
    _clear()
    Channel.objects.filter(code=CHANNEL).delete()
    channel = create_channel(code=CHANNEL, name="Bench products", kind="web", currency="GBP")
    results: dict = {"vendor": connection.vendor, "version": version, "files": {}}
    for name, profile, path in sources(quick, workdir):
        runs: dict = {"first": [], "again": [], "baseline": []}
        for _ in range(repeats):
            _clear()
            runs["first"].append(_import(profile, path, channel))
            runs["again"].append(_import(profile, path, channel))
            entities = runs["first"][-1][1]["entities"]
            runs["baseline"].append(
                _baseline(entities.get("products_created", 0), entities.get("variants_created", 0))
            )
        results["files"][name] = runs
    _clear()
    shutil.rmtree(workdir, ignore_errors=True)
    return results


# --- main (harness) -------------------------------------------------------------------------------------


def main(ctx) -> None:
    from bench.harness import median, percentile

    quick = ctx.quick
    repeats = int(os.environ.get("BENCH_PRODUCTS_REPEATS", "3"))
    databases = []
    if ctx.database_url:
        databases.append(("postgresql", ctx.database_url))
    sqlite_path = Path(tempfile.mkdtemp(prefix="bench-products-sqlite-")) / "bench.sqlite3"
    databases.append(("sqlite", f"sqlite:///{sqlite_path}"))
    cases = []
    for db_name, url in databases:
        result = run_worker(__file__, url, "1" if quick else "0", str(repeats))
        for file_name, runs in result["files"].items():
            rows = runs["first"][0][1]["rows_read"]
            entities = runs["first"][0][1]["entities"]
            baseline_rates = [rows / seconds for seconds in runs["baseline"]]
            for label, key, note in (
                ("first-import", "first", "empty catalog: creates products, variants, categories, listings"),
                ("re-import", "again", "the same file again: every row recognised as unchanged"),
            ):
                seconds = [s for s, _ in runs[key]]
                cases.append(
                    {
                        "case": f"{db_name}-{file_name}-{label}",
                        "unit": "rows/s",
                        "value": round(median([rows / s for s in seconds]), 1),
                        "p50_ms": round(percentile(seconds, 50) * 1000, 1),
                        "p99_ms": round(percentile(seconds, 99) * 1000, 1),
                        "errors": 0,
                        "baseline": {
                            "what": f"{entities.get('products_created', 0)} product + "
                            f"{entities.get('variants_created', 0)} variant rows appended by core.bulk."
                            "insert_rows (COPY / executemany) into the catalog tables, per source row, "
                            "same database, same run",
                            "value": round(median(baseline_rates), 1),
                        },
                        "notes": (
                            f"{note}; {rows} rows, median of {repeats}; p50/p99 = seconds per import (as ms); "
                            f"counts {runs[key][0][1]}"
                        ),
                    }
                )
        if db_name == "postgresql" and result.get("version"):
            ctx.database_version = ctx.database_version or f"postgresql {result['version']}"
    shutil.rmtree(sqlite_path.parent, ignore_errors=True)
    ctx.report("datahub.import_products", cases)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]))))
    else:
        sys.path.insert(0, str(ROOT))
        from bench.harness import BenchContext

        main(BenchContext())
