"""Fault injection for the crash tests: named points in a workflow where the process can kill itself.

`crash_point("checkout.after_charge")` does nothing unless the environment variable OMNISHOP_CRASH_AT names
a file when the process starts. Then each point reads that file, and the point it names kills the process by
SIGKILL, as the kernel's OOM killer or `kill -9` does: no exception handler, no `finally`, no rollback sent by
the client. The file is removed first, so it fires once and the restarted worker runs normally. The crash
tests (orders/tests/test_crash.py) arm it before each request to the real server. Production never sets the
variable, and then a point costs one truth test.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

CRASH_AT = os.environ.get("OMNISHOP_CRASH_AT", "")


def crash_point(name: str) -> None:
    if CRASH_AT:
        _crash_if_armed(name, Path(CRASH_AT))


def _crash_if_armed(name: str, armed: Path) -> None:
    try:
        point = armed.read_text().strip()
    except FileNotFoundError:
        return
    if point == name:
        armed.unlink(missing_ok=True)
        os.kill(os.getpid(), signal.SIGKILL)
