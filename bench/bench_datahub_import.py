"""datahub.import_online_retail: the shared Online Retail months (320,705 invoice lines, 9 gzip CSVs) through
the `online_retail` profile end to end — streaming read, cleaning, classification, products/variants from
stock codes, customers from customer ids, staging lines, and the orders they make (completed past orders
with their lines, payments and timeline; credit notes as returns and refunds) — on PostgreSQL
(BENCH_DATABASE_URL) and SQLite.

Cases per database: a first import into empty tables, and a re-import of the same files (every line
"unchanged"). Baseline, same run, same database, same rows: the raw CSV lines read with the csv module and
appended by COPY (PostgreSQL) / executemany (SQLite) into a plain table of text columns — the floor any
importer sits on. Figures: rows/s (median of the repeats), per-file p50/p99 seconds, peak RSS of the worker
process, and the ratio to the baseline. Each database runs in its own worker process (Django settings are
per process). BENCH_QUICK=1 imports one month only.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script (the worker process)
    sys.path.insert(0, str(ROOT))

from bench.worker import clear_tables, run_worker, setup_django  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "online_retail_uci"
CHANNEL = "bench-retail"
RAW_TABLE = "bench_raw_online_retail"
CLEAR = [
    # the dashboard's rollups of the past orders (kept by backoffice.analytics in the import's transaction)
    "backoffice_orderfacts",
    "backoffice_productsales",
    "backoffice_dailysales",
    "backoffice_dailystatus",
    "backoffice_dailyreturnreason",
    "payments_refund",
    "payments_payment",
    "orders_returnline",
    "orders_returnrequest",
    "orders_orderevent",
    "orders_orderline",
    "orders_order",
    "datahub_aliasstockcount",
    "datahub_quarantinedrow",
    "datahub_matchcandidate",
    "datahub_stagedtransactionline",
    "datahub_stageddocument",
    "datahub_importedrecord",
    "datahub_importjob",
    "customers_channelidentity",
    "customers_customer",
    "catalog_channellisting",
    "catalog_variant",
    "catalog_product",
]


def files(quick: bool) -> list[Path]:
    """All nine months, or the first N (BENCH_DATAHUB_MONTHS) on a busy machine, or one with BENCH_QUICK."""
    found = sorted(DATA.glob("online_retail_*.csv.gz"))
    months = 1 if quick else int(os.environ.get("BENCH_DATAHUB_MONTHS", str(len(found))))
    return found[:months]


# --- worker (one database) ------------------------------------------------------------------------------


def _clear() -> None:
    """Empty tables, as a new shop has them: the rows deleted, and on PostgreSQL vacuumed away. Left dead,
    the next repeat's first import met every unique key it wrote among the dead index entries of the last
    (each checked against the heap), and its lookups walked them."""
    from django.db import connection

    clear_tables(CLEAR)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in CLEAR:
                cursor.execute(f"VACUUM {table}")
    _settle()


def _settle() -> None:
    """Before a timed phase: write out what the last phase left dirty (PostgreSQL `CHECKPOINT`), so that a
    phase does not pay for the checkpoint its predecessor's writes are due (the baseline and both imports
    got slower with each repeat: 0.97 → 1.24 s for the baseline's COPY)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")


def _baseline(paths: list[Path]) -> tuple[float, int]:
    from django.db import connection, transaction

    from omnishop.core.bulk import insert_rows

    columns = [
        "invoice_no",
        "stock_code",
        "description",
        "quantity",
        "invoice_date",
        "unit_price",
        "customer_id",
        "country",
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        cursor.execute(f"CREATE TABLE {RAW_TABLE} ({', '.join(c + ' text' for c in columns)})")
    start = time.perf_counter()
    count = 0
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            batch = []
            for row in reader:
                batch.append(tuple(row))
                if len(batch) >= 5000:
                    with transaction.atomic():
                        insert_rows(RAW_TABLE, columns, batch)
                    count += len(batch)
                    batch = []
            with transaction.atomic():
                insert_rows(RAW_TABLE, columns, batch)
            count += len(batch)
    elapsed = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {RAW_TABLE}")
    return elapsed, count


def _count(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        return cursor.fetchone()[0]


def _import(paths: list[Path], channel) -> tuple[float, list[float], dict]:
    from omnishop.datahub import services

    per_file = []
    totals = {"rows_read": 0, "imported": 0, "unchanged": 0, "updated": 0, "merged": 0, "quarantined": 0}
    start = time.perf_counter()
    for path in paths:
        began = time.perf_counter()
        job = services.import_files(profile="online_retail", paths=[path], channel=channel)[0]
        per_file.append(time.perf_counter() - began)
        assert job.status == "succeeded", (job.error_code, job.error_message)
        assert job.rows_read == job.imported + job.updated + job.unchanged + job.merged + job.quarantined
        for name in totals:
            totals[name] += getattr(job, name)
    return time.perf_counter() - start, per_file, totals


def worker(db_url: str, quick: bool, repeats: int) -> dict:
    setup_django(db_url)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from omnishop.channels.models import Channel
    from omnishop.channels.services import create_channel

    settings.OMNISHOP_DATAHUB_UPLOAD_DIR = Path(tempfile.mkdtemp(prefix="bench-datahub-"))
    call_command("migrate", verbosity=0)
    paths = files(quick)
    vendor = connection.vendor
    version = None
    if vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0].split()[0]
    _clear()
    Channel.objects.filter(code=CHANNEL).delete()
    channel = create_channel(code=CHANNEL, name="Bench retail", kind="web", currency="GBP")
    results = {
        "vendor": vendor,
        "version": version,
        "first": [],
        "again": [],
        "baseline": [],
        "files": len(paths),
    }
    for _ in range(repeats):
        _settle()
        results["baseline"].append(_baseline(paths))
        _clear()
        results["first"].append(_import(paths, channel))
        _settle()
        results["again"].append(_import(paths, channel))
    from omnishop.datahub.models import StagedTransactionLine
    from omnishop.orders.models import Order, OrderLine, ReturnRequest

    results["staged_lines"] = StagedTransactionLine.objects.count()
    results["made"] = {
        "orders": Order.objects.count(),
        "order_lines": OrderLine.objects.count(),
        "returns": ReturnRequest.objects.count(),
        "customers": _count("customers_customer"),
        "variants": _count("catalog_variant"),
    }
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    shutil.rmtree(settings.OMNISHOP_DATAHUB_UPLOAD_DIR, ignore_errors=True)
    return results


# --- main (harness) -------------------------------------------------------------------------------------


def main(ctx) -> None:
    from bench.harness import median, percentile

    quick = ctx.quick
    repeats = int(os.environ.get("BENCH_DATAHUB_REPEATS", "1" if quick else "3"))
    databases = []
    if ctx.database_url:
        databases.append(("postgresql", ctx.database_url))
    sqlite_path = Path(tempfile.mkdtemp(prefix="bench-datahub-sqlite-")) / "bench.sqlite3"
    databases.append(("sqlite", f"sqlite:///{sqlite_path}"))
    cases = []
    for name, url in databases:
        result = run_worker(__file__, url, "1" if quick else "0", str(repeats))
        rows = result["first"][0][2]["rows_read"]
        baseline_rates = [count / seconds for seconds, count in result["baseline"]]
        for label, key, note in (
            (
                "first-import",
                "first",
                "empty tables: creates products, variants, customers, staging lines, past orders, "
                f"payments, returns ({result['made']})",
            ),
            (
                "re-import",
                "again",
                "the same files again: every line recognised as unchanged (after a CHECKPOINT, as before "
                "each timed phase)",
            ),
        ):
            rates = [totals["rows_read"] / seconds for seconds, _, totals in result[key]]
            per_file = [s for _, files_s, _ in result[key] for s in files_s]
            totals = result[key][0][2]
            cases.append(
                {
                    "case": f"{name}-{label}",
                    "unit": "rows/s",
                    "value": round(median(rates), 1),
                    "p50_ms": round(percentile(per_file, 50) * 1000, 1),
                    "p99_ms": round(percentile(per_file, 99) * 1000, 1),
                    "errors": 0,
                    "baseline": {
                        "what": "same rows: csv.reader + COPY (PostgreSQL) / executemany (SQLite) into a plain "
                        "text table, same database, same run",
                        "value": round(median(baseline_rates), 1),
                    },
                    "notes": (
                        f"{note}; {rows} lines in {result['files']} monthly gzip CSVs, median of {repeats}; "
                        f"p50/p99 = seconds per monthly file (as ms); counts {totals}; "
                        f"peak RSS of the worker {result['peak_rss_mb']} MB"
                    ),
                    "peak_rss_mb": result["peak_rss_mb"],
                }
            )
        if name == "postgresql" and result.get("version"):
            ctx.database_version = ctx.database_version or f"postgresql {result['version']}"
    shutil.rmtree(sqlite_path.parent, ignore_errors=True)
    ctx.report("datahub.import_online_retail", cases)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]))))
    else:
        sys.path.insert(0, str(ROOT))
        from bench.harness import BenchContext

        main(BenchContext())
