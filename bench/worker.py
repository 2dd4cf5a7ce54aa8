"""What benchmark modules that measure in a separate process share: Django set up for one database in the
worker process (settings are per process), a way to empty the tables a case fills, and running a module's
own `--worker` entry point in a subprocess and reading the JSON it prints last."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_SECRET = "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def setup_django(db_url: str, *, debug: bool | None = False, secret: str = BENCH_SECRET) -> None:
    """Django for `db_url` in this process (DEBUG off unless `debug` is None: left as the environment has it)."""
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "omnishop.settings")
    os.environ.setdefault("SECRET_KEY", secret)
    if debug is not None:
        os.environ["DEBUG"] = "1" if debug else "0"
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()


def clear_tables(tables: list[str]) -> None:
    """DELETE every row of `tables`, in this order (children before parents), in one transaction."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DELETE FROM {table}")


def run_worker(module_file: str, *args: str) -> dict:
    """Run `python module_file --worker args…` and return the JSON object on its last line of output."""
    out = subprocess.run(
        [sys.executable, module_file, "--worker", *args],
        env=os.environ.copy(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        where = args[0].split("@")[-1] if args else module_file
        raise RuntimeError(f"bench worker failed on {where}:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
