"""Benchmark reporting shared by every `make bench` module, in the shape ../shared/BENCH.md describes.

A benchmark module is `bench/bench_<area>_<name>.py` with `main(ctx: BenchContext) -> None`; it measures,
then calls `ctx.report(benchmark, cases)`. `scripts/run-bench` starts the throwaway PostgreSQL, exports its
URL as BENCH_DATABASE_URL and runs every module (or those named: `make bench ONLY=api`).
Benchmarks never assert a timing; they measure and report.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except Exception:
        return "unknown"


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `samples`."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def time_calls(fn: Callable[[], object], *, count: int, warmup: int = 0) -> list[float]:
    """Latency in milliseconds of `count` sequential calls of `fn` (after `warmup` unmeasured ones)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


class BaselineMissing(RuntimeError):
    """A case compares against a same-run baseline that measured nothing: the run fails, no result is written."""


def check_baselines(benchmark: str, cases: Sequence[dict]) -> None:
    """Refuse cases whose declared baseline has no positive, finite `value`.

    A case that declares a `baseline` is a comparison; a baseline of 0 (every operation of it failed), or
    one without a value, would publish figures with no ratio, silently. Cases that declare no baseline at
    all (a flash sale, a quality metric) are not comparisons and pass.
    """
    bad = []
    for case in cases:
        if "baseline" not in case:
            continue
        base = case["baseline"]
        value = base.get("value") if isinstance(base, dict) else None
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value > 0
        )
        if not ok:
            bad.append(f"'{case.get('case')}' (baseline value {value!r})")
    if bad:
        raise BaselineMissing(
            f"{benchmark}: no result written — the same-run baseline of {', '.join(bad)} is zero or missing, "
            "so no ratio can be computed. The baseline's operations probably all failed: see its errors or "
            "outcomes and fix the baseline (BENCH.md: every ratio is against a baseline of the same run)."
        )


@dataclass
class BenchContext:
    database_url: str = field(default_factory=lambda: os.environ.get("BENCH_DATABASE_URL", ""))
    database_version: str = field(default_factory=lambda: os.environ.get("BENCH_DATABASE_VERSION", ""))
    quick: bool = field(default_factory=lambda: os.environ.get("BENCH_QUICK", "") == "1")
    results_dir: Path = RESULTS

    def machine(self) -> dict:
        return {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "database": self.database_version,
        }

    def report(self, benchmark: str, cases: list[dict]) -> Path:
        """Write bench/results/<benchmark>.json and print the figures as a table.

        Raises BaselineMissing (and writes nothing) when a case's same-run baseline is zero or missing.
        """
        check_baselines(benchmark, cases)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        for case in cases:
            base = case.get("baseline")
            if base and case.get("value") is not None and base.get("value"):
                case.setdefault("ratio", round(case["value"] / base["value"], 4))
        doc = {
            "benchmark": benchmark,
            "commit": _commit(),
            "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": self.machine(),
            "cases": cases,
        }
        path = self.results_dir / f"{benchmark}.json"
        path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        print_table(doc)
        return path


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def print_table(doc: dict) -> None:
    print(f"\n== {doc['benchmark']}  (commit {doc['commit']}, {doc['machine']})")
    cases = doc["cases"]
    if cases and "metrics" in cases[0]:
        keys = sorted({k for c in cases for k in c["metrics"]})
        header = ["case", *keys]
        rows = [[c["case"], *[_fmt(c["metrics"].get(k)) for k in keys]] for c in cases]
    else:
        header = ["case", "unit", "value", "p50_ms", "p99_ms", "errors", "baseline", "ratio"]
        rows = [
            [
                c["case"],
                c.get("unit", ""),
                _fmt(c.get("value")),
                _fmt(c.get("p50_ms")),
                _fmt(c.get("p99_ms")),
                _fmt(c.get("errors")),
                _fmt((c.get("baseline") or {}).get("value")),
                _fmt(c.get("ratio")),
            ]
            for c in cases
        ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)))


def summary(samples: list[float]) -> dict:
    """p50 and p99 of millisecond samples, rounded for the report."""
    return {"p50_ms": round(median(samples), 3), "p99_ms": round(percentile(samples, 99), 3)}


def latency_cases(
    name: str,
    samples: list[float],
    baseline: list[float],
    *,
    baseline_what: str,
    note: str,
    http: tuple[list[float], int],
) -> list[dict]:
    """The two cases of a latency benchmark: the service in-process against its baseline, and the same call
    over HTTP (`omnishop serve`) against the in-process figure."""
    s, b = summary(samples), summary(baseline)
    http_samples, errors = http
    h = summary(http_samples)
    return [
        {
            "case": f"{name}-in-process",
            "unit": "ms p50",
            "value": s["p50_ms"],
            **s,
            "errors": 0,
            "baseline": {"what": baseline_what, "value": b["p50_ms"]},
            "notes": note,
        },
        {
            "case": f"{name}-http",
            "unit": "ms p50",
            "value": h["p50_ms"],
            **h,
            "errors": errors,
            "baseline": {"what": "in-process service call, same run", "value": s["p50_ms"]},
            "notes": "omnishop serve (its default server, granian, 2 workers), one keep-alive client on the loopback",
        },
    ]
