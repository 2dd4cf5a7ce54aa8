"""The structure docs/ARCHITECTURE.md promises, checked: import-linter's contracts (pyproject.toml), mypy
over every services module, and every context's router importable on its own (it once failed when imported first: `core` imported the
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


@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")),
    reason="types do not depend on the database: the SQLite suite checks them",
)
def test_every_services_module_type_checks():
    """mypy with django-stubs over every `services` module ([tool.mypy] in pyproject.toml): a service that
    reads an optional relation without checking it, or passes the wrong type on, fails here."""
    mypy = Path(sys.executable).with_name("mypy")
    env = {**os.environ, "DEBUG": "1", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [str(mypy), "--cache-dir", str(ROOT / "var" / "mypy-cache")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Success: no issues found" in done.stdout


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


def test_no_module_imports_another_modules_private_names():
    """`from .pricing import _split` couples a module to another's internals; a name shared between modules is
    public (no leading underscore). Tests may reach into the module they test."""
    import ast

    offenders = []
    for path in sorted((ROOT / "src" / "omnishop").rglob("*.py")):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {alias.name}")
    assert offenders == []
