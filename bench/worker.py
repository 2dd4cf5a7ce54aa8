"""What benchmark modules that measure in a separate process share: Django set up for one database in the
worker process (settings are per process), a way to empty the tables a case fills, running a module's own
`--worker` entry point in a subprocess and reading the JSON it prints last, and `omnishop serve` started and
stopped for HTTP cases."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
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


def serve(env: dict, port: int, workers: int = 2, server_kind: str = "") -> subprocess.Popen:
    """`omnishop serve` on 127.0.0.1:`port` in its own process group, once /health answers.

    `server_kind`: granian or gunicorn (`--server`); empty for the command's default (granian)."""
    omnishop = str(Path(sys.executable).with_name("omnishop"))
    choice = ["--server", server_kind] if server_kind else []
    server = subprocess.Popen(
        [omnishop, "serve", "--port", str(port), "--workers", str(workers), *choice],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
        if server.poll() is not None:
            raise RuntimeError(f"omnishop serve exited: {server.stderr.read().decode(errors='replace')}")
    stop(server)
    raise RuntimeError("omnishop serve did not answer /health within 90 s")


def stop(server: subprocess.Popen) -> None:
    """Stop a server started by `serve` (its whole process group)."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(server.pid, signal.SIGKILL)
