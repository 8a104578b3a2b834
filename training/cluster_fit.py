"""LightGBM's data-parallel training on a Dask cluster (:mod:`features.cluster`): the final
fits of the churn and CLTV boosters and of the recommender's ranker.

Each worker holds an even share of the rows (of the queries, for the ranker), drawn at
random with the model's seed: in data-parallel training each worker finds the bins of some
features from its own rows, and a split in the training set's order (early cutoffs or
windows on one worker, late ones on another) binned them from one part of time only. The
trees are LightGBM's data-parallel ones (Meng et al. 2016, "A communication-efficient
parallel algorithm for decision tree"): the same as one process's but for the bin edges and
the order in which histograms are summed.
"""

from __future__ import annotations

import warnings

import numpy as np

from features.cluster import Cluster

# The scikit-learn names of the parameters every shelfwise model shares, so LightGBM warns of
# no alias; each worker's threads are its own (one per worker of a local cluster).
_RENAMED = {"seed": "random_state", "verbose": "verbosity", "min_data_in_leaf": "min_child_samples",
            "bagging_fraction": "subsample", "bagging_freq": "subsample_freq"}


def shuffled_parts(sizes: np.ndarray, n: int, seed: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Queries of ``sizes`` rows each (consecutive) in a random order, cut into ``n`` parts of
    whole queries: the rows' new order, the queries' sizes in it, and each part's bounds in
    queries and in rows (``n + 1`` each)."""
    perm = np.random.default_rng(seed).permutation(len(sizes))
    rank = np.empty_like(perm)
    rank[perm] = np.arange(len(perm))
    rows = np.argsort(rank[np.repeat(np.arange(len(sizes)), sizes)], kind="stable")
    sizes = sizes[perm]
    query_bounds = np.linspace(0, len(sizes), n + 1).astype(int)
    return rows, sizes, query_bounds, np.concatenate([[0], np.cumsum(sizes)])[query_bounds]


def fit_on_cluster(cluster: Cluster, kind: str, params: dict, rounds: int, X: np.ndarray, y: np.ndarray,
                   group: np.ndarray | None = None, feature_name: list[str] | None = None):
    """``rounds`` of data-parallel training on the cluster's workers; returns the booster.

    Parameters
    ----------
    kind :
        ``"classifier"``, ``"regressor"`` or ``"ranker"`` (which needs ``group``: the sizes of
        the consecutive queries of ``X``).
    params :
        The booster's parameters as :func:`lightgbm.train` takes them.
    """
    import dask.array as da
    from lightgbm import DaskLGBMClassifier, DaskLGBMRanker, DaskLGBMRegressor

    sizes = np.ones(len(X), dtype=np.int64) if group is None else np.asarray(group, dtype=np.int64)
    workers = cluster.workers
    rows, sizes, query_bounds, row_bounds = shuffled_parts(sizes, len(workers), params.get("seed", 0))
    X, y = X[rows], y[rows]

    def scatter(array: np.ndarray, worker: str):
        # Keys of their own: an equal array scattered by another fit may be released meanwhile.
        return cluster.client.scatter(array, workers=[worker], hash=False)

    parts = []
    for w, (qa, qb), (ra, rb) in zip(workers, zip(query_bounds[:-1], query_bounds[1:], strict=True),
                                      zip(row_bounds[:-1], row_bounds[1:], strict=True), strict=True):
        if rb > ra:
            parts.append((scatter(X[ra:rb], w), scatter(y[ra:rb], w), scatter(sizes[qa:qb], w),
                          rb - ra, qb - qa))
    dX = da.concatenate([da.from_delayed(p[0], shape=(p[3], X.shape[1]), dtype=X.dtype) for p in parts])
    dy = da.concatenate([da.from_delayed(p[1], shape=(p[3],), dtype=y.dtype) for p in parts])
    params = {_RENAMED.get(k, k): v for k, v in params.items() if k != "num_threads"}
    estimators = {"classifier": DaskLGBMClassifier, "regressor": DaskLGBMRegressor, "ranker": DaskLGBMRanker}
    estimator = estimators[kind]
    model = estimator(client=cluster.client, n_estimators=rounds, **params)
    fit = {"feature_name": feature_name} if feature_name else {}
    if kind == "ranker":
        fit["group"] = da.concatenate([da.from_delayed(p[2], shape=(p[4],), dtype=np.int64) for p in parts])
    with warnings.catch_warnings():  # said of the wrapper's own default; the workers' threads are theirs
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        return model.fit(dX, dy, **fit).booster_
