"""The benchmark harness refuses a result whose same-run baseline is zero or missing (../shared/BENCH.md).

A ratio needs a baseline measured in the same run; a baseline that measured nothing (its every operation
failed, so 0 ops/s) must fail the run loudly instead of publishing figures without a ratio.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root holds `bench/`

from bench.harness import BaselineMissing, BenchContext


def _case(name: str, value: float, baseline) -> dict:
    case = {"case": name, "unit": "orders/s", "value": value, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0}
    if baseline is not ...:
        case["baseline"] = baseline
    return case


@pytest.mark.parametrize(
    "baseline",
    [
        {"what": "raw SQL, same run", "value": 0.0},
        {"what": "raw SQL, same run", "value": None},
        {"what": "raw SQL, same run"},
        {"what": "raw SQL, same run", "value": math.nan},
        {"what": "raw SQL, same run", "value": -1.0},
        None,
        {},
    ],
    ids=["zero", "none", "no-value", "nan", "negative", "null-baseline", "empty-baseline"],
)
def test_a_result_whose_baseline_is_zero_or_missing_is_refused_and_not_written(tmp_path, baseline):
    ctx = BenchContext(results_dir=tmp_path)
    cases = [_case("1-client", 40.0, {"what": "raw", "value": 800.0}), _case("8-clients", 60.0, baseline)]

    with pytest.raises(BaselineMissing) as refused:
        ctx.report("orders.checkout_http", cases)

    assert "orders.checkout_http" in str(refused.value)
    assert "8-clients" in str(refused.value)
    assert "1-client'" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_a_result_with_positive_baselines_is_written_with_its_ratios(tmp_path):
    ctx = BenchContext(results_dir=tmp_path)
    cases = [
        _case("8-clients", 60.0, {"what": "raw SQL, same run", "value": 1200.0}),
        # A case that declares no baseline at all (a flash sale, a quality metric) is not a comparison.
        _case("flash-sale", 3.4, ...),
    ]

    path = ctx.report("orders.checkout_http", cases)

    written = json.loads(path.read_text())
    assert path.parent == tmp_path
    assert [c["case"] for c in written["cases"]] == ["8-clients", "flash-sale"]
    assert written["cases"][0]["ratio"] == 0.05
    assert "ratio" not in written["cases"][1]
