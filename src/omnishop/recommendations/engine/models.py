"""The recommenders, each behind one interface: fit on interactions, score histories, find similar items.

`score(history)` takes users' histories as rows of a sparse users × items matrix rather than user ids, so
one trained model serves known customers, anonymous sessions ("because you viewed") and carts alike.
All hot paths are sparse/dense matrix products and `argpartition`; no Python loop runs per user.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from .data import DAY, Interactions


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indexes of the k best columns of each row, best first (vectorised)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def normalise_rows(scores: np.ndarray) -> np.ndarray:
    top = scores.max(axis=1, keepdims=True)
    top[top <= 0] = 1.0
    return np.clip(scores, 0, None) / top


def _clip(history: sp.csr_matrix) -> sp.csr_matrix:
    """Event weights summed per (user, item), capped at 1: a purchase is full signal, a view a fraction,
    and repeats never outweigh breadth. On purchase-only data this is the binary matrix."""
    b = history.tocsr(copy=True).astype(np.float32)
    np.minimum(b.data, 1.0, out=b.data)
    return b


def _topk_sparse_rows(dense: np.ndarray, k: int, row_offset: int, n_cols: int):
    """(rows, cols, values) of the k largest positive entries of each row of a dense block."""
    idx = top_k(dense, k)
    vals = np.take_along_axis(dense, idx, axis=1)
    rows = np.repeat(np.arange(dense.shape[0]) + row_offset, idx.shape[1])
    keep = vals.ravel() > 0
    return rows[keep], idx.ravel()[keep], vals.ravel()[keep]


@dataclass
class Recommender:
    """Base class: subclasses set `name`, their hyper-parameters as fields, and implement fit/score."""

    name: ClassVar[str] = "base"
    grid: ClassVar[dict[str, list]] = {}
    n_items: int = field(default=0, init=False)

    def fit(self, data: Interactions, *, now: int) -> Recommender:
        raise NotImplementedError

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        """Dense (rows of history) × items scores; higher is better."""
        raise NotImplementedError

    def similar(self, items: np.ndarray) -> np.ndarray:
        """Scores of every item for a basket of seed items (item-to-item); default: as a one-row history."""
        row = sp.csr_matrix(
            (np.ones(len(items), np.float32), (np.zeros(len(items), int), items)), shape=(1, self.n_items)
        )
        return self.score(row)

    def params(self) -> dict:
        return {k: getattr(self, k) for k in self.grid}


@dataclass
class Popularity(Recommender):
    """Recency-weighted popularity: each purchase counts exp(-age / half-life); the strong baseline."""

    name: ClassVar[str] = "popularity"
    grid: ClassVar[dict[str, list]] = {"half_life_days": [1, 3, 7, 30, 90, 3650]}
    half_life_days: float = 30.0
    popularity: np.ndarray | None = field(default=None, repr=False)

    def fit(self, data: Interactions, *, now: int) -> Popularity:
        self.n_items = data.n_items
        age_days = np.maximum(now - data.time, 0) / DAY
        decay = np.exp(-math.log(2) * age_days / self.half_life_days).astype(np.float32)
        self.popularity = np.bincount(data.item, weights=decay * data.weight, minlength=data.n_items).astype(
            np.float32
        )
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.popularity, (history.shape[0], self.n_items)).copy()

    def similar(self, items: np.ndarray) -> np.ndarray:
        return self.popularity[None, :].copy()


@dataclass
class ItemKNN(Recommender):
    """Item-based k-nearest neighbours on co-occurrence (customers who bought i also bought j).

    Similarity = co-buyers / (n_i^alpha · n_j^(1-alpha)); alpha 0.5 is cosine, lower favours popular
    neighbours. Only the k strongest neighbours of each item are kept (sparse, fast to serve).
    """

    name: ClassVar[str] = "itemknn"
    grid: ClassVar[dict[str, list]] = {
        "k": [10, 20, 50, 100, 200],
        "alpha": [0.3, 0.5, 0.7],
        "min_support": [2, 5, 10],
    }
    k: int = 100
    alpha: float = 0.5
    min_support: int = 5
    block: int = 2048
    sim: sp.csr_matrix | None = field(default=None, repr=False)

    def fit(self, data: Interactions, *, now: int) -> ItemKNN:
        self.n_items = data.n_items
        x = _clip(data.matrix())
        counts = np.asarray(x.sum(axis=0)).ravel()
        kept = np.flatnonzero(counts >= self.min_support)
        xk = x[:, kept].tocsc()
        xt = xk.T.tocsr()
        n = counts[kept].astype(np.float32)
        left = np.power(n, self.alpha)
        right = np.power(n, 1 - self.alpha)
        rows, cols, vals = [], [], []
        for start in range(0, len(kept), self.block):
            stop = min(start + self.block, len(kept))
            co = (xt[start:stop] @ xk).toarray()
            co[np.arange(stop - start), np.arange(start, stop)] = 0.0
            co /= left[start:stop, None] * right[None, :]
            r, c, v = _topk_sparse_rows(co, self.k, start, len(kept))
            rows.append(r)
            cols.append(c)
            vals.append(v)
        r = kept[np.concatenate(rows)] if rows else np.array([], int)
        c = kept[np.concatenate(cols)] if cols else np.array([], int)
        v = np.concatenate(vals) if vals else np.array([], np.float32)
        self.sim = sp.csr_matrix((v, (r, c)), shape=(self.n_items, self.n_items), dtype=np.float32)
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return np.asarray((_clip(history) @ self.sim).todense())


@dataclass
class EASE(Recommender):
    """EASE (Steck 2019): a closed-form item-item linear model, B = I - P·diag(1/diag(P)), P = (XᵀX+λI)⁻¹.

    The inverse is dense, so the model covers the `max_items` most-bought items (the long tail that no
    collaborative model can learn is left to item-kNN and content in the hybrid).
    """

    name: ClassVar[str] = "ease"
    grid: ClassVar[dict[str, list]] = {"l2": [50.0, 200.0, 500.0, 1500.0, 3000.0, 6000.0]}
    l2: float = 500.0
    max_items: int = 6000
    vocab: np.ndarray | None = field(default=None, repr=False)
    weights: np.ndarray | None = field(default=None, repr=False)

    def fit(self, data: Interactions, *, now: int) -> EASE:
        from scipy.linalg import lapack

        self.n_items = data.n_items
        x = _clip(data.matrix())
        counts = np.asarray(x.sum(axis=0)).ravel()
        order = np.argsort(-counts, kind="stable")
        vocab = np.sort(order[: min(self.max_items, int((counts > 0).sum()))])
        xv = x[:, vocab].tocsc()
        gram = (xv.T @ xv).toarray().astype(np.float32)
        gram[np.diag_indices_from(gram)] += self.l2
        # Cholesky then inverse-from-Cholesky: half the work of an LU inverse on a symmetric matrix.
        chol, info = lapack.spotrf(gram, lower=0, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"Gram matrix not positive definite (info={info})")
        inv, info = lapack.spotri(chol, lower=0, overwrite_c=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"Cholesky inverse failed (info={info})")
        inv = np.triu(inv) + np.triu(inv, 1).T
        diag = np.diag(inv).copy()
        inv /= -diag[None, :]
        inv[np.diag_indices_from(inv)] = 0.0
        self.vocab = vocab
        self.weights = inv
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        out = np.zeros((history.shape[0], self.n_items), np.float32)
        sub = _clip(history)[:, self.vocab]
        out[:, self.vocab] = sub @ self.weights
        return out


@dataclass
class Content(Recommender):
    """TF-IDF over each item's text (title, description, category, attributes; Chinese via jieba).

    A user's profile is the normalised sum of the vectors of what they bought; works for items nobody
    has bought yet (cold start) and for "similar products".
    """

    name: ClassVar[str] = "content"
    grid: ClassVar[dict[str, list]] = {"sublinear": [True], "min_df": [1, 2]}
    sublinear: bool = True
    min_df: int = 1
    vectors: sp.csr_matrix | None = field(default=None, repr=False)

    def fit(self, data: Interactions, *, now: int) -> Content:
        from sklearn.feature_extraction.text import TfidfVectorizer

        from omnishop.core.text import tokenize  # pure text code: the engine stays free of Django

        self.n_items = data.n_items
        texts = data.item_text or [""] * data.n_items
        vectorizer = TfidfVectorizer(
            tokenizer=tokenize,
            lowercase=False,
            token_pattern=None,
            sublinear_tf=self.sublinear,
            min_df=self.min_df,
            dtype=np.float32,
        )
        try:
            self.vectors = vectorizer.fit_transform(texts).tocsr()
        except ValueError:  # no item has any text: an empty vocabulary
            self.vectors = sp.csr_matrix((data.n_items, 1), dtype=np.float32)
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        profile = _clip(history) @ self.vectors
        norms = np.sqrt(np.asarray(profile.multiply(profile).sum(axis=1))).ravel()
        norms[norms == 0] = 1.0
        profile = sp.diags(1.0 / norms) @ profile
        return np.asarray((self.vectors @ profile.T).T.todense(), dtype=np.float32)


@dataclass
class Hybrid(Recommender):
    """A weighted blend of the other models' scores, each normalised to [0, 1] per user.

    Weights are tuned on the validation slice; a component with weight 0 is not trained.
    """

    name: ClassVar[str] = "hybrid"
    grid: ClassVar[dict[str, list]] = {}
    components: dict[str, Recommender] = field(default_factory=dict)
    blend: dict[str, float] = field(default_factory=dict)

    def fit(self, data: Interactions, *, now: int) -> Hybrid:
        self.n_items = data.n_items
        for name, model in self.components.items():
            if self.blend.get(name, 0) > 0:
                model.fit(data, now=now)
        return self

    def score(self, history: sp.csr_matrix) -> np.ndarray:
        return self.combine({n: m.score(history) for n, m in self._active()})

    def similar(self, items: np.ndarray) -> np.ndarray:
        return self.combine({n: m.similar(items) for n, m in self._active()})

    def _active(self):
        return [(n, m) for n, m in self.components.items() if self.blend.get(n, 0) > 0]

    def combine(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        out = None
        for name, s in scores.items():
            part = normalise_rows(s) * np.float32(self.blend.get(name, 0))
            out = part if out is None else out + part
        return out

    def params(self) -> dict:
        return {"blend": dict(self.blend), **{n: m.params() for n, m in self._active()}}


MODELS: dict[str, type[Recommender]] = {m.name: m for m in (Popularity, ItemKNN, EASE, Content, Hybrid)}
