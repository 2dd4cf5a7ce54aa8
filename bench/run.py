"""Run every benchmark module (bench/bench_*.py), or those whose name contains one of the given words."""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BenchContext


def main(argv: list[str]) -> int:
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    wanted = [w for w in argv if w]
    if wanted:
        names = [n for n in names if any(w in n for w in wanted)]
    ctx = BenchContext()
    failures = 0
    for name in names:
        print(f"\n### {name}", flush=True)
        try:
            importlib.import_module(f"bench.{name}").main(ctx)
        except Exception:
            failures += 1
            traceback.print_exc()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
