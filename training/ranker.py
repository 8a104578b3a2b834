"""The blended "for you" recommender: one list for re-orders and discoveries.

Candidates per customer are their own past items and the best new items of EASE; a
LightGBM ranker with the XE-NDCG objective (Bruch 2020, "An Alternative Cross Entropy Loss
for Learning-to-Rank"; LambdaMART, Burges 2010, is ``objective="lambdarank"``) orders them
on the features of :mod:`features.purchase_history`: how often, recently and regularly the
customer bought the item, EASE scores (Steck 2019) from all and from recent purchases, the
item's trend and its sales in the same season last year, and the score of a seasonal ridge
model (:func:`season_ridge`): what customers with the same items went on to buy in the
coming season, a year earlier.

Training data come from earlier cutoffs: for each cutoff ``c`` the features are built as of
``c`` and the labels are the purchases in ``[c, c + window)``; every label window ends by
``as_of``. The latest window is the validation window (early stopping); the final ranker is
refit on all windows with the number of rounds found there, scaled by the windows' rows.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp

from features import item_weights, numerics
from features import schema as s
from features.artifacts import RECS_FORMAT, check_model, load_arrays, save_arrays, write_checksums
from features.cluster import Cluster
from features.item_weights import DENSE_ITEMS, NEIGHBOURS, ItemWeights, is_dense_size, most_bought, prune
from features.order_codes import OrderCodes
from features.purchase_history import (
    CANDIDATE_FEATURES,
    RANKER_FEATURE_SET,
    PackedHistory,
    PurchaseHistory,
    candidate_features,
    purchase_history,
    season_transitions,
)
from training import progress
from training.cluster_fit import fit_on_cluster
from training.evaluation import TestWindow, heldout_window
from training.recommenders import EASERecommender


@dataclass
class RankerParams:
    """Hyper-parameters of the blended recommender."""

    ease_l2: float = 300.0
    n_new: int = 30
    n_windows: int = 3  # 4 scored the same on held-out time and took 1.6x as long (docs/experiments.md)
    window_days: int = 92
    learning_rate: float = 0.1
    num_leaves: int = 15
    min_child_share: float = 0.001  # minimum leaf size as a share of training rows
    max_rounds: int = 400
    early_stopping_rounds: int = 40
    max_bin: int = 63
    # XE-NDCG's gradient is linear in a customer's candidates, LambdaMART's pairwise: it fits in
    # half the time, and scored as well on validation and better on discovery (docs/results.md).
    objective: str = "rank_xendcg"
    bagging_fraction: float = 1.0  # rows per tree; 0.5 halves a round, and scored lower with XE-NDCG
    # LambdaMART only: its pairs reach this far down each customer's list (LightGBM's default:
    # 30). A seventh of the customers buy more than 30 of their candidates in a window.
    truncation_level: int = 50
    season_l2: float = 300.0
    # The seasonal ridge is fitted only where this many customers bought before a year ago.
    season_min_customers: int = 500
    # Item-item models (EASE, the seasonal ridge) are dense up to this many items; above it
    # they are fitted on this many most-bought items and keep `ease_neighbours` weights per
    # row (features/item_weights.py).
    ease_dense_items: int = DENSE_ITEMS
    ease_neighbours: int = NEIGHBOURS
    # A window with more customers learns from a seeded sample of this many: the ranker's
    # rows grow with them, its quality much less.
    max_window_customers: int = 20_000
    seed: int = 0

    def window_cutoffs(self, as_of: pd.Timestamp) -> list[pd.Timestamp]:
        """Where the ranker's training windows start, oldest first. The last one starts the
        validation window (early stopping, and EASE's L2 in ``shelfwise train recs``)."""
        return [as_of - pd.Timedelta(days=self.window_days * j) for j in range(self.n_windows, 0, -1)]


MIN_WINDOW_DAYS = 28
MIN_WINDOW_CUSTOMERS = 50  # customers known before a window who buy in it: the ranker's queries


def plan_windows(orders: pd.DataFrame, as_of: pd.Timestamp, params: RankerParams
                 ) -> tuple[RankerParams, list[int]]:
    """The ranker's windows for this history: ``params`` with ``n_windows`` and ``window_days``
    the data allows, and the customers each window would learn from (oldest first).

    Rules: every window is preceded by at least as much history as its length (so a
    window's features see something), lasts :data:`MIN_WINDOW_DAYS` to ``params.window_days``
    days, and holds :data:`MIN_WINDOW_CUSTOMERS` customers who bought before it and in it.
    The most windows up to ``params.n_windows`` that satisfy all three win; a shorter history
    gets fewer and shorter windows. ``n_windows`` below 2 (one to learn from, the last to
    validate on) means the history is too short or too thin for a ranker.
    """
    first = orders[s.TIMESTAMP].min()
    span = (as_of - first).days
    bought = orders.loc[~orders[s.IS_RETURN], [s.TIMESTAMP, s.CUSTOMER_ID]]
    # Customers as codes and each one's first purchase: sets of a million id strings took most
    # of a minute per plan at a million customers.
    who = pd.factorize(bought[s.CUSTOMER_ID], use_na_sentinel=False)[0]
    when = bought[s.TIMESTAMP].to_numpy()
    first_bought = pd.Series(when).groupby(who).min().to_numpy()
    for n in range(params.n_windows, 1, -1):
        days = min(params.window_days, span // (n + 1))
        if days < MIN_WINDOW_DAYS:
            continue
        plan = RankerParams(**{**asdict(params), "n_windows": n, "window_days": days})
        counts = []
        for c in plan.window_cutoffs(as_of):
            end = c + pd.Timedelta(days=days)
            during = np.unique(who[(when >= c.to_datetime64()) & (when < end.to_datetime64())])
            counts.append(int((first_bought[during] < c.to_datetime64()).sum()))
        if min(counts) >= MIN_WINDOW_CUSTOMERS:
            return plan, counts
    return RankerParams(**{**asdict(params), "n_windows": 1}), []


@dataclass
class RankerData:
    """Candidates of one window: features, labels and query groups (customers)."""

    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray


class FitCache:
    """Purchase histories and EASE weights by cutoff, shared by tuning and fitting.

    EASE fits run on one background thread (:meth:`prefetch_ease`). They are LAPACK work,
    which holds no GIL, so the histories, candidates and evaluations the caller builds
    meanwhile overlap them; each fit still runs on one BLAS thread, so its weights are the
    same bits as a fit on the main thread.
    """

    def __init__(self, orders: pd.DataFrame, dense_items: int = DENSE_ITEMS, neighbours: int = NEIGHBOURS):
        self.orders = orders
        self.dense_items, self.neighbours = dense_items, neighbours
        self._histories: dict[pd.Timestamp, PurchaseHistory] = {}
        self._codes: OrderCodes | None = None
        self._weights: dict[tuple[pd.Timestamp, float], Future[ItemWeights]] = {}
        self._season: dict[tuple, Future[ItemWeights | None]] = {}
        self._heldout: dict[tuple, TestWindow] = {}

    def history(self, cutoff: pd.Timestamp) -> PurchaseHistory:
        if cutoff not in self._histories:
            if self._codes is None:
                self._codes = OrderCodes.of(self.orders)
            self._histories[cutoff] = purchase_history(self._codes, cutoff)
        return self._histories[cutoff]

    def heldout(self, start: pd.Timestamp, end: pd.Timestamp, max_customers: int | None) -> TestWindow:
        """:func:`training.evaluation.heldout_window` of ``[start, end)`` for the customers of
        the history as of ``start``, built once: tuning and the choice of what serves both
        measure on the validation window."""
        key = (start, end, max_customers)
        if key not in self._heldout:
            users = self.history(start).users
            self._heldout[key] = heldout_window(self.orders, users, start, end, max_customers)
        return self._heldout[key]

    def with_history(self, cutoffs: Iterable[pd.Timestamp]) -> list[pd.Timestamp]:
        """Those of ``cutoffs`` with purchases before them."""
        first = self.orders[s.TIMESTAMP].min()
        return [c for c in cutoffs if c > first]

    def prefetch_ease(self, cutoff: pd.Timestamp, l2s: Iterable[float]) -> None:
        """Start EASE fits as of ``cutoff`` in the background, one per L2 not started yet."""
        history = self.history(cutoff)
        for l2 in l2s:
            if (cutoff, l2) not in self._weights:
                self._weights[cutoff, l2] = _EASE_FITS.submit(_ease_weights, history.orders, l2,
                                                              self.dense_items, self.neighbours)

    def ease(self, cutoff: pd.Timestamp, l2: float) -> ItemWeights:
        self.prefetch_ease(cutoff, [l2])
        return self._weights[cutoff, l2].result()

    def release_ease(self, cutoff: pd.Timestamp, keep: Iterable[float] = ()) -> None:
        """Forget the EASE weights as of ``cutoff`` except those of the L2s in ``keep``: each is
        an items x items matrix, and holding every cutoff's made the fit's peak memory grow with
        the number of windows."""
        for key in [k for k in self._weights if k[0] == cutoff and k[1] not in set(keep)]:
            del self._weights[key]

    def prefetch_season(self, cutoff: pd.Timestamp, params: RankerParams) -> None:
        """Start the seasonal ridge as of ``cutoff`` on the EASE thread, unless started."""
        key = _season_key(cutoff, params)
        if key not in self._season:
            X, Y = season_transitions(self.orders, cutoff, self.history(cutoff).items, params.window_days)
            self._season[key] = _EASE_FITS.submit(
                lambda: season_ridge(X, Y, params.season_l2, self.dense_items, self.neighbours)
                if X.shape[0] >= params.season_min_customers else None)

    def season(self, cutoff: pd.Timestamp, params: RankerParams) -> ItemWeights | None:
        """:func:`season_ridge` as of ``cutoff``, or None with too few customers a year before."""
        self.prefetch_season(cutoff, params)
        return self._season[_season_key(cutoff, params)].result()


_EASE_FITS = ThreadPoolExecutor(1, thread_name_prefix="ease-fit")


def _season_key(cutoff: pd.Timestamp, p: RankerParams) -> tuple:
    return cutoff, p.season_l2, p.window_days, p.season_min_customers


def _ease_weights(user_items: sp.csr_matrix, l2: float, dense_items: int, neighbours: int) -> ItemWeights:
    return EASERecommender(l2, dense_items, neighbours).fit(user_items).item_weights_


def season_ridge(X: sp.csr_matrix, Y: sp.csr_matrix, l2: float, dense_items: int = DENSE_ITEMS,
                 neighbours: int = NEIGHBOURS) -> ItemWeights:
    """Ridge regression from customers' items (``X``) to the items they bought next (``Y``).

    ``B = (X'X + l2 I)^-1 X'Y``: EASE's closed form (Steck 2019) with later purchases as the
    target instead of the same rows, as in the transition model of SLIST (Choi et al. 2021,
    "Session-aware Linear Item-Item Models for Session-based Recommendation"). Fitted on
    :func:`features.purchase_history.season_transitions`, it scores what customers like
    this one bought in the coming season a year ago.

    Only items bought in ``X`` have nonzero rows and only items bought in ``Y`` nonzero
    columns, so the system is solved on those alone: the same weights in less time. Above
    ``dense_items`` items, as EASE (:mod:`features.item_weights`): the ``dense_items``
    most-bought of each, and ``neighbours`` weights per row.

    Returns
    -------
    ndarray of float32 or csr_matrix, shape (n_items, n_items)
    """
    n_items = X.shape[1]
    rows = np.flatnonzero(X.getnnz(axis=0))
    cols = np.flatnonzero(Y.getnnz(axis=0))
    dense = is_dense_size(n_items, dense_items)
    if not dense:
        rows = rows[most_bought(X.getnnz(axis=0)[rows], dense_items)]
        cols = cols[most_bought(Y.getnnz(axis=0)[cols], dense_items)]
    Xa = X[:, rows]
    # In float32, as EASE: half the time of float64, and weights within 1e-7 of its (at most
    # 0.16) on the bundled data.
    gram = (Xa.T @ Xa).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += l2
    solved = scipy.linalg.solve(gram, (Xa.T @ Y[:, cols]).toarray().astype(np.float32), assume_a="pos",
                                overwrite_a=True, overwrite_b=True, check_finite=False)
    if not dense:
        return prune(solved, rows, cols, n_items, neighbours)
    weights = np.zeros((n_items, n_items), np.float32)
    weights[np.ix_(rows, cols)] = solved
    return weights


def window_data(cache: FitCache, cutoff: pd.Timestamp, params: RankerParams) -> RankerData:
    """Ranker candidates as of ``cutoff``, labelled by purchases in the following window."""
    orders = cache.orders
    history = cache.history(cutoff)
    weights = cache.ease(cutoff, params.ease_l2)
    end = cutoff + pd.Timedelta(days=params.window_days)
    window = orders[(orders[s.TIMESTAMP] >= cutoff) & (orders[s.TIMESTAMP] < end) & ~orders[s.IS_RETURN]]
    rows = history.users.indices(window[s.CUSTOMER_ID])
    items = history.items.indices(window[s.ITEM_ID])
    known = rows >= 0
    users = np.unique(rows[known])
    if len(users) > params.max_window_customers:
        rng = np.random.default_rng([params.seed, cutoff.toordinal()])
        users = np.sort(rng.choice(users, params.max_window_customers, replace=False))
    pos, cand_items, X = candidate_features(history, weights, users, n_new=params.n_new,
                                            season_weights=cache.season(cutoff, params))
    # A candidate is positive when its (customer, item) pair was bought in the window.
    n_items = len(history.items)
    ok = known & (items >= 0)
    y = np.isin(users[pos] * n_items + cand_items, rows[ok] * n_items + items[ok]).astype(np.float32)
    return RankerData(X, y, np.bincount(pos, minlength=len(users)))


class BlendedRecommender:
    """EASE candidates + own purchases, ordered by a LightGBM ranker; see the module docstring."""

    def __init__(self, params: RankerParams | None = None):
        self.params = params or RankerParams()

    def _lgb_params(self, n_rows: int) -> dict:
        p = self.params
        return {"objective": p.objective, "metric": "ndcg", "eval_at": [10],
                "learning_rate": p.learning_rate,
                "num_leaves": p.num_leaves, "min_data_in_leaf": max(20, int(p.min_child_share * n_rows)),
                "max_bin": p.max_bin, "bagging_fraction": p.bagging_fraction,
                "bagging_freq": int(p.bagging_fraction < 1),
                "lambdarank_truncation_level": p.truncation_level,
                **numerics.lightgbm_run(p.seed)}

    def fit(self, orders: pd.DataFrame, as_of: pd.Timestamp, log: Callable[[str], None] = lambda _: None,
            cache: FitCache | None = None, cluster: Cluster | None = None) -> BlendedRecommender:
        """Fit the ranker on windows before ``as_of``, then EASE and the history as of ``as_of``.

        With a Dask ``cluster`` the final ranker is LightGBM's data-parallel fit over its
        workers (:mod:`training.cluster_fit`); the windows, EASE and the early-stopping probe
        stay in this process."""
        p = self.params
        cache = cache or FitCache(orders, p.ease_dense_items, p.ease_neighbours)
        planned = p.window_cutoffs(as_of)
        cutoffs = cache.with_history(planned)
        if not cutoffs:
            raise ValueError(f"BlendedRecommender.fit: no purchases before {planned[-1].date()}")
        # EASE fits in the background while the windows are built, newest first: its EASE is
        # usually tuning's, fitted already, so the next one's fit runs while it is built.
        for c in [*cutoffs[::-1], as_of]:
            cache.prefetch_ease(c, [p.ease_l2])
            cache.prefetch_season(c, p)
        built = {}
        for c in progress.bar(cutoffs[::-1], desc="ranker windows", unit="window"):
            built[c] = window_data(cache, c, p)
            if c != cutoffs[-1]:  # the validation window's weights serve at_validation later
                cache.release_ease(c)
            log(f"ranker window {c.date()}..{(c + pd.Timedelta(days=p.window_days)).date()}: "
                f"{len(built[c].groups):,} customers, {len(built[c].y):,} candidates")
        windows = [built[c] for c in cutoffs]
        train, valid = windows[:-1], windows[-1]
        self.cutoffs_ = cutoffs
        n_train, n_all = sum(len(w.y) for w in train), sum(len(w.y) for w in windows)
        if train:
            with progress.bar(total=p.max_rounds, desc="ranker: early stopping", unit="round") as rounds:
                probe = lgb.train(self._lgb_params(n_train), _dataset(train),
                                  num_boost_round=p.max_rounds, valid_sets=[_dataset([valid])],
                                  callbacks=[lgb.early_stopping(p.early_stopping_rounds, verbose=False),
                                             progress.lightgbm_rounds(rounds)])
            self.probe_rounds_ = max(probe.best_iteration, 1)
            self.validation_ndcg_ = float(probe.best_score["valid_0"]["ndcg@10"])
            self.probe_ = probe
        else:
            self.probe_rounds_, self.validation_ndcg_ = p.max_rounds // 4, float("nan")
            self.probe_ = None
        # The final ranker learns from one window more than the probe: more rows carry more
        # rounds, so its rounds grow with its rows (in backtests as of 2011-03-01 and
        # 2011-06-01 this scored higher than the probe's rounds for every seed; docs/results.md).
        self.best_rounds_ = round(self.probe_rounds_ * n_all / n_train) if train else self.probe_rounds_
        log(f"ranker: {self.probe_rounds_} rounds on validation (NDCG@10 of candidates "
            f"{self.validation_ndcg_:.4f}), {self.best_rounds_} on all {len(windows)} windows")
        if cluster is not None:
            X, y = np.vstack([w.X for w in windows]), np.concatenate([w.y for w in windows])
            groups = np.concatenate([w.groups for w in windows])
            self.booster_ = fit_on_cluster(cluster, "ranker", self._lgb_params(n_all), self.best_rounds_,
                                           X, y, groups, list(CANDIDATE_FEATURES))
        else:
            with progress.bar(total=self.best_rounds_, desc="ranker: final fit", unit="round") as rounds:
                self.booster_ = lgb.train(self._lgb_params(n_all), _dataset(windows),
                                          num_boost_round=self.best_rounds_,
                                          callbacks=[progress.lightgbm_rounds(rounds)])
        self.history_ = cache.history(as_of)
        self.item_weights_ = cache.ease(as_of, p.ease_l2)
        self.season_weights_ = cache.season(as_of, p)
        return self

    @classmethod
    def without_ranker(cls, params: RankerParams, cache: FitCache, as_of: pd.Timestamp) -> BlendedRecommender:
        """The model's history and EASE weights as of ``as_of``, without a ranker: what a
        history too short or thin for two ranker windows keeps, for the baselines that serve
        every list in its place (``meta["served"]``; :func:`training.jobs.recs.plan_recs`)."""
        model = cls(params)
        model.cutoffs_ = params.window_cutoffs(as_of)
        model.booster_ = model.probe_ = None
        model.probe_rounds_ = model.best_rounds_ = 0
        model.validation_ndcg_ = float("nan")
        model.history_ = cache.history(as_of)
        model.item_weights_ = cache.ease(as_of, params.ease_l2)
        model.season_weights_ = None
        return model

    def at_validation(self, cache: FitCache) -> BlendedRecommender:
        """The model as it stood at the validation window's start: the early-stopping probe
        (trained on the earlier windows) on the history, EASE and seasonal weights of that day.
        What the job compares with the baselines on the validation window."""
        if self.probe_ is None:
            raise ValueError("BlendedRecommender.at_validation: fitted on one window, so there is no probe")
        return self.at(cache, self.cutoffs_[-1], self.probe_)

    def at(self, cache: FitCache, cutoff: pd.Timestamp, booster: lgb.Booster | None = None
           ) -> BlendedRecommender:
        """This model's ranker (or ``booster``) on the purchases before ``cutoff``: the
        history, EASE weights (its L2) and seasonal weights of that day.

        The service's model after a test window: the ranker learnt from windows that end
        where the test starts, and its inputs are brought up to the end of the data, as each
        ranker window's features come from the history at its own start (docs/results.md,
        "What the service's recommender knows")."""
        model = copy.copy(self)  # the fitted attributes; the booster is only read
        model.booster_ = booster if booster is not None else self.booster_
        model.probe_ = None
        model.history_ = cache.history(cutoff)
        model.item_weights_ = cache.ease(cutoff, self.params.ease_l2)
        # Without a ranker nothing reads the seasonal weights (without_ranker fits none).
        model.season_weights_ = cache.season(cutoff, self.params) if model.booster_ is not None else None
        return model

    def recommend(self, user_rows: np.ndarray, k: int = 10, include_purchased: bool = True,
                  n_new: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` item columns and scores per customer row (-1 / -inf pad short lists).

        ``n_new=0`` ranks only the customer's own items: the "buy it again" list.
        """
        pos, items, _, score = self._scored(user_rows, self.params.n_new if n_new is None else n_new,
                                            include_purchased)
        return _best_k(pos, items, score, len(user_rows), k)

    def recommend_tasks(self, user_rows: np.ndarray, k: int) -> dict[str, np.ndarray]:
        """The top ``k`` item columns of :meth:`recommend` for the three lists at once:
        ``"all"`` (own and new items), ``"discovery"`` (``include_purchased=False``) and
        ``"buy_again"`` (``n_new=0``).

        A candidate's features and score do not depend on which other candidates are ranked,
        so the candidates of ``"all"`` are scored once and each list keeps its share of them:
        the same lists as three calls, in a third of the time.
        """
        pos, items, X, score = self._scored(user_rows, self.params.n_new, include_purchased=True)
        own = X[:, CANDIDATE_FEATURES.index("bought")] == 1
        return {task: _best_k(pos[keep], items[keep], score[keep], len(user_rows), k)[0]
                for task, keep in (("all", np.ones(len(pos), bool)), ("discovery", ~own), ("buy_again", own))}

    def _scored(self, user_rows: np.ndarray, n_new: int, include_purchased: bool
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:func:`candidate_features` (positions, items, features) and the ranker's score of each."""
        booster = self.booster_
        if booster is None:
            raise ValueError("BlendedRecommender: saved without a ranker; its baselines serve every list "
                             "(meta.json's 'served')")
        pos, items, X = candidate_features(self.history_, self.item_weights_, np.asarray(user_rows, np.int64),
                                           n_new, include_purchased, self.season_weights_)
        rounds = booster.best_iteration if booster.best_iteration > 0 else None  # a probe's best, else all
        return pos, items, X, booster.predict(X, num_iteration=rounds) if len(X) else np.zeros(0)

    def save(self, path: Path, titles: np.ndarray, popularity: np.ndarray, extra_meta: dict,
             fbt_scores: sp.csr_matrix | None = None, knn_scores: sp.csr_matrix | None = None,
             co_bought: sp.csr_matrix | None = None) -> None:
        """``model.npz`` (titles, popularity, trending, item statistics and, if given, the
        frequently-bought-together rule scores as ``fbt_*`` CSR arrays and item-kNN
        similarities as ``knn_*``), ``mapped/`` (EASE
        weights, the seasonal ridge's if it was fitted, the neighbours of the items EASE was
        not fitted on if given (:func:`features.item_weights.co_bought`), and the packed
        per-customer history, memory-mapped when loaded),
        ``ranker.lgb`` (unless :meth:`without_ranker`), ``meta.json``."""
        path.mkdir(parents=True, exist_ok=True)
        fbt = {f"{name}_{part}": a for name, m in (("fbt", fbt_scores), ("knn", knn_scores)) if m is not None
               for part, a in (("indptr", m.indptr), ("indices", m.indices), ("scores", m.data))}
        arrays = self.history_.pack().to_arrays()
        mapped = {**item_weights.to_arrays("item_weights", self.item_weights_),
                  **{k: arrays.pop(k) for k in PackedHistory.MAPPED}}
        if self.season_weights_ is not None:
            mapped.update(item_weights.to_arrays("season_weights", self.season_weights_))
        if co_bought is not None:
            mapped.update(item_weights.to_arrays("co_bought", co_bought))
        small = {"item_titles": np.asarray(titles, str), "popularity": np.asarray(popularity, np.float32),
                 "trending": self.history_.trending()}
        save_arrays(path, {**small, **arrays, **fbt}, mapped)
        if self.booster_ is not None:
            self.booster_.save_model(str(path / "ranker.lgb"))
        model = "blended" if self.booster_ is not None else "baselines"
        meta = {"format": RECS_FORMAT, "model": model, "feature_set": RANKER_FEATURE_SET,
                "features": list(CANDIDATE_FEATURES), "params": asdict(self.params),
                "best_rounds": self.best_rounds_, "as_of": str(self.history_.as_of.date()), **extra_meta}
        (path / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        write_checksums(path)

    @classmethod
    def load(cls, path: Path) -> BlendedRecommender:
        meta = check_model(path, "recs")
        arrays = load_arrays(path)
        model = cls(RankerParams(**meta["params"]))
        model.history_ = PackedHistory.from_arrays(arrays)
        n = len(model.history_.items)
        model.item_weights_ = item_weights.from_arrays(arrays, "item_weights", n)
        model.season_weights_ = item_weights.from_arrays(arrays, "season_weights", n)
        ranker = path / "ranker.lgb"
        model.booster_ = lgb.Booster(model_file=str(ranker)) if ranker.exists() else None
        model.best_rounds_ = meta["best_rounds"]
        return model


def _best_k(pos: np.ndarray, items: np.ndarray, score: np.ndarray, n_users: int, k: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` items and scores per customer position (-1 / -inf pad); ties keep candidate order."""
    ids = np.full((n_users, k), -1, np.int64)
    scores = np.full((n_users, k), -np.inf, np.float32)
    order = np.lexsort((-score, pos))
    pos, items, score = pos[order], items[order], score[order]
    start = np.searchsorted(pos, np.arange(n_users))
    rank = np.arange(len(pos)) - start[pos]
    keep = rank < k
    ids[pos[keep], rank[keep]] = items[keep]
    scores[pos[keep], rank[keep]] = score[keep]
    return ids, scores


def _dataset(windows: list[RankerData]) -> lgb.Dataset:
    return lgb.Dataset(np.vstack([w.X for w in windows]), np.concatenate([w.y for w in windows]),
                       group=np.concatenate([w.groups for w in windows]),
                       feature_name=list(CANDIDATE_FEATURES), free_raw_data=True)
