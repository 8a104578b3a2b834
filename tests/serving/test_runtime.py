"""The serving runtime reads artifact files by their documented format, not via training."""

import json

import numpy as np
import pandas as pd
import pytest

from serving.runtime import CustomerScorer, IncompatibleModelError, RecommenderRuntime


@pytest.fixture
def recs_dir(tmp_path):
    # Two users, three items: u1 likes i2, u2 likes i0; i1 is the most popular.
    np.savez(tmp_path / "model.npz",
             user_factors=np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32),
             item_factors=np.array([[1.0, 0.0], [0.2, 0.2], [0.0, 1.0]], dtype=np.float32),
             user_ids=np.array(["u1", "u2"]), item_ids=np.array(["i0", "i1", "i2"]),
             item_titles=np.array(["zero", "one", "two"]),
             popularity=np.array([0.5, 1.0, 0.1], dtype=np.float32))
    (tmp_path / "meta.json").write_text(json.dumps({"format": "shelfwise-recs-v1"}))
    return tmp_path


def test_known_user_gets_personal_items_best_first(recs_dir):
    items, fallback = RecommenderRuntime(recs_dir).recommend("u1", k=2)
    assert not fallback
    assert [(i.item_id, i.title) for i in items] == [("i2", "two"), ("i1", "one")]


def test_unknown_user_gets_popular_items_marked_as_fallback(recs_dir):
    items, fallback = RecommenderRuntime(recs_dir).recommend("stranger", k=5)
    assert fallback
    assert [i.item_id for i in items] == ["i1", "i0", "i2"]  # k capped at the catalogue


def test_artifact_of_unknown_format_is_refused(recs_dir):
    (recs_dir / "meta.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(IncompatibleModelError, match="something-else"):
        RecommenderRuntime(recs_dir)


@pytest.mark.parametrize("meta, error", [
    ({"feature_set": "customer_v9"}, "unknown feature set 'customer_v9'"),
    ({"feature_set": "customer_rfm_v1", "feature_columns": ["recency_days"]}, "had other columns"),
])
def test_customer_model_whose_feature_set_cannot_be_built_is_refused(tmp_path, orders, meta, error):
    for name in ("churn", "cltv"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "meta.json").write_text(json.dumps({"format": "shelfwise-lgbm-v1", **meta}))
    with pytest.raises(IncompatibleModelError, match=error):
        CustomerScorer(tmp_path / "churn", tmp_path / "cltv", orders)


@pytest.fixture(scope="module")
def blended_dir(tmp_path_factory):
    from tests.conftest import make_small_shop
    from training.ranker import BlendedRecommender, RankerParams

    model = BlendedRecommender(RankerParams(n_windows=3, window_days=60, max_rounds=30)).fit(
        make_small_shop(), pd.Timestamp("2011-03-01"))
    path = tmp_path_factory.mktemp("blended")
    n = len(model.history_.items)
    model.save(path, np.array([f"title {i}" for i in model.history_.items.ids]), np.arange(n, 0, -1), {})
    return path, model


def test_blended_runtime_serves_exactly_the_trained_models_lists(blended_dir):
    from serving.runtime import BlendedRuntime, load_recommender

    path, model = blended_dir
    runtime = load_recommender(path)
    assert isinstance(runtime, BlendedRuntime)
    h = model.history_
    for include in (True, False):
        ids, _ = model.recommend(np.arange(len(h.users)), k=4, include_purchased=include)
        for row, user in enumerate(h.users.ids):
            items, fallback = runtime.recommend(user, 4, include)
            assert not fallback
            expected = [h.items.ids[i] for i in ids[row] if i >= 0]
            assert [i.item_id for i in items][: len(expected)] == expected


def test_blended_lists_are_filled_to_k_and_respect_include_purchased(blended_dir):
    from serving.runtime import load_recommender

    path, model = blended_dir
    runtime = load_recommender(path)
    user = model.history_.users.ids[0]
    bought = set(model.history_.items.ids[model.history_.orders[0].indices])
    items, _ = runtime.recommend(user, 20, include_purchased=False)
    ids = [i.item_id for i in items]
    # 20 items in the shop: every one the customer has not bought, without repeats.
    assert runtime.n_items == 20 and len(ids) == len(set(ids)) == 20 - len(bought)
    assert not set(ids) & bought
    items, fallback = runtime.recommend("stranger", 3)
    assert fallback and [i.item_id for i in items] == runtime.item_ids[:3]  # popularity given as n..1


def test_next_purchase_date_is_the_bgnbd_median_wait_or_none_when_likely_gone(tmp_path):
    from tests.conftest import make_orders

    orders = make_orders([
        # "busy": bought every week until the end; "gone": two early purchases, then silence.
        *[(f"b{i}", "busy", "x", 1, 1.0, pd.Timestamp("2011-01-03") + pd.Timedelta(days=7 * i)) for i in range(10)],
        ("g1", "gone", "x", 1, 1.0, "2010-01-04"), ("g2", "gone", "x", 1, 1.0, "2010-01-11"),
    ])
    scorer = CustomerScorer.__new__(CustomerScorer)
    scorer.as_of = pd.Timestamp("2011-03-08")
    scorer.churn_meta = {"bgnbd": {"r": 1.0, "alpha": 2.0, "a": 0.5, "b": 2.0, "time_unit_days": 7.0}}
    scorer.frame = pd.DataFrame(index=pd.Index(["busy", "gone"]))
    dates = scorer._next_purchase(orders)
    # busy: x = 9 repeats, T from 2011-01-03 to 2011-03-07 = 9 weeks: wait = (2 + 9) * (2 ** (1/10) - 1) weeks
    wait_days = round((2 + 9) * (2 ** 0.1 - 1) * 7)
    assert dates["busy"] == pd.Timestamp("2011-03-08") + pd.Timedelta(days=wait_days)
    assert pd.isna(dates["gone"])
