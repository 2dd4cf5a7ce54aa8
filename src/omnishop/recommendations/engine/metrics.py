"""Ranking metrics over full rankings of the catalogue (no sampled negatives).

Recall@k is hits / min(k, |truth|) (as in Steck 2019 and Liang et al. 2018, so a perfect list scores 1);
NDCG@k uses binary relevance; MAP@k averages precision at each hit over min(k, |truth|). Coverage@k is
the share of the ranked catalogue that appears in at least one list; pop_percentile@k is the mean
popularity percentile of recommended items (1.0 = always the best seller), a popularity-bias measure.
"""

from __future__ import annotations

import numpy as np

from .data import Split
from .models import Recommender, top_k

KS = (10, 20)


def rank_for_users(model: Recommender, split: Split, users: np.ndarray, *, k: int, batch: int = 512):
    """Top-k items for each user, excluding items they already bought and items never bought in training."""
    history = split.train.matrix(binary=True)
    rankable = np.asarray(history.sum(axis=0)).ravel() > 0
    lists = []
    for start in range(0, len(users), batch):
        rows = history[users[start : start + batch]]
        scores = model.score(rows).astype(np.float32, copy=False)
        scores[:, ~rankable] = -np.inf
        r, c = rows.nonzero()
        scores[r, c] = -np.inf
        lists.append(top_k(scores, k))
    return np.vstack(lists) if lists else np.zeros((0, k), int)


def evaluate_lists(lists: np.ndarray, split: Split, users: np.ndarray) -> dict[str, float]:
    truth = split.truth[users]
    n_truth = np.diff(truth.indptr).astype(np.float64)
    rows = np.repeat(np.arange(len(users)), lists.shape[1]).reshape(lists.shape)
    hits = np.asarray(truth[rows.ravel(), lists.ravel()]).reshape(lists.shape) > 0
    out: dict[str, float] = {}
    discounts = 1.0 / np.log2(np.arange(2, lists.shape[1] + 2))
    for k in KS:
        h = hits[:, :k]
        denom = np.minimum(k, n_truth)
        out[f"recall@{k}"] = float(np.mean(h.sum(axis=1) / denom))
        dcg = (h * discounts[:k]).sum(axis=1)
        ideal = np.cumsum(discounts[:k])[denom.astype(int) - 1]
        out[f"ndcg@{k}"] = float(np.mean(dcg / ideal))
    k = 20
    h = hits[:, :k]
    precision_at = np.cumsum(h, axis=1) / np.arange(1, k + 1)
    out["map@20"] = float(np.mean((precision_at * h).sum(axis=1) / np.minimum(k, n_truth)))
    history = split.train.matrix(binary=True)
    buyers = np.asarray(history.sum(axis=0)).ravel()
    rankable = buyers > 0
    out["coverage@20"] = float(len(np.unique(lists[:, :20])) / rankable.sum())
    # Percentile of each item's buyer count among rankable items (ties share the lower rank).
    ranked = np.sort(buyers[rankable])
    percentile = np.searchsorted(ranked, buyers, side="left") / max(len(ranked) - 1, 1)
    out["pop_percentile@20"] = float(np.mean(percentile[lists[:, :20]]))
    return out


def evaluate(model: Recommender, split: Split, users: np.ndarray | None = None) -> dict[str, float]:
    users = split.test_users if users is None else users
    return evaluate_lists(rank_for_users(model, split, users, k=max(KS)), split, users)


def validation_users(split: Split, *, limit: int, seed: int = 0) -> np.ndarray:
    """A fixed random sample of test users (tuning on all of them is not needed to pick parameters)."""
    users = split.test_users
    if len(users) <= limit:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, size=limit, replace=False))
