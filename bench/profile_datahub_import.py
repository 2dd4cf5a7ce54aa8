"""Where a first import's CPU goes, by phase: one Online Retail month (42,481 lines by default) through the
`online_retail` profile into emptied tables on the database of DATABASE_URL, as bench/bench_datahub_import.py
imports it. Not a benchmark and not a test: a measuring tool whose figures do not depend on the machine's
load — CPU seconds of this process (time.process_time) and of its PostgreSQL backend (/proc/<pid>/stat),
per phase, exclusive (a phase's figure leaves out the phases it calls), plus the statements sent.

    DATABASE_URL=postgres://… PYTHONPATH=src .venv/bin/python bench/profile_datahub_import.py [--month 2010-12]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_datahub_import import CHANNEL, DATA, _clear  # noqa: E402
from bench.worker import setup_django  # noqa: E402


class Clocks:
    """Exclusive CPU (client, server) per phase: a wrapped call's time minus that of wrapped calls inside."""

    def __init__(self, backend_pid: int | None) -> None:
        self.stat = f"/proc/{backend_pid}/stat" if backend_pid else None
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        self.stack: list[list[float]] = []

    def server(self) -> float:
        if self.stat is None:
            return 0.0
        fields = Path(self.stat).read_text().split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")

    def wrap(self, name: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            client, server = time.process_time(), self.server()
            self.stack.append([0.0, 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                spent = (time.process_time() - client, self.server() - server)
                inner = self.stack.pop()
                self.totals[name][0] += spent[0] - inner[0]
                self.totals[name][1] += spent[1] - inner[1]
                if self.stack:
                    self.stack[-1][0] += spent[0]
                    self.stack[-1][1] += spent[1]

        return timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--month", default="2010-12")
    parser.add_argument(
        "--reimport",
        action="store_true",
        help="import the month once unmeasured, then measure importing it again",
    )
    args = parser.parse_args()
    setup_django(os.environ["DATABASE_URL"])
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, connections

    from omnishop.backoffice.analytics import rollups
    from omnishop.channels.models import Channel
    from omnishop.channels.services import create_channel
    from omnishop.datahub import engine, profiles, services
    from omnishop.datahub.targets import history, transactions

    settings.OMNISHOP_DATAHUB_UPLOAD_DIR = Path(tempfile.mkdtemp(prefix="profile-datahub-"))
    call_command("migrate", verbosity=0)
    _clear()
    Channel.objects.filter(code=CHANNEL).delete()
    channel = create_channel(code=CHANNEL, name="Bench retail", kind="web", currency="GBP")
    pid = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
    path = DATA / f"online_retail_{args.month}.csv.gz"
    if args.reimport:
        services.import_files(profile="online_retail", paths=[path], channel=channel)
    clocks = Clocks(pid)
    phases = [
        (engine.Runner, "write", "batch transaction, ledger, quarantine"),
        (profiles.Profile, "apply_many", "clean / validate (apply_many)"),
        (transactions.TransactionsTarget, "write", "build + classify lines"),
        (transactions.TransactionsTarget, "existing_hashes", "dedupe (staged hashes)"),
        (transactions.TransactionsTarget, "ensure_variants", "products / variants"),
        (transactions.TransactionsTarget, "ensure_customers", "customers"),
        (transactions, "insert_rows", "staging lines (COPY)"),
        (transactions.TransactionsTarget, "reopen_documents", "staged documents (upsert)"),
        (history.OrderHistory, "consume", "order history: the rest"),
        (history.OrderHistory, "record_sales", "orders + lines + payments"),
        (history.OrderHistory, "record_returns", "returns + refunds"),
        (rollups, "refresh", "dashboard rollups (after commit)"),
        (type(connections["default"]), "commit", "commits (deferred foreign-key checks)"),
    ]
    for owner, attribute, name in phases:
        setattr(owner, attribute, clocks.wrap(name, getattr(owner, attribute)))
    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    client, server = time.process_time(), clocks.server()
    with connection.execute_wrapper(count):
        job = services.import_files(profile="online_retail", paths=[path], channel=channel)[0]
    client, server = time.process_time() - client, clocks.server() - server
    rows = job.rows_read
    print(
        f"{path.name}: {rows} rows, {job.imported} imported, {job.quarantined} quarantined, {connection.vendor}"
    )
    print(f"statements (Django cursor; COPY not counted): {statements[0]}")
    print(f"{'phase':42s} {'client s':>9s} {'server s':>9s} {'rows/s of CPU':>14s}")
    rest = [client, server]
    for name, (c, s) in sorted(clocks.totals.items(), key=lambda item: -sum(item[1])):
        rest[0] -= c
        rest[1] -= s
        print(f"{name:42s} {c:9.2f} {s:9.2f} {rows / max(c + s, 1e-9):14,.0f}")
    print(f"{'read / parse CSV, engine loop, stats, job':42s} {rest[0]:9.2f} {rest[1]:9.2f}")
    print(f"{'whole import':42s} {client:9.2f} {server:9.2f} {rows / (client + server):14,.0f}")
    _clear()


if __name__ == "__main__":
    main()
