"""The serving runtime reads artifact files by their documented format, not via training."""

import json

import numpy as np
import pandas as pd
import pytest

from features.artifacts import IncompatibleModelError, write_checksums
from serving.runtime.models import BlendedRuntime, CustomerScorer, Drivers


def test_artifact_of_another_format_is_refused(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({"format": "shelfwise-recs-v1"}))
    with pytest.raises(IncompatibleModelError, match="shelfwise-recs-v1"):
        BlendedRuntime(tmp_path)


@pytest.mark.parametrize("meta, error", [
    ({"feature_set": "customer_v9"}, "unknown feature set 'customer_v9'"),
    ({"feature_set": "customer_rfm_v1", "feature_columns": ["recency_days"]}, "had other columns"),
])
def test_customer_model_whose_feature_set_cannot_be_built_is_refused(tmp_path, orders, meta, error):
    for name in ("churn", "cltv"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "meta.json").write_text(json.dumps({"format": "shelfwise-lgbm-v1", **meta}))
        write_checksums(tmp_path / name)
    with pytest.raises(IncompatibleModelError, match=error):
        CustomerScorer(tmp_path / "churn", tmp_path / "cltv", orders)


def test_blended_runtime_ranks_exactly_the_trained_models_lists(blended_dir):
    path, model = blended_dir
    runtime = BlendedRuntime(path)
    h = model.history_
    for include in (True, False, True):  # the second True answers from the per-customer cache
        ids, _ = model.recommend(np.arange(len(h.users)), k=4, include_purchased=include)
        for row, user in enumerate(h.users.ids):
            items, _ = runtime.personal(runtime.user_row(user), 4, include)
            expected = [i for i in ids[row] if i >= 0]
            assert items[: len(expected)].tolist() == expected
    assert runtime.user_row("no-such-customer") == -1


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


def test_a_wait_longer_than_the_shops_history_gets_no_date_even_when_it_runs_to_centuries():
    from tests.conftest import make_orders

    # Few customers come back (r = 0.01): a one-time buyer is "alive" with a median wait of
    # about 2 ** 100 weeks, past any date pandas holds; the weekly buyer's stays a date.
    orders = make_orders([
        *[(f"b{i}", "busy", "x", 1, 1.0, pd.Timestamp("2011-01-03") + pd.Timedelta(days=7 * i)) for i in range(10)],
        ("o1", "once", "x", 1, 1.0, "2011-02-07"),
    ])
    scorer = CustomerScorer.__new__(CustomerScorer)
    scorer.as_of = pd.Timestamp("2011-03-08")
    scorer.churn_meta = {"bgnbd": {"r": 0.01, "alpha": 0.1, "a": 0.5, "b": 2.0, "time_unit_days": 7.0}}
    scorer.frame = pd.DataFrame(index=pd.Index(["busy", "once"]))
    dates = scorer._next_purchase(orders)
    assert pd.isna(dates["once"])
    assert pd.Timestamp("2011-03-08") < dates["busy"] < pd.Timestamp("2011-05-08")


def test_top_drivers_name_each_customers_largest_contributions_with_their_values():
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200) / 100, "c": np.zeros(200)},
                     index=[f"c{i}" for i in range(200)])
    X.loc["c0", "a"] = 2.0  # far from the mean: "a" pushes c0's prediction up most
    booster = lgb.train({"objective": "regression", "min_data_in_leaf": 5, "verbose": -1},
                        lgb.Dataset(X.to_numpy(), 3 * X["a"] + X["b"]), num_boost_round=20)
    X.loc["c0", "b"] = np.nan

    drivers = Drivers.shap(booster, X, ["a", "b", "c"])

    c0 = drivers["c0"]
    assert [d["feature"] for d in c0][0] == "a" and c0[0]["value"] == 2.0 and c0[0]["contribution"] > 0
    assert sorted(d["feature"] for d in c0) == ["a", "b", "c"]
    assert next(d for d in c0 if d["feature"] == "b")["value"] is None  # missing, not NaN in JSON
    assert (drivers.first() == "a").mean() > 0.9
    with pytest.raises(KeyError):
        drivers["nobody"]


def test_cross_sell_bundles_what_goes_with_a_customers_three_favourites_that_they_never_bought():
    from types import SimpleNamespace

    import scipy.sparse as sp

    # Customer 0 ordered item 0 five times, 1 five times, 3 four times and 2 once: the
    # favourites are 0, 1 and 3. Customer 1 bought only item 6, which has no rules.
    orders = sp.csr_matrix(np.array([[5, 5, 1, 4, 0, 0, 0], [0, 0, 0, 0, 0, 0, 2]], np.float32))
    rules = {(0, 4): 0.25, (1, 4): 0.25, (3, 5): 0.5, (2, 6): 0.9, (0, 2): 0.8}
    fbt = sp.csr_matrix((list(rules.values()), tuple(zip(*rules, strict=True))), shape=(7, 7), dtype=np.float32)
    runtime = SimpleNamespace(history=SimpleNamespace(rows=lambda r: SimpleNamespace(orders=orders[r])), fbt=fbt)

    for chunk in (1, 10):
        indptr, items = BlendedRuntime.cross_sell(runtime, np.array([0, 1]), size=3, chunk=chunk)
        # 4 (0.25 + 0.25) ties 5 (0.5) and comes first as the lower column; 2 was bought;
        # 6 goes with item 2, which is not a favourite.
        assert items[indptr[0]:indptr[1]].tolist() == [4, 5]
        assert indptr[2] == indptr[1]
    indptr, items = BlendedRuntime.cross_sell(runtime, np.array([1, 0]), size=1)
    assert indptr.tolist() == [0, 0, 1] and items.tolist() == [4]


def test_a_serving_process_loads_a_booster_without_scikit_learn(tmp_path):
    import subprocess
    import sys

    import lightgbm as lgb

    X = np.arange(200, dtype=float).reshape(100, 2)
    model = tmp_path / "model.lgb"
    lgb.train({"objective": "regression", "verbose": -1, "min_data_in_leaf": 5}, lgb.Dataset(X, X[:, 0]), 5
              ).save_model(str(model))
    expected = lgb.Booster(model_file=str(model)).predict(X[:3])
    code = ("import json, sys, numpy as np; from serving.runtime.models import _booster; "
            f"p = _booster({str(model)!r}).predict(np.arange(6, dtype=float).reshape(3, 2)); "
            "print(json.dumps(['sklearn' in sys.modules, 'scipy.stats' in sys.modules, p.tolist()]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    sklearn, stats, predicted = json.loads(out)
    assert not sklearn and not stats
    np.testing.assert_allclose(predicted, expected)


def test_blended_runtime_scores_with_the_seasonal_model_as_training_did(seasonal_blended, tmp_path):
    from features.purchase_history import CANDIDATE_FEATURES

    model = seasonal_blended
    # The ranker splits on the seasonal score, so leaving it out would change the lists.
    assert model.booster_.feature_importance()[CANDIDATE_FEATURES.index("season_model")] > 0
    n = len(model.history_.items)
    model.save(tmp_path, np.array(["t"] * n), np.ones(n), {})
    runtime = BlendedRuntime(tmp_path)
    ids, _ = model.recommend(np.arange(len(model.history_.users)), k=6)
    for row, user in enumerate(model.history_.users.ids):
        assert runtime.personal(runtime.user_row(user), 6, True)[0][:6].tolist() == ids[row].tolist()


def test_a_scorer_without_models_keeps_recency_and_names_what_is_missing(orders):
    from serving.runtime.registry import MissingFamilyError

    scorer = CustomerScorer(None, None, orders)
    assert scorer.families == ()
    assert scorer.frame["churn_probability"].isna().all() and scorer.frame["predicted_cltv"].isna().all()
    assert (scorer.frame["days_since_last_order"] >= 0).all() and len(scorer.frame) == orders["customer_id"].nunique()
    with pytest.raises(MissingFamilyError, match=r"/customer needs the churn and cltv models.*shelfwise train cltv"):
        scorer.require(("churn", "cltv"), "/customer")


@pytest.mark.parametrize("served", [
    {"all": "repurchase", "discovery": "item_knn", "buy_again": "repurchase"},
    {"all": "ease", "discovery": "trending", "buy_again": "ease"},
])
def test_a_list_served_by_a_baseline_is_the_baseline_training_chose(blended_dir, tmp_path, served):
    """When a baseline beat the ranker on validation, the service ranks that list as training's
    recommender does (scores and filters), not with the ranker."""
    import shutil

    from training.jobs.recs import _baseline
    from training.recommenders import ItemKNNRecommender

    path, model = blended_dir
    copy = tmp_path / "recs"
    shutil.copytree(path, copy)
    h = model.history_
    knn = ItemKNNRecommender().fit(h.orders)
    model.save(copy, np.array([f"title {i}" for i in h.items.ids]), np.arange(len(h.items), 0, -1),
               {"served": served}, knn_scores=knn.similarity_)
    runtime = BlendedRuntime(copy)
    pop = runtime.popularity
    for task, include in (("all", True), ("discovery", False)):
        est = knn if served[task] == "item_knn" else _baseline(served[task], h, model.item_weights_, 300.0)
        if served[task] in ("popularity", "repurchase"):  # the artifact's popularity, as the service has it
            (est.popularity_ if served[task] == "repurchase" else est).item_scores_ = pop
        expected, values = est.recommend(np.arange(len(h.users)), h.orders, 5, filter_purchased=not include)
        for row in range(len(h.users)):
            got, scores = runtime.personal(row, 5, include)
            # The same scores (up to scale: trending is normalised in training) in the same order;
            # items of tied scores may come in either order.
            np.testing.assert_allclose(scores[:5] / scores[0], values[row] / values[row][0], rtol=1e-5, atol=1e-6,
                                       err_msg=f"{task} {row}")
            untied = [i for i, v in zip(got[:5], scores[:5], strict=True) if (np.isclose(scores, v)).sum() == 1]
            assert set(untied) <= set(expected[row]), (task, row)
    for row in range(len(h.users)):
        own, counts = runtime.purchases(row)
        got, _ = runtime.buy_again(row)
        assert sorted(got) == sorted(own)  # only their own items
        if served["buy_again"] == "repurchase":  # most orders first
            assert list(counts[np.argsort(-counts, kind="stable")]) == [counts[list(own).index(i)] for i in got]


@pytest.mark.parametrize("family, served_by", [("churn", "BG/NBD"), ("cltv", "BG/NBD + Gamma-Gamma")])
def test_a_served_btyd_model_scores_as_training_scored_it(small_shop, family, served_by):
    """Serving may not import training/btyd.py: its closed forms must give training's numbers."""
    from features.customer_features import History, build_customer_features, build_rfm_summary
    from training.btyd import BetaGeoModel, GammaGammaModel, btyd_scores

    as_of, horizon = pd.Timestamp(small_shop["timestamp"].max().normalize() + pd.Timedelta(days=1)), 60
    summary = build_rfm_summary(small_shop, as_of)
    bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    gg = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
    expected = btyd_scores(summary, bg, family, horizon, summary.index)
    scorer = CustomerScorer.__new__(CustomerScorer)
    scorer.as_of = as_of
    meta = {"served_by": served_by, "horizon_days": horizon, "task": family,
            "bgnbd": {**bg.params_, "time_unit_days": 7.0}, "gammagamma": gg.params_}
    features = build_customer_features(History(small_shop), as_of).reindex(summary.index)
    served, inputs = scorer._simple(meta, features, small_shop)
    np.testing.assert_allclose(served, np.asarray(expected, float), rtol=1e-6)
    assert list(inputs.columns) == [served_by]


def test_a_large_catalogues_sparse_item_models_serve_the_trained_lists(tmp_path):
    """Above ``ease_dense_items`` the artifact holds CSR item-item weights: the service ranks
    the same lists, and EASE's similar items and baseline lists read them; the items EASE was
    not fitted on get what their buyers bought as similar items."""
    import scipy.sparse as sp

    from features.item_weights import co_bought, uncovered
    from tests.conftest import make_small_shop
    from training.ranker import BlendedRecommender, RankerParams

    params = RankerParams(n_windows=3, window_days=60, max_rounds=30, season_min_customers=10,
                          ease_dense_items=12, ease_neighbours=6)
    model = BlendedRecommender(params).fit(make_small_shop(), pd.Timestamp("2011-06-01"))
    n = len(model.history_.items)
    outside = uncovered(model.item_weights_, model.history_.orders)
    assert len(outside) == n - 12
    neighbours = co_bought(model.history_.orders, outside, neighbours=5)
    model.save(tmp_path, np.array(["t"] * n), np.arange(n, 0, -1), {"served": {"discovery": "ease"}},
               co_bought=neighbours)
    runtime = BlendedRuntime(tmp_path)
    assert sp.issparse(runtime.item_weights)
    ids = model.recommend(np.arange(len(model.history_.users)), k=4)[0]
    weights = model.item_weights_.toarray()
    for row in range(len(model.history_.users)):
        assert runtime.personal(row, 4, True)[0][:4].tolist() == [i for i in ids[row] if i >= 0]
        own = runtime.bought(row)
        items, scores = runtime.personal(row, 4, False)  # EASE serves discovery
        expected = weights[own].sum(axis=0)
        assert not set(items) & set(own)
        np.testing.assert_allclose(scores, expected[items], rtol=1e-5, atol=1e-6)
    tail, head = int(outside[0]), int(np.flatnonzero(np.diff(model.item_weights_.indptr))[0])
    extra = neighbours.toarray()
    items, _ = runtime.similar({tail: 1.0})  # EASE has no row for it
    assert len(items) == 5 and items.tolist() == np.argsort(-extra[tail], kind="stable")[:5].tolist()
    items, scores = runtime.similar({head: 1.0, tail: 0.5})
    expected = weights[head] + 0.5 * weights[tail] + extra[head] + 0.5 * extra[tail]
    expected[[head, tail]] = 0
    assert items.tolist() == [i for i in np.argsort(-expected, kind="stable") if expected[i] > 0]
