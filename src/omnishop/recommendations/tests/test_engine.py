"""The recommenders and the evaluation protocol on tiny hand-made data and a slice of the real retail data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from omnishop.recommendations.engine.data import DAY, from_arrays, load_online_retail, time_split
from omnishop.recommendations.engine.metrics import evaluate, evaluate_lists
from omnishop.recommendations.engine.models import EASE, Content, Hybrid, ItemKNN, Popularity, top_k

DATASETS = Path(__file__).resolve().parents[5] / "shared" / "datasets"
T0 = 1_700_000_000


def row(n_items, *items):
    return sp.csr_matrix(
        (np.ones(len(items), np.float32), ([0] * len(items), list(items))), shape=(1, n_items)
    )


def baskets():
    """Five shoppers: tea buyers also buy biscuits, coffee buyers also buy milk."""
    events = [
        ("u1", "tea", 0), ("u1", "biscuits", 1), ("u2", "tea", 0), ("u2", "biscuits", 2),
        ("u3", "tea", 1), ("u3", "biscuits", 3), ("u4", "coffee", 0), ("u4", "milk", 1),
        ("u5", "coffee", 2), ("u5", "milk", 3), ("u6", "tea", 5),
    ]  # fmt: skip
    users, items, days = zip(*events, strict=True)
    text = {
        "tea": "english breakfast tea bags", "biscuits": "chocolate digestive biscuits",
        "coffee": "ground coffee beans", "milk": "semi skimmed milk", "cups": "tea cups porcelain",
    }  # fmt: skip
    return from_arrays(
        users, items, [T0 + d * DAY for d in days], item_text=text, catalog_ids=np.array(list(text))
    )


def idx(data, name):
    return int(np.flatnonzero(data.item_ids == name)[0])


def test_top_k_returns_the_best_columns_best_first():
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [3.0, 1.0, 2.0, 0.0]], np.float32)
    assert top_k(scores, 2).tolist() == [[1, 3], [0, 2]]


def test_item_knn_recommends_what_others_bought_with_the_basket():
    data = baskets()
    model = ItemKNN(k=5, min_support=1).fit(data, now=T0 + 10 * DAY)
    scores = model.score(row(data.n_items, idx(data, "tea")))[0]
    assert scores.argmax() == idx(data, "biscuits")
    assert scores[idx(data, "milk")] == 0


def test_ease_learns_the_same_pairs():
    data = baskets()
    model = EASE(l2=1.0).fit(data, now=T0 + 10 * DAY)
    scores = model.score(row(data.n_items, idx(data, "coffee")))[0]
    assert scores.argmax() == idx(data, "milk")


def test_recent_purchases_weigh_more_in_recency_weighted_popularity():
    data = from_arrays(["a", "b", "c"], ["old", "old", "new"], [T0, T0, T0 + 60 * DAY])
    now = T0 + 61 * DAY
    short = Popularity(half_life_days=7).fit(data, now=now).score(row(2, 0))[0]
    long = Popularity(half_life_days=3650).fit(data, now=now).score(row(2, 0))[0]
    assert short.argmax() == list(data.item_ids).index("new")
    assert long.argmax() == list(data.item_ids).index("old")


def test_content_finds_a_product_nobody_has_bought_yet_by_its_description():
    data = baskets()
    model = Content().fit(data, now=T0)
    scores = model.similar(np.array([idx(data, "tea")]))[0]
    scores[idx(data, "tea")] = -1
    assert scores.argmax() == idx(data, "cups")  # cold: no events at all


def test_content_segments_chinese_so_a_phone_case_matches_phones():
    data = from_arrays(
        ["u"], ["a"], [T0],
        item_text={"a": "苹果手机壳 透明", "b": "华为手机 5G", "c": "洗发水 去屑", "d": "热水器 电"},
        catalog_ids=np.array(["a", "b", "c", "d"]),
    )  # fmt: skip
    scores = Content().fit(data, now=T0).similar(np.array([0]))[0]
    scores[0] = -1
    assert scores.argmax() == 1 and scores[2] == 0 and scores[3] == 0


def test_hybrid_blends_normalised_scores_by_weight():
    data = baskets()
    parts = {"itemknn": ItemKNN(k=5, min_support=1), "popularity": Popularity(half_life_days=30)}
    only_pop = Hybrid(components=parts, blend={"itemknn": 0.0, "popularity": 1.0}).fit(data, now=T0 + 6 * DAY)
    history = row(data.n_items, idx(data, "coffee"))
    assert only_pop.score(history)[0].argmax() == idx(data, "tea")
    mostly_knn = Hybrid(components=parts, blend={"itemknn": 1.0, "popularity": 0.1}).fit(
        data, now=T0 + 6 * DAY
    )
    assert mostly_knn.score(history)[0].argmax() == idx(data, "milk")


def test_time_split_truth_holds_only_items_new_to_each_user_after_the_cutoff():
    data = from_arrays(
        ["a", "a", "a", "a", "b", "c"],
        ["x", "y", "x", "z", "z", "y"],
        [T0, T0, T0 + 9 * DAY, T0 + 9 * DAY, T0, T0 + 9 * DAY],
    )
    split = time_split(data, cutoff=T0 + 5 * DAY)
    user_a = list(data.user_ids).index("a")
    assert split.test_users.tolist() == [user_a]  # b bought nothing later, c was not seen in training
    assert data.item_ids[split.truth[user_a].indices].tolist() == ["z"]  # x is a repeat


def test_metrics_on_a_hand_computed_ranking():
    later = T0 + 9 * DAY
    data = from_arrays(
        ["u", "u", "u", "v", "v", "v"], ["a", "b", "c", "b", "c", "d"], [T0, later, later, T0, T0, T0]
    )
    split = time_split(data, cutoff=T0 + 5 * DAY)
    lists = np.array([[1, 3] + [0] * 18])  # b is a hit at rank 1, c is never ranked
    m = evaluate_lists(lists, split, split.test_users)
    assert m["recall@10"] == pytest.approx(0.5)
    assert m["ndcg@10"] == pytest.approx(1 / (1 + 1 / np.log2(3)))
    assert m["map@20"] == pytest.approx(0.5)


@pytest.mark.skipif(not (DATASETS / "online_retail_uci").is_dir(), reason="shared datasets not present")
def test_on_real_retail_data_every_model_ranks_far_better_than_chance():
    data = load_online_retail(DATASETS / "online_retail_uci", files=3)  # Dec 2010 - Feb 2011
    cutoff = int(data.time.max()) - 21 * DAY
    split = time_split(data, cutoff=cutoff)
    rankable = (np.asarray(split.train.matrix().sum(axis=0)).ravel() > 0).sum()
    chance = 20 / rankable
    for model in (Popularity(), ItemKNN(k=50), EASE(l2=200.0, max_items=2000), Content()):
        model.fit(split.train, now=cutoff)
        assert evaluate(model, split)["recall@20"] > 5 * chance, model.name
