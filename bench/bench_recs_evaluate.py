"""recs.evaluate: the offline evaluation of every recommender on both shared retail datasets.

The protocol (time split, validation carved from the training period, full ranking, metrics) is the one
of `omnishop recs evaluate`, written out in docs/recommendations.md and in each case's `notes`. No
database: the models are trained on the dataset files directly.
"""

from __future__ import annotations

from pathlib import Path

from bench.harness import BenchContext

DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


def main(ctx: BenchContext) -> None:
    from omnishop.recommendations.engine import evaluation

    cases = []
    for dataset in ("online_retail_uci", "complete_journey"):
        if not (DATASETS / dataset).is_dir():
            print(f"recs.evaluate: {dataset} not found; skipped")
            continue
        outcomes = evaluation.run(dataset, DATASETS / dataset)
        cases.extend(evaluation.as_cases(dataset, outcomes))
    if cases:
        ctx.report("recs.evaluate", cases)
