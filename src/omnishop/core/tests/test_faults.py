"""The crash hook: inert unless armed, then one SIGKILL at the named point and never again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import omnishop

SRC = str(Path(omnishop.__file__).resolve().parent.parent)
PROGRAM = (
    "from omnishop.core import faults\n"
    "faults.crash_point('first'); print('passed first', flush=True)\n"
    "faults.crash_point('second'); print('passed second', flush=True)\n"
)


def run(**env):
    return subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env={**os.environ, "PYTHONPATH": SRC, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_an_armed_point_kills_the_process_there_once(tmp_path):
    armed = tmp_path / "crash"
    armed.write_text("second\n")
    died = run(OMNISHOP_CRASH_AT=str(armed))
    assert (died.returncode, died.stdout) == (-signal.SIGKILL, "passed first\n")
    assert not armed.exists()
    again = run(OMNISHOP_CRASH_AT=str(armed))
    assert (again.returncode, again.stdout) == (0, "passed first\npassed second\n")


def test_points_do_nothing_unless_armed():
    env = {k: v for k, v in os.environ.items() if k != "OMNISHOP_CRASH_AT"}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env={**env, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode, done.stdout) == (0, "passed first\npassed second\n")
