"""The offline evaluation protocol behind `omnishop recs evaluate` and the `recs.evaluate` benchmark.

Per dataset: the last 35 days are the test window, everything before is training. Hyper-parameters are
tuned on a validation window carved from the training period only (its last 35 days, with the model
trained on what precedes them), then every model is re-trained on the whole training period with the
chosen parameters and ranked over the full catalogue of items bought in training, for every test user.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import DATASETS, DAY, Interactions, Split, time_split
from .metrics import evaluate, evaluate_lists, validation_users
from .models import MODELS, Hybrid, Recommender, normalise_rows, top_k

WINDOW_DAYS = 35
TUNE_ON = "ndcg@20"
BASE_MODELS = ("popularity", "itemknn", "ease", "content")
BLEND_GRID = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)

PROTOCOL = (
    "time split: test = last 35 days, train = everything before; validation = last 35 days of the "
    "training period (trained on what precedes it), used alone for tuning (coordinate search on "
    "ndcg@20, validation users capped at {cap}); full ranking over all items bought in training "
    "({items} items), excluding each user's already-bought items; truth = items a user bought for the "
    "first time in the test window; {users} test users. recall@k = hits/min(k,|truth|)."
)


@dataclass
class Outcome:
    model: str
    params: dict
    metrics: dict
    train_seconds: float
    train_cpu_seconds: float = 0.0


def _fit(model: Recommender, data: Interactions, now: int) -> tuple[float, float]:
    """Wall and CPU seconds of one fit (CPU time shows the work when other jobs share the cores)."""
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(data, now=now)
    return time.perf_counter() - start, time.process_time() - cpu


def tune(name: str, split: Split, users: np.ndarray, log: Callable[[str], None]) -> dict:
    """Coordinate search: one parameter at a time over its grid, keeping the best validation score."""
    cls = MODELS[name]
    best = {k: getattr(cls(), k) for k in cls.grid}
    best_score = -1.0
    tried: dict[tuple, float] = {}
    for param, values in cls.grid.items():
        for value in values:
            candidate = {**best, param: value}
            key = tuple(sorted(candidate.items()))
            if key not in tried:
                model = cls(**candidate)
                _fit(model, split.train, split.cutoff)
                tried[key] = evaluate(model, split, users)[TUNE_ON]
                log(f"  {name} {candidate}: {TUNE_ON}={tried[key]:.4f}")
            if tried[key] > best_score:
                best, best_score = candidate, tried[key]
    return best


def tune_blend(
    components: dict[str, Recommender], split: Split, users: np.ndarray, log: Callable[[str], None]
) -> dict[str, float]:
    """Blend weights by coordinate ascent on validation, starting from the best single model."""
    history = split.train.matrix(binary=True)
    rankable = np.asarray(history.sum(axis=0)).ravel() > 0
    rows = history[users]
    r, c = rows.nonzero()
    mask = np.zeros((len(users), history.shape[1]), bool)
    mask[:, ~rankable] = True
    mask[r, c] = True
    # Normalising is per model, so it is done once here; each trial is then a weighted sum and a top-k.
    normalised = {
        n: normalise_rows(m.score(rows).astype(np.float32, copy=False)) for n, m in components.items()
    }

    def value(blend: dict[str, float]) -> float:
        combined = None
        for n, w in blend.items():
            if w > 0:
                part = normalised[n] * np.float32(w)
                combined = part if combined is None else combined + part
        if combined is None:
            return -1.0
        combined[mask] = -np.inf
        return evaluate_lists(top_k(combined, 20), split, users)[TUNE_ON]

    singles = {n: value({n: 1.0}) for n in components}
    lead = max(singles, key=singles.get)
    blend = {n: (1.0 if n == lead else 0.0) for n in components}
    best = singles[lead]
    for _ in range(2):
        improved = False
        for name in components:
            if name == lead:
                continue
            for w in BLEND_GRID:
                trial = {**blend, name: w}
                v = value(trial)
                if v > best + 1e-6:
                    blend, best, improved = trial, v, True
        if not improved:
            break
    log(f"  hybrid blend {blend}: {TUNE_ON}={best:.4f} (best single {lead}={singles[lead]:.4f})")
    return blend


def run(
    dataset: str,
    folder: Path,
    *,
    models: tuple[str, ...] = (*BASE_MODELS, "hybrid"),
    validation_cap: int = 1500,
    log: Callable[[str], None] = print,
) -> list[Outcome]:
    data = DATASETS[dataset](Path(folder))
    end = int(data.time.max()) + 1
    cutoff = end - WINDOW_DAYS * DAY
    log(f"{dataset}: {len(data)} interactions, {data.n_users} users, {data.n_items} items")
    before = data.select(data.time < cutoff)
    validation = time_split(before, cutoff=cutoff - WINDOW_DAYS * DAY, end=cutoff)
    val_users = validation_users(validation, limit=validation_cap)
    log(f"validation: {len(val_users)} users; tuning")
    chosen: dict[str, dict] = {}
    for name in BASE_MODELS:
        if name in models or "hybrid" in models:
            chosen[name] = tune(name, validation, val_users, log)
    blend = {}
    if "hybrid" in models:
        components = {n: MODELS[n](**chosen[n]) for n in BASE_MODELS}
        for model in components.values():
            model.fit(validation.train, now=validation.cutoff)
        blend = tune_blend(components, validation, val_users, log)

    test = time_split(data, cutoff=cutoff, end=end)
    n_items = int((np.asarray(test.train.matrix(binary=True).sum(axis=0)).ravel() > 0).sum())
    notes = PROTOCOL.format(cap=validation_cap, items=n_items, users=len(test.test_users))
    outcomes = []
    for name in models:
        if name == "hybrid":
            model: Recommender = Hybrid(
                components={n: MODELS[n](**chosen[n]) for n in BASE_MODELS}, blend=blend
            )
        else:
            model = MODELS[name](**chosen[name])
        seconds, cpu = _fit(model, test.train, cutoff)
        metrics = evaluate(model, test)
        log(f"  test {name}: train {seconds:.1f}s " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        outcomes.append(Outcome(name, model.params(), metrics, seconds, cpu))
    for outcome in outcomes:
        outcome.params["protocol"] = notes
    return outcomes


def as_cases(dataset: str, outcomes: list[Outcome]) -> list[dict]:
    """BENCH.md quality cases: one per dataset × model."""
    return [
        {
            "case": f"{dataset}/{o.model}",
            "dataset": dataset,
            "model": o.model,
            "metrics": {
                **{k: round(v, 4) for k, v in o.metrics.items()},
                "train_s": round(o.train_seconds, 2),
            },
            "train_seconds": round(o.train_seconds, 2),
            "params": {k: v for k, v in o.params.items() if k != "protocol"},
            "notes": o.params.get("protocol", ""),
        }
        for o in outcomes
    ]
