"""The structure docs/ARCHITECTURE.md promises, checked: import-linter's contracts (pyproject.toml) and
every context's router importable on its own (it once failed when imported first: `core` imported the
top-level `omnishop.api`, which imports every router)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
# The routers that used to reach into `omnishop.api` (directly or through core.idempotency).
ROUTERS = [
    "omnishop.customers.api",
    "omnishop.datahub.api",
    "omnishop.orders.api",
    "omnishop.core.idempotency",
]


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [str(lint), "--no-cache", "pyproject.toml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("module", ROUTERS)
def test_each_router_can_be_imported_first(module):
    code = f"import django; django.setup(); import {module}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "omnishop.settings",
        "DEBUG": "1",
        "PYTHONPATH": str(ROOT / "src"),
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
