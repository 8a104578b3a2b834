"""LightGBM's data-parallel fits on a local Dask cluster: whole queries per worker, drawn at
random, and a ranker as good as one process's."""

import lightgbm as lgb
import numpy as np
import pytest

from features import numerics
from features.cluster import connect
from training.cluster_fit import fit_on_cluster, shuffled_parts
from training.metrics import ndcg_at_k


def test_parts_hold_whole_queries_in_a_seeded_random_order():
    sizes = np.array([3, 1, 4, 2, 5])
    query = np.repeat(np.arange(5), sizes)
    rows, shuffled, query_bounds, row_bounds = shuffled_parts(sizes, 2, seed=0)
    assert sorted(rows) == list(range(15)) and list(query_bounds) == [0, 2, 5] and row_bounds[-1] == 15
    moved = query[rows]
    starts = np.flatnonzero(np.diff(moved, prepend=-1))  # where a run of one query's rows begins
    assert len(starts) == 5  # each query's rows together, in its new place
    assert list(shuffled) == list(np.diff(np.append(starts, 15))) == list(sizes[moved[starts]])
    assert row_bounds[1] in starts  # the parts cut between queries
    again = shuffled_parts(sizes, 2, seed=0)[0]
    assert (again == rows).all() and not (shuffled_parts(sizes, 2, seed=1)[0] == rows).all()


@pytest.mark.slow
def test_a_ranker_fitted_across_two_workers_ranks_as_well_as_one_fitted_here():
    rng = np.random.default_rng(0)
    sizes = rng.integers(5, 15, 400)
    X = rng.normal(size=(sizes.sum(), 6))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.5, size=len(X)) > 1).astype(int)
    params = {"objective": "lambdarank", "learning_rate": 0.1, "num_leaves": 7, "min_data_in_leaf": 20,
              **numerics.lightgbm_run(0)}
    here = lgb.train(params, lgb.Dataset(X, y, group=sizes), num_boost_round=30)
    with connect("local:2") as dask:
        there = fit_on_cluster(dask, "ranker", params, 30, X, y, sizes)
        tasks = dask.tasks_per_worker()
    assert all(n > 0 for n in tasks.values())
    starts = np.concatenate([[0], np.cumsum(sizes)])

    def mean_ndcg(booster):
        score = booster.predict(X)
        return np.mean([ndcg_at_k([str(i) for i in np.argsort(-score[a:b])], {str(i) for i in np.flatnonzero(y[a:b])}, 5)
                        for a, b in zip(starts[:-1], starts[1:], strict=True) if y[a:b].any()])

    assert mean_ndcg(there) == pytest.approx(mean_ndcg(here), abs=0.02)
