"""Production defaults are safe: with DEBUG off, Django's deployment checks find nothing to warn about."""

import os
import secrets
import subprocess
import sys


def run_omnishop(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "OMNISHOP_TESTING"}}
    return subprocess.run(
        [sys.executable, "-m", "omnishop.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_checks_are_clean_when_debug_is_off():
    result = run_omnishop(
        "check", "--deploy", "--fail-level", "WARNING", DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = run_omnishop("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
