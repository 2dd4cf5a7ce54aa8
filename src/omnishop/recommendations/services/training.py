"""Training a model version from the shop's own events and catalogue, evaluating it, and activating it.

One version covers every channel (a customer is one person across channels); serving filters per channel.
A new version is trained, evaluated on the most recent events held out, and only then replaces the active
one; if it loses to the popularity baseline it is rejected and the active version keeps serving.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import numpy as np
import scipy.sparse as sp
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from omnishop.catalog.models import Product
from omnishop.customers.models import Customer

from ..engine.data import DAY, Interactions, from_arrays, time_split
from ..engine.metrics import evaluate
from ..engine.models import EASE, Content, Hybrid, ItemKNN, Popularity, top_k
from ..errors import NothingToTrain
from ..models import CandidateList, Event, ModelVersion
from .events import EVENT_WEIGHTS, retention_days
from .serving import forget_version

logger = logging.getLogger(__name__)

LIST_LENGTH = 100
ITEM_LIST_LENGTH = 50
POPULAR_LENGTH = 200
HOLDOUT_DAYS = 14
MIN_TEST_USERS = 10
KEEP_VERSIONS = 3
# Blend tuned in the offline evaluation (docs/recommendations.md); ease needs enough items to pay off.
DEFAULT_BLEND = {"ease": 1.0, "itemknn": 0.5, "popularity": 0.1, "content": 0.1}
SIMILAR_BLEND = {"itemknn": 1.0, "content": 0.5}


def active_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def _new_version(params: dict) -> ModelVersion:
    with transaction.atomic():
        number = (ModelVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
        return ModelVersion.objects.create(number=number, params=params)


def shop_interactions(*, now: datetime) -> tuple[Interactions, np.ndarray]:
    """Every attributable, product-bearing event in the retention window, as arrays, with the channel of
    each; merged customers are counted under the customer they were merged into. Cold products (no events)
    are in the item space."""
    since = now - timedelta(days=retention_days())
    rows = list(
        Event.objects.filter(occurred_at__gte=since, occurred_at__lte=now, product_id__isnull=False)
        .exclude(kind=Event.Kind.SEARCH)
        .values_list("customer_id", "anonymous_id", "product_id", "kind", "occurred_at", "channel_id")
    )
    merged = dict(Customer.objects.filter(merged_into__isnull=False).values_list("pk", "merged_into_id"))
    users, items, times, weights = [], [], [], []
    channels = np.array([row[5] for row in rows], dtype=np.int64)
    for customer_id, anonymous_id, product_id, kind, occurred_at, _ in rows:
        seen = 0
        while customer_id in merged and seen < 10:
            customer_id, seen = merged[customer_id], seen + 1
        users.append(f"c:{customer_id}" if customer_id is not None else f"a:{anonymous_id}")
        items.append(product_id)
        times.append(int(occurred_at.timestamp()))
        weights.append(EVENT_WEIGHTS[kind])
    catalog = list(
        Product.objects.filter(is_active=True).values_list(
            "pk", "title", "description", "brand", "category__path", "attributes"
        )
    )
    text = {
        pk: " ".join(
            [title, description or "", brand or "", (path or "").replace("/", " ")]
            + [str(v) for v in (attributes or {}).values() if isinstance(v, str | int | float)]
        )
        for pk, title, description, brand, path, attributes in catalog
    }
    data = from_arrays(
        np.array(users, dtype=object).astype(str) if users else np.array([], dtype="<U1"),
        np.array(items, dtype=np.int64),
        np.array(times, dtype=np.int64),
        np.array(weights, dtype=np.float32),
        item_text=text,
        catalog_ids=np.array([pk for pk, *_ in catalog], dtype=np.int64),
    )
    return data, channels


def _hybrid(blend: dict[str, float], n_items: int) -> Hybrid:
    # EASE inverts an items × items matrix; on a tiny catalogue it adds nothing over item-kNN.
    components = {
        "popularity": Popularity(half_life_days=30),
        "itemknn": ItemKNN(k=50, alpha=0.5, min_support=1),
        "ease": EASE(l2=200.0, max_items=4000),
        "content": Content(min_df=1),
    }
    return Hybrid(components=components, blend=dict(blend))


def _evaluate(data: Interactions, now: int, blend: dict[str, float]) -> dict:
    split = time_split(data, cutoff=now - HOLDOUT_DAYS * DAY, end=now + 1)
    if len(split.test_users) < MIN_TEST_USERS:
        return {"evaluated": False, "reason": f"{len(split.test_users)} holdout users (< {MIN_TEST_USERS})"}
    baseline = Popularity(half_life_days=30).fit(split.train, now=split.cutoff)
    model = _hybrid(blend, data.n_items).fit(split.train, now=split.cutoff)
    return {
        "evaluated": True,
        "holdout_days": HOLDOUT_DAYS,
        "test_users": len(split.test_users),
        "hybrid": evaluate(model, split),
        "popularity": evaluate(baseline, split),
    }


def train(*, now: datetime | None = None, blend: dict[str, float] | None = None) -> ModelVersion:
    """Train, evaluate and (if it is not worse than popularity) activate a new version."""
    now = now or timezone.now()
    blend = dict(blend or DEFAULT_BLEND)
    version = _new_version({"blend": blend})
    try:
        started = time.perf_counter()
        data, channels = shop_interactions(now=now)
        if data.n_items == 0:
            raise NothingToTrain("There are no active products to recommend.")
        stamp = int(now.timestamp())
        version.status = ModelVersion.Status.EVALUATING
        version.metrics = _evaluate(data, stamp, blend)
        version.save(update_fields=["status", "metrics"])
        model = _hybrid(blend, data.n_items).fit(data, now=stamp)
        together = ItemKNN(k=ITEM_LIST_LENGTH, alpha=0.5, min_support=1).fit(
            data.select(data.weight >= EVENT_WEIGHTS["add_to_cart"]), now=stamp
        )
        lists = list(_candidate_lists(version, data, model, together))
        lists += list(_channel_popular(version, data, channels, now=stamp))
        with transaction.atomic():
            CandidateList.objects.bulk_create(lists, batch_size=1000)
        version.stats = {
            "events": len(data),
            "users": data.n_users,
            "items": data.n_items,
            "lists": len(lists),
            "seconds": round(time.perf_counter() - started, 3),
        }
        m = version.metrics
        if m.get("evaluated") and m["hybrid"]["ndcg@20"] < m["popularity"]["ndcg@20"]:
            version.status = ModelVersion.Status.REJECTED
            version.message = "Worse than the popularity baseline on the holdout; the active version stays."
            version.finished_at = timezone.now()
            version.save()
            CandidateList.objects.filter(version=version).delete()
            return version
        _activate(version)
        return version
    except Exception as exc:
        version.status = ModelVersion.Status.FAILED
        version.message = f"{type(exc).__name__}: {exc}"[:2000]
        version.finished_at = timezone.now()
        version.save()
        logger.exception("Recommendation training v%s failed", version.number)
        raise


def _activate(version: ModelVersion) -> None:
    with transaction.atomic():
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).update(
            status=ModelVersion.Status.RETIRED
        )
        version.status = ModelVersion.Status.ACTIVE
        version.finished_at = version.activated_at = timezone.now()
        version.save()
        transaction.on_commit(forget_version)
        old = ModelVersion.objects.filter(
            status__in=[ModelVersion.Status.RETIRED, ModelVersion.Status.REJECTED, ModelVersion.Status.FAILED]
        ).order_by("-number")[KEEP_VERSIONS - 1 :]
        CandidateList.objects.filter(version__in=[v.pk for v in old]).delete()


def _rows(keys, scores, length, exclude_self=False):
    """CandidateList rows for a block of keys from dense scores (top-k by argpartition)."""
    if exclude_self:
        scores[np.arange(len(keys["id"])), keys["index"]] = -np.inf
    best = top_k(scores, length)
    values = np.take_along_axis(scores, best, axis=1)
    for row, key in enumerate(keys["id"]):
        good = values[row] > 0
        yield best[row][good], values[row][good], int(key)


def _channel_popular(version, data: Interactions, channels: np.ndarray, *, now: int):
    """Per-channel popular lists (key = channel id): what sells on the web shop is not what sells on POS."""
    for channel_id in np.unique(channels).tolist():
        scores = _scores(Popularity(half_life_days=30).fit(data.select(channels == channel_id), now=now))
        order = np.argsort(-scores, kind="stable")[:POPULAR_LENGTH]
        order = order[scores[order] > 0]
        if len(order):
            yield CandidateList(
                version=version,
                kind=CandidateList.Kind.POPULAR,
                key=int(channel_id),
                product_ids=data.item_ids[order].tolist(),
                scores=np.round(scores[order], 5).tolist(),
            )


def _scores(popular: Popularity) -> np.ndarray:
    """A fitted popularity model's scores (fit() always sets them)."""
    if popular.popularity is None:
        raise RuntimeError("popularity model used before fit()")
    return popular.popularity


def _candidate_lists(version, data: Interactions, model: Hybrid, together: ItemKNN):
    item_ids = data.item_ids
    history = data.matrix()
    Kind = CandidateList.Kind
    popular = model.components["popularity"]
    if not isinstance(popular, Popularity):
        raise TypeError("the hybrid's popularity component is not a Popularity model")
    if popular.popularity is None:
        popular.fit(data, now=int(time.time()))
    scores = _scores(popular)
    order = np.argsort(-scores, kind="stable")[:POPULAR_LENGTH]
    order = order[scores[order] > 0]
    yield CandidateList(
        version=version,
        kind=Kind.POPULAR,
        key=0,
        product_ids=item_ids[order].tolist(),
        scores=np.round(scores[order], 5).tolist(),
    )
    customers = [(i, int(u[2:])) for i, u in enumerate(data.user_ids.tolist()) if u.startswith("c:")]
    for start in range(0, len(customers), 256):
        block = customers[start : start + 256]
        idx = np.array([i for i, _ in block])
        scores = model.score(history[idx])
        keys = {"id": np.array([c for _, c in block]), "index": idx}
        for items, values, key in _rows(keys, scores, LIST_LENGTH):
            yield CandidateList(
                version=version,
                kind=Kind.CUSTOMER,
                key=key,
                product_ids=item_ids[items].tolist(),
                scores=np.round(values, 5).tolist(),
            )
    similar = Hybrid(components=model.components, blend=SIMILAR_BLEND)
    for start in range(0, data.n_items, 256):
        idx = np.arange(start, min(start + 256, data.n_items))
        seeds = sp.csr_matrix(
            (np.ones(len(idx), np.float32), (np.arange(len(idx)), idx)), shape=(len(idx), data.n_items)
        )
        keys = {"id": item_ids[idx], "index": idx}
        for kind, scores in (
            (Kind.SIMILAR, similar.score(seeds)),
            (Kind.BOUGHT_TOGETHER, together.score(seeds)),
        ):
            for items, values, key in _rows(keys, scores, ITEM_LIST_LENGTH, exclude_self=True):
                if len(items):
                    yield CandidateList(
                        version=version,
                        kind=kind,
                        key=key,
                        product_ids=item_ids[items].tolist(),
                        scores=np.round(values, 5).tolist(),
                    )
