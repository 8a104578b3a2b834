import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from features.purchase_history import purchase_history, season_transitions
from tests.conftest import make_small_shop
from training.ranker import BlendedRecommender, FitCache, RankerParams, season_ridge, window_data
from training.recommenders import EASERecommender

AS_OF = pd.Timestamp("2011-03-01")


@pytest.fixture(scope="module")
def blended():
    params = RankerParams(n_windows=3, window_days=60, max_rounds=50)
    return BlendedRecommender(params).fit(make_small_shop(), AS_OF)


def test_blended_list_has_k_items_and_can_leave_out_purchases(blended):
    h = blended.history_
    rows = np.arange(len(h.users))
    ids, scores = blended.recommend(rows, k=5)
    assert ids.shape == (len(rows), 5) and (ids >= 0).all()
    assert (np.diff(scores, axis=1) <= 1e-9).all()
    fresh, _ = blended.recommend(rows, k=5, include_purchased=False)
    for r, row in zip(rows, fresh, strict=True):
        assert not set(row[row >= 0]) & set(h.orders[r].indices)


def test_blended_recommends_the_customers_own_taste_group(blended):
    # small_shop: even customers buy even items, odd customers odd items.
    h = blended.history_
    ids, _ = blended.recommend(np.arange(len(h.users)), k=3)
    parity = np.array([int(u[1:]) % 2 for u in h.users.ids])
    item_parity = np.array([int(i[1:]) % 2 for i in h.items.ids])
    assert (item_parity[ids] == parity[:, None]).mean() > 0.95


def test_saved_blended_model_reloads_and_recommends_the_same(blended, tmp_path):
    n = len(blended.history_.items)
    blended.save(tmp_path, np.array(["t"] * n), np.ones(n), {"window": "test"})
    loaded = BlendedRecommender.load(tmp_path)
    rows = np.arange(10)
    np.testing.assert_array_equal(loaded.recommend(rows, 5)[0], blended.recommend(rows, 5)[0])


def test_the_final_ranker_gets_the_probes_rounds_scaled_by_its_extra_rows(blended):
    cache = FitCache(make_small_shop())
    rows = [len(window_data(cache, c, blended.params).y) for c in blended.cutoffs_]

    assert blended.best_rounds_ == round(blended.probe_rounds_ * sum(rows) / sum(rows[:-1]))
    assert blended.best_rounds_ > blended.probe_rounds_
    assert blended.booster_.num_trees() == blended.best_rounds_


def test_the_three_lists_in_one_pass_are_the_lists_of_three_calls(blended):
    rows = np.arange(len(blended.history_.users))
    lists = blended.recommend_tasks(rows, k=6)

    np.testing.assert_array_equal(lists["all"], blended.recommend(rows, 6)[0])
    np.testing.assert_array_equal(lists["discovery"], blended.recommend(rows, 6, include_purchased=False)[0])
    np.testing.assert_array_equal(lists["buy_again"], blended.recommend(rows, 6, n_new=0)[0])
    assert (lists["buy_again"] == -1).any()  # short own histories are padded, not filled with new items


def test_ease_fitted_in_the_background_is_the_same_as_on_the_main_thread(blended):
    history = blended.history_
    np.testing.assert_array_equal(blended.item_weights_,
                                  EASERecommender(blended.params.ease_l2).fit(history.orders).item_weights_)
    cache = FitCache(make_small_shop())
    cache.prefetch_ease(AS_OF, [10.0, 300.0])
    for l2 in (10.0, 300.0):
        np.testing.assert_array_equal(cache.ease(AS_OF, l2), EASERecommender(l2).fit(history.orders).item_weights_)
    assert cache.ease(AS_OF, 10.0) is cache.ease(AS_OF, 10.0)  # fitted once


def test_a_failed_background_ease_fit_raises_where_its_weights_are_asked_for():
    cache = FitCache(make_small_shop())
    cache.prefetch_ease(AS_OF, [-1e9])  # no longer positive definite
    with pytest.raises(ValueError, match="not positive definite"):
        cache.ease(AS_OF, -1e9)


def test_windows_that_start_before_the_first_purchase_are_left_out():
    params = RankerParams(n_windows=3, window_days=60, max_rounds=20)
    as_of = pd.Timestamp("2010-05-15")
    planned = params.window_cutoffs(as_of)
    assert planned == [pd.Timestamp("2009-11-16"), pd.Timestamp("2010-01-15"), pd.Timestamp("2010-03-16")]
    model = BlendedRecommender(params).fit(make_small_shop(), as_of)
    assert model.cutoffs_ == planned[1:]  # the shop's first orders are in January 2010
    with pytest.raises(ValueError, match="no purchases before 2009-11-02"):
        BlendedRecommender(params).fit(make_small_shop(), pd.Timestamp("2010-01-01"))


def test_the_seasonal_ridge_is_the_closed_form_solution_with_unbought_items_left_at_zero():
    rng = np.random.default_rng(0)
    X = (rng.random((40, 6)) < 0.4).astype(np.float32)
    Y = (rng.random((40, 6)) < 0.3).astype(np.float32)
    X[:, 5] = 0.0  # item 5 never bought before, item 4 never after
    Y[:, 4] = 0.0
    expected = np.linalg.solve(X.T @ X + 7.0 * np.eye(6), X.T @ Y)
    got = season_ridge(sp.csr_matrix(X), sp.csr_matrix(Y), 7.0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not got[5].any() and not got[:, 4].any()


def test_the_seasonal_ridge_is_fitted_where_a_year_of_history_has_enough_customers():
    shop = make_small_shop()  # from 2010-01-01
    cache, params = FitCache(shop), RankerParams(season_min_customers=10)
    as_of = pd.Timestamp("2011-06-01")
    X, Y = season_transitions(shop, as_of, purchase_history(shop, as_of).items)
    assert X.shape[0] >= 10
    np.testing.assert_array_equal(cache.season(as_of, params), season_ridge(X, Y, params.season_l2))
    assert cache.season(pd.Timestamp("2010-12-01"), params) is None  # nothing before 2009-12-01
    assert FitCache(shop).season(as_of, RankerParams(season_min_customers=X.shape[0] + 1)) is None


def test_a_seasonal_model_saves_reloads_and_recommends_the_same(seasonal_blended, tmp_path):
    model = seasonal_blended
    assert model.season_weights_ is not None
    n = len(model.history_.items)
    model.save(tmp_path, np.array(["t"] * n), np.ones(n), {})
    loaded = BlendedRecommender.load(tmp_path)
    np.testing.assert_array_equal(loaded.season_weights_, model.season_weights_)
    rows = np.arange(len(model.history_.users))
    np.testing.assert_array_equal(loaded.recommend(rows, 5)[0], model.recommend(rows, 5)[0])


@pytest.fixture(scope="module")
def sparse_blended():
    """The small shop's 20 items with item-item models kept dense only up to 12 items."""
    params = RankerParams(n_windows=3, window_days=60, max_rounds=30, season_min_customers=10,
                          ease_dense_items=12, ease_neighbours=6)
    return BlendedRecommender(params).fit(make_small_shop(), pd.Timestamp("2011-06-01"))


def test_a_catalogue_above_the_dense_size_fits_saves_and_reloads_sparse_item_models(sparse_blended, tmp_path):
    model = sparse_blended
    assert sp.issparse(model.item_weights_) and sp.issparse(model.season_weights_)
    assert (model.item_weights_.getnnz(axis=1) <= 6).all()
    assert (model.item_weights_.getnnz(axis=0) > 0).sum() <= 12  # only the most-bought items are pointed at
    n = len(model.history_.items)
    model.save(tmp_path, np.array(["t"] * n), np.ones(n), {})
    mapped = {f.stem for f in (tmp_path / "mapped").glob("*.npy")}
    assert {"item_weights_data", "item_weights_indices", "item_weights_indptr"} <= mapped
    assert "item_weights" not in mapped and "season_weights" not in mapped
    loaded = BlendedRecommender.load(tmp_path)
    rows = np.arange(len(model.history_.users))
    np.testing.assert_array_equal(loaded.recommend(rows, 5)[0], model.recommend(rows, 5)[0])
    # Still the customers' own taste group (even customers buy even items).
    ids = model.recommend(rows, 3)[0]
    parity = np.array([int(u[1:]) % 2 for u in model.history_.users.ids])
    item_parity = np.array([int(i[1:]) % 2 for i in model.history_.items.ids])
    assert (item_parity[ids] == parity[:, None]).mean() > 0.95


def test_the_sparse_seasonal_ridge_is_the_closed_form_on_the_most_bought_items():
    rng = np.random.default_rng(0)
    X = (rng.random((60, 8)) < np.linspace(0.7, 0.1, 8)).astype(np.float32)
    Y = (rng.random((60, 8)) < np.linspace(0.1, 0.6, 8)).astype(np.float32)
    got = season_ridge(sp.csr_matrix(X), sp.csr_matrix(Y), 7.0, dense_items=5, neighbours=8)
    assert sp.issparse(got)
    rows = np.sort(np.argsort(-X.sum(axis=0), kind="stable")[:5])
    cols = np.sort(np.argsort(-Y.sum(axis=0), kind="stable")[:5])
    Xa = X[:, rows]
    expected = np.linalg.solve(Xa.T @ Xa + 7.0 * np.eye(5), Xa.T @ Y[:, cols])
    np.testing.assert_allclose(got.toarray()[np.ix_(rows, cols)], expected, atol=1e-5)
    assert got.toarray()[np.setdiff1d(np.arange(8), rows)].sum() == 0


def test_a_window_with_more_customers_than_the_limit_learns_from_a_seeded_sample():
    shop = make_small_shop()
    cutoff = pd.Timestamp("2010-09-01")
    params = RankerParams(window_days=60)
    everyone = window_data(FitCache(shop), cutoff, params)
    limited = RankerParams(window_days=60, max_window_customers=20)
    sample = window_data(FitCache(shop), cutoff, limited)
    assert len(everyone.groups) > 20 and len(sample.groups) == 20
    np.testing.assert_array_equal(window_data(FitCache(shop), cutoff, limited).X, sample.X)  # seeded
