"""Plain-Python runtime objects the service calls; tests build them directly.

They read the registered artifact files (``.npz``, LightGBM text, JSON), whose formats
are the contract with ``training``.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import item_weights
from features.artifacts import CHECKSUMS, IncompatibleModelError, check_model, file_sha256, load_arrays
from features.customer_features import History, build_customer_features, build_rfm_summary
from features.purchase_history import PackedHistory, candidate_features, fold_in_recent, recent_scores
from features.sparse_rows import best_per_row, row_of
from serving.runtime.registry import MissingFamilyError

if TYPE_CHECKING:
    import lightgbm as lgb


class Memo:
    """A least-recently-used cache of results that holds no reference to whoever computes
    them. ``functools.lru_cache`` over a bound method makes a cycle (runtime -> cache ->
    method -> runtime) that only the cycle collector can free, and the service freezes the
    collector after each load (``gc.freeze``), so every swapped-out model stayed in memory."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], object]):
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = compute()  # outside the lock: two threads may compute the same key once each
        with self._lock:
            self._entries[key] = value
            if len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return value


def _booster(model_file: Path) -> lgb.Booster:
    """A LightGBM booster from its text file. LightGBM loads on first use rather than with
    this module: BentoML's arbiter imports the service only to read its definition, before
    any worker starts.

    LightGBM imports scikit-learn, and with it scipy.stats, for its estimator classes, which
    serving never uses: 1.3-2.3 s and 69 MB of every worker and marketer command here. So
    unless scikit-learn is loaded already (training, the tests), it is hidden while LightGBM
    loads; LightGBM then runs without its scikit-learn wrappers, and the booster predicts the
    same."""
    if "lightgbm" not in sys.modules and "sklearn" not in sys.modules:
        sys.modules["sklearn"] = None  # makes `import sklearn` raise ImportError
        try:
            import lightgbm  # noqa: F401
        finally:
            del sys.modules["sklearn"]
    import lightgbm as lgb

    return lgb.Booster(model_file=str(model_file))


# Customers whose ranked list a worker keeps (about 1 KB each: ~100 candidates).
PERSONAL_CACHE_SIZE = 50_000
# Shoppers with live events whose candidates and features a worker keeps, so that each new
# event costs a fold-in and a prediction rather than the whole feature build (about 30 KB
# each at 4,395 items: ~100 candidates' features and a score per item; 60 MB at most).
LIVE_CACHE_SIZE = 2_048


class BlendedRuntime:
    """The recommender artifact (``shelfwise-recs-v5``) and the lists it can rank.

    The "for you" list is the customer's own items and EASE candidates ordered by the
    LightGBM ranker, with features from :func:`features.purchase_history.candidate_features`
    (the function training used) on the purchase history frozen at the model's ``as_of``.
    Every method returns model item positions best first and their scores; rules, fallbacks
    and live state are :mod:`serving.storefront.lists`'s business.
    """

    def __init__(self, path: Path):
        self.meta = check_model(path, "recs")
        # Names the files, for what is kept computed from them (serving.marketing.bundles); read
        # now, as a downloaded model's folder may be gone by the time that is asked for.
        self.digest = file_sha256(path / CHECKSUMS)
        arrays = load_arrays(path)
        self.history = PackedHistory.from_arrays(arrays)
        n = len(self.history.items)
        # Dense, or sparse for a large catalogue (features/item_weights.py).
        self.item_weights = item_weights.from_arrays(arrays, "item_weights", n)
        self.season_weights = item_weights.from_arrays(arrays, "season_weights", n)  # None without a year
        # Above the dense catalogue size: what buyers of the items EASE was not fitted on bought
        # too (features.item_weights.co_bought); None when EASE covers every bought item.
        self.co_bought = item_weights.from_arrays(arrays, "co_bought", n)
        # None for a history too short or thin for a ranker: baselines serve every list then.
        ranker = path / "ranker.lgb"
        self.booster = _booster(ranker) if ranker.exists() else None
        self.n_new = int(self.meta["params"]["n_new"])
        self.item_ids = self.history.items.ids.tolist()
        self.titles = arrays["item_titles"].tolist()
        self.popularity = arrays["popularity"].astype(np.float64)
        self.fbt = (sp.csr_matrix((arrays["fbt_scores"], arrays["fbt_indices"], arrays["fbt_indptr"]),
                                  shape=(n, n)) if "fbt_scores" in arrays else sp.csr_matrix((n, n)))
        # Trending: purchases weighted by recency (60-day half-life) at the model's as_of.
        self.trending = arrays["trending"]
        # Which model serves each list ("all", "discovery", "buy_again"): the ranker unless a
        # baseline beat it on the validation window (training.jobs.recs.choose_served).
        self.served = {"all": "blended", "discovery": "blended", "buy_again": "blended",
                       **(self.meta.get("served") or {})}
        if self.booster is None and "blended" in self.served.values():
            tasks = [task for task, name in self.served.items() if name == "blended"]
            raise IncompatibleModelError(f"{path}: no ranker.lgb, yet meta.json has the ranker serve "
                                         f"{tasks}; retrain recs")
        self.knn = (sp.csr_matrix((arrays["knn_scores"], arrays["knn_indices"], arrays["knn_indptr"]),
                                  shape=(n, n)) if "knn_scores" in arrays else None)
        # Per instance, so a swapped-out model takes its cache with it.
        self._personal_cache, self._candidate_cache = Memo(PERSONAL_CACHE_SIZE), Memo(LIVE_CACHE_SIZE)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def purchases_to(self) -> str:
        """The last day of purchases in the model's history (ISO date)."""
        return str((self.history.as_of - pd.Timedelta(days=1)).date())

    def user_row(self, user_id: str | None) -> int:
        """Row of a customer the model knows, else -1."""
        try:
            return -1 if user_id is None else self.history.users.index(user_id)
        except KeyError:
            return -1

    def purchases(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Item positions the customer bought and their distinct orders of each."""
        return self.history.orders_of(row)

    def bought(self, row: int) -> np.ndarray:
        return self.history.items_of(row)

    def personal(self, row: int, k: int, include_purchased: bool,
                 live_interest: dict[int, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ranker's list for a known customer, with live interest folded in (or the list of
        the baseline that serves it, :meth:`baseline`).

        Without live interest the list depends only on the model, so it is computed once
        per customer and kept (least recently used first out): a shopper asks on every
        page view. With it, the customer's candidates and features are kept instead and
        only the live interest is folded in afresh (:func:`fold_in_recent`): a whole "for
        you" list then took 2.0-2.3 ms of CPU on the demo's model instead of 4.5-5.1 ms
        (``benchmarks.loadtest``'s in-process lists).
        """
        task = "all" if include_purchased else "discovery"
        if self.served[task] != "blended":  # live interest reaches the page through similar items
            key = (row, max(self.n_new, k), task)
            return self._personal_cache.get(key, lambda: self.baseline(row, *key[1:]))
        key = (row, max(self.n_new, k), include_purchased)
        if not live_interest:
            return self._personal_cache.get(key, lambda: self._personal(*key))
        items, X, recent = self._candidate_cache.get(key, lambda: self._candidates(*key))
        return self._ranked(items, fold_in_recent(items, X, recent, self.item_weights, live_interest))

    def _personal(self, row: int, n_new: int, include_purchased: bool) -> tuple[np.ndarray, np.ndarray]:
        _, items, X = self._features(row, n_new, include_purchased)
        items, scores = self._ranked(items, X)
        items.flags.writeable = scores.flags.writeable = False  # cached: shared by later requests
        return items, scores

    def _candidates(self, row: int, n_new: int, include_purchased: bool
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        _, items, X = self._features(row, n_new, include_purchased)
        recent = recent_scores(self.history, self.item_weights, row)
        for a in (items, X, recent):
            a.flags.writeable = False  # cached: shared by later requests
        return items, X, recent

    def buy_again(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """The customer's own items only, ordered by the same ranker (or the baseline that
        serves this list)."""
        if self.served["buy_again"] != "blended":
            return self.baseline(row, 0, "buy_again")
        _, items, X = self._features(row, 0, True)
        return self._ranked(items, X)

    def baseline(self, row: int, n_new: int, task: str) -> tuple[np.ndarray, np.ndarray]:
        """The list of the baseline that serves ``task`` for a known customer: their own items
        and the ``n_new`` best others (``"all"``), the best they never bought
        (``"discovery"``), or their own items only (``"buy_again"``), best first.

        Scores as training's recommenders give them (training/recommenders.py; serving may not
        import it): popularity and trending per item; repurchase, the customer's orders of an
        item with popularity breaking ties; EASE and item-kNN, the sums of the item-item
        weights of what the customer bought."""
        name = self.served[task]
        own, counts = self.history.orders_of(row)
        if name == "popularity":
            scores = self.popularity.copy()
        elif name == "trending":
            scores = np.asarray(self.trending, np.float64).copy()
        elif name == "repurchase":
            scores = 1e-3 * self.popularity
            scores[own] += counts
        elif name == "ease":
            scores = item_weights.weighted_rows(own, np.ones(len(own), np.float32), self.item_weights
                                                ).astype(np.float64)
        elif name == "item_knn" and self.knn is not None:
            scores = np.asarray(self.knn[own].sum(axis=0), np.float64).ravel()
        else:
            raise ValueError(f"recs artifact: {name!r} cannot serve {task!r} lists")
        if task == "buy_again":
            candidates = np.asarray(own, np.int64)
        else:
            keep = np.ones(self.n_items, bool)
            if task == "discovery":
                keep[own] = False
            candidates = np.flatnonzero(keep)
        limit = {"all": len(own) + n_new, "discovery": n_new, "buy_again": len(own)}[task]
        order = np.argsort(-scores[candidates], kind="stable")[:limit]
        items, values = candidates[order], scores[candidates[order]]
        items.flags.writeable = values.flags.writeable = False  # cached: shared by later requests
        return items, values

    def _features(self, row: int, n_new: int, include_purchased: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One customer's :func:`candidate_features`, as training built them."""
        return candidate_features(self.history, self.item_weights, np.array([row]), n_new, include_purchased,
                                  self.season_weights)

    def _ranked(self, items: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # booster.predict on a numpy matrix: no sklearn wrapper, no feature-name checks. One
        # thread: the service runs a worker per core, and LightGBM's default of a thread per
        # core makes each wait for the other's core (a list took 1.4-1.5 ms with the other
        # core busy, against 0.7 ms on one thread; 0.4 ms with both cores idle).
        scores = self.booster.predict(X, num_threads=1) if len(X) else np.zeros(0)
        order = np.argsort(-scores, kind="stable")
        return items[order], scores[order]

    def similar(self, weights: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
        """Items EASE predicts from a weighted set of items (an item page, or a session's
        views and carts: a visitor folded in as one row), best first, the items themselves
        and non-positive scores left out. An item EASE was not fitted on adds what its buyers
        bought too, each weighted by the chance that they did."""
        cols = np.fromiter(weights, dtype=np.int64)
        values = np.fromiter(weights.values(), dtype=np.float32)
        scores = item_weights.weighted_rows(cols, values, self.item_weights)
        if self.co_bought is not None:
            scores = scores + item_weights.weighted_rows(cols, values, self.co_bought)
        return _top_positive(scores, cols)

    def bought_together(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frequently-bought-together rules of a cart: summed confidence, best first."""
        scores = np.asarray(self.fbt[items].sum(axis=0), dtype=np.float64).ravel()
        return _top_positive(scores, items)

    def cross_sell(self, rows: np.ndarray, size: int, favourites: int = 3,
                   chunk: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
        """Per customer row, up to ``size`` items bought together with their ``favourites``
        (the items of most distinct orders, ties to the lower column) that they never
        bought, best first (summed confidence, ties to the lower column): what
        :meth:`bought_together` of the favourites gives, less the customer's purchases.

        For many customers at once, by sparse products over ``chunk`` customers at a time:
        one customer at a time took 0.3-0.4 ms each, minutes per million customers.

        Returns
        -------
        indptr : ndarray of int64, shape (len(rows) + 1,)
            Row ``r``'s items are ``items[indptr[r]:indptr[r + 1]]``.
        items : ndarray of int
        """
        rows = np.asarray(rows, dtype=np.int64)
        parts = []
        for start in range(0, len(rows), chunk):
            own = self.history.rows(rows[start:start + chunk]).orders
            best = best_per_row(own, favourites)
            liked = sp.csr_matrix((np.ones(len(best), np.float32), (row_of(own)[best], own.indices[best])),
                                  shape=own.shape)
            scores = (liked @ self.fbt).tocsr()
            scores = (scores - scores.multiply(own > 0)).tocsr()  # never bought before
            scores.eliminate_zeros()
            top = best_per_row(scores, size)
            parts.append((np.bincount(row_of(scores)[top], minlength=own.shape[0]), scores.indices[top]))
        counts = np.concatenate([c for c, _ in parts]) if parts else np.zeros(0, np.int64)
        items = np.concatenate([i for _, i in parts]) if parts else np.zeros(0, np.int32)
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), items


def _top_positive(scores: np.ndarray, leave_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.array(scores, dtype=np.float64)
    scores[leave_out] = 0.0
    keep = np.flatnonzero(scores > 0)
    order = keep[np.argsort(-scores[keep], kind="stable")]
    return order, scores[order]


RISK_BANDS = ([0.0, 0.3, 0.6, 1.0], ["low", "medium", "high"])
N_DRIVERS = 3
FRAME_COLUMNS = ("churn_probability", "predicted_cltv", "days_since_last_order", "risk_band", "cltv_rank_pct",
                 "cltv_decile", "cltv_tier", "next_purchase_date")


class Drivers:
    """Each customer's largest reasons for a score: feature names, their values and their
    contributions, one ``(customers, k)`` array each, turned into dicts per customer on
    request (a dict per customer and model held 861 bytes per customer in each worker, 0.8
    GB per million customers and model; arrays about 300, tracemalloc on the demo's churn
    model).

    :meth:`shap` gives LightGBM's ``N_DRIVERS`` largest feature contributions (SHAP values;
    Lundberg et al. 2020, "From local explanations to global understanding with explainable
    AI for trees"; LightGBM's ``pred_contrib``), on the model's raw scale (log-odds for churn,
    log of spend for CLTV), the sign saying which way they push. :meth:`of_input` gives a
    simple model's (recency, BG/NBD, last-period spend) one input, with no contribution to
    split.
    """

    def __init__(self, rows: pd.Index, names: np.ndarray, values: np.ndarray, contributions: np.ndarray):
        self.rows, self.names, self.values, self.contributions = rows, names, values, contributions

    @classmethod
    def shap(cls, booster: lgb.Booster, features: pd.DataFrame, columns: list[str]) -> Drivers:
        X = features[columns].to_numpy(float)
        contrib = booster.predict(X, pred_contrib=True)[:, :-1]
        top = np.argsort(-np.abs(contrib), axis=1)[:, :N_DRIVERS]
        return cls(features.index, np.asarray(columns, dtype=object)[top], np.take_along_axis(X, top, axis=1),
                   np.take_along_axis(contrib, top, axis=1))

    @classmethod
    def of_input(cls, inputs: pd.DataFrame) -> Drivers:
        n = len(inputs)
        return cls(inputs.index, np.full((n, 1), inputs.columns[0], dtype=object),
                   inputs.iloc[:, [0]].to_numpy(float), np.zeros((n, 1)))

    def __getitem__(self, customer_id: str) -> list[dict]:
        r = self.rows.get_loc(customer_id)
        return [{"feature": f, "value": None if np.isnan(v) else float(v), "contribution": float(c)}
                for f, v, c in zip(self.names[r], self.values[r], self.contributions[r], strict=True)]

    def first(self) -> np.ndarray:
        """The largest driver's feature name for every customer, in the rows' order."""
        return self.names[:, 0]

    def to_columns(self, family: str) -> dict[str, np.ndarray]:
        """Columns ``<family>_driver_<j>`` (name), ``..._value`` and ``..._contribution``, a
        row per customer: the form :mod:`serving.runtime.score_table` stores."""
        out = {}
        for j in range(self.names.shape[1]):
            col = f"{family}_driver_{j + 1}"
            out.update({col: self.names[:, j].astype(str), f"{col}_value": self.values[:, j],
                        f"{col}_contribution": self.contributions[:, j]})
        return out

    @classmethod
    def from_columns(cls, table: pd.DataFrame, family: str) -> Drivers:
        """Inverse of :meth:`to_columns` over a table indexed by customer id."""
        cols = [c for c in table.columns if c.startswith(f"{family}_driver_") and c[-1].isdigit()]
        # One string object per feature name, shared by every customer, not one per cell.
        coded = [pd.Categorical(table[c]) for c in cols]
        names = np.column_stack([c.categories.to_numpy(object)[c.codes] for c in coded])
        return cls(table.index, names,
                   table[[f"{c}_value" for c in cols]].to_numpy(float),
                   table[[f"{c}_contribution" for c in cols]].to_numpy(float))


def day_after(orders: pd.DataFrame) -> pd.Timestamp:
    """The date customers are scored as of: the day after the last order."""
    return (orders["timestamp"].max() + pd.Timedelta(days=1)).normalize()


def cltv_ranks(frame: pd.DataFrame) -> pd.DataFrame:
    """Set ``frame``'s ``cltv_rank_pct``, ``cltv_decile`` and ``cltv_tier`` from its
    ``predicted_cltv``: the rank among all its customers (percent, best first; ties in row
    order); decile 1 is the top 10%."""
    rank = frame["predicted_cltv"].rank(ascending=False, method="first") / len(frame)
    frame["cltv_rank_pct"] = rank * 100
    frame["cltv_decile"] = np.minimum(np.ceil(rank.fillna(1.0) * 10), 10).astype(int)
    frame["cltv_tier"] = np.select([rank <= 0.01, rank <= 0.05, rank <= 0.10],
                                   ["top 1%", "top 5%", "top 10%"], "other")
    return frame


class CustomerScorer:
    """Churn probability and predicted CLTV for every customer, scored once at load.

    Features are built from the workspace's orders (and events, when there are any) as of
    the day after the last order, with the builder of the feature set each model records.
    A model whose feature set this code cannot build, or whose files changed since
    training, is refused (:func:`features.artifacts.check_model`). Given ``table`` (what
    :meth:`to_table` returned, its date in ``table.attrs["as_of"]``), nothing is scored and
    ``orders`` is not needed.

    Either model may be absent (a shop whose data could not train it yet): its columns are
    then empty (NaN), :attr:`families` leaves it out, and :meth:`require` raises
    :class:`~serving.runtime.registry.MissingFamilyError` for whatever needs it. Recency and
    the RFM inputs never need a model.

    Scoring a part of the customers (:mod:`serving.runtime.score_table`), ``as_of`` and
    ``home`` are the whole shop's (by default those of ``orders``), and the CLTV ranks are
    set again among every customer's by :func:`cltv_ranks`.
    """

    def __init__(self, churn_path: Path | None, cltv_path: Path | None, orders: pd.DataFrame | None = None,
                 events: pd.DataFrame | None = None, table: pd.DataFrame | None = None,
                 as_of: pd.Timestamp | None = None, home: str | None = None):
        paths = {f: p for f, p in (("churn", churn_path), ("cltv", cltv_path)) if p is not None}
        self.meta = {f: check_model(p, f) for f, p in paths.items()}
        self.families = tuple(paths)
        self.churn_meta, self.cltv_meta = self.meta.get("churn", {}), self.meta.get("cltv", {})
        if table is not None:  # scored before, by these models (serving.runtime.score_table)
            self.as_of = pd.Timestamp(table.attrs["as_of"])
            self.frame = table[list(FRAME_COLUMNS)]
            self.drivers = {f: Drivers.from_columns(table, f) for f in self.families}
        else:
            self.as_of = as_of if as_of is not None else day_after(orders)
            self._score(paths, orders, events, home)
        # The three numbers of score(), by the frame's row (a dict of tuples per customer held far
        # more, in every worker).
        self._scores = self.frame[["churn_probability", "predicted_cltv",
                                   "days_since_last_order"]].to_numpy(float)
        self.churn_horizon_days = int(self.churn_meta.get("horizon_days", 0))
        self.cltv_horizon_days = int(self.cltv_meta.get("horizon_days", 0))

    def to_table(self) -> pd.DataFrame:
        """:attr:`frame` and every family's :attr:`drivers` as one table indexed by customer id,
        what ``table`` gives back to the constructor."""
        columns = {k: v for f in self.families for k, v in self.drivers[f].to_columns(f).items()}
        table = pd.concat([self.frame, pd.DataFrame(columns, index=self.frame.index)], axis=1)
        table.attrs["as_of"] = self.as_of.isoformat()  # kept in a Parquet file's metadata
        return table

    def _score(self, paths: dict[str, Path], orders: pd.DataFrame, events: pd.DataFrame | None,
               home: str | None) -> None:
        """Build the features and score every customer: :attr:`frame` and the drivers' inputs."""
        history = History(orders, events)
        built: dict[str, pd.DataFrame] = {}
        preds, self._driver_inputs = {}, {}
        for family, path in paths.items():
            meta = self.meta[family]
            name = meta["feature_set"]
            if name not in built:
                built[name] = build_customer_features(history, self.as_of, feature_set=name, home=home)
            if meta.get("served_by", "LightGBM") != "LightGBM":  # a simple model beat LightGBM on validation
                preds[family], inputs = self._simple(meta, built[name], orders)
                self._driver_inputs[family] = (None, inputs)
                continue
            X = built[name][meta["feature_columns"]].to_numpy(float)
            booster = _booster(path / "model.lgb")
            # booster.predict on a numpy matrix: no sklearn wrapper, no feature-name checks.
            preds[family] = booster.predict(X)
            self._driver_inputs[family] = (booster, built[name], meta["feature_columns"])
        # Every feature set has recency_days; without a model, the default set's is built.
        features = next(iter(built.values()), None)
        if features is None:
            features = build_customer_features(history, self.as_of, home=home)
        n = len(features)
        calibration = self.churn_meta.get("calibration")
        if calibration and self.churn_meta.get("served_by", "LightGBM") == "LightGBM":
            # the piecewise-linear map training chose on its validation window
            preds["churn"] = np.interp(preds["churn"], calibration["x"], calibration["y"])
        self.frame = pd.DataFrame({
            "churn_probability": np.clip(preds.get("churn", np.full(n, np.nan)), 0.0, 1.0),
            "predicted_cltv": preds.get("cltv", np.full(n, np.nan)),
            "days_since_last_order": features["recency_days"].to_numpy()}, index=features.index)
        self.frame["risk_band"] = pd.cut(self.frame["churn_probability"], RISK_BANDS[0],
                                         labels=RISK_BANDS[1], include_lowest=True).astype(str)
        cltv_ranks(self.frame)
        self.frame["next_purchase_date"] = self._next_purchase(orders)

    def _simple(self, meta: dict, features: pd.DataFrame, orders: pd.DataFrame
                ) -> tuple[np.ndarray, pd.DataFrame]:
        """The simple model a churn or CLTV artifact serves (``served_by``), as training's
        baselines compute it (training/jobs/customers.py: recency alone through a map to a
        probability, BG/NBD's P(no purchase in the horizon) through its calibration map, or
        the net spend of the last horizon), and the input it ranks by, per customer."""
        name, horizon = meta["served_by"], int(meta["horizon_days"])
        if name == "recency alone":
            score = features["recency_days"].to_numpy(float)
        elif name == "BG/NBD":
            bg = meta["bgnbd"]
            x, _, big_t, alive = self._bgnbd(bg, orders, features.index)
            t = horizon / bg["time_unit_days"]
            score = (1 - alive + alive * ((bg["alpha"] + big_t) / (bg["alpha"] + big_t + t)) ** (bg["r"] + x)
                     ).to_numpy(float)
        elif name == "BG/NBD + Gamma-Gamma":
            score = self._bgnbd_value(meta, features.index, orders, horizon)
        elif name == "last-period spend":
            recent = orders[orders["timestamp"] >= self.as_of - pd.Timedelta(days=horizon)]
            score = (recent.groupby("customer_id")["revenue"].sum().reindex(features.index, fill_value=0.0)
                     .clip(lower=0).to_numpy(float))
        else:
            raise ValueError(f"{meta['task']} artifact: cannot serve {name!r}")
        mapping = meta.get("served_calibration")
        value = np.interp(score, mapping["x"], mapping["y"]) if mapping else score
        return value, pd.DataFrame({name: score}, index=features.index)

    def _bgnbd_value(self, meta: dict, index: pd.Index, orders: pd.DataFrame, horizon: int) -> np.ndarray:
        """BG/NBD's expected purchases in the horizon (Fader, Hardie & Lee 2005, equation 10)
        times Gamma-Gamma's expected spend (Fader, Hardie & Lee 2005, "RFM and CLV"), as
        training/btyd.py's ``expected_clv`` gives it undiscounted: over the whole time units
        (weeks) within the horizon."""
        from scipy.special import hyp2f1

        bg, gg = meta["bgnbd"], meta["gammagamma"]
        x, _, big_t, alive = self._bgnbd(bg, orders, index)
        x, big_t = x.to_numpy(float), big_t.to_numpy(float)
        r, alpha, a, b = bg["r"], bg["alpha"], bg["a"], bg["b"]
        t = float(np.floor(horizon / bg["time_unit_days"] + 1e-9))
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + big_t + t))
        purchases = (a + b + x - 1) / (a - 1) * (1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp)
        summary = build_rfm_summary(orders, self.as_of, bg["time_unit_days"]).reindex(index)
        m = summary["monetary_value"].where(summary["frequency"] > 0, 0.0).to_numpy(float)
        spend = (gg["gamma"] + m * x) * gg["p"] / (gg["p"] * x + gg["q"] - 1)
        return purchases * alive * spend

    def _bgnbd(self, bg: dict, orders: pd.DataFrame, index: pd.Index
               ) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
        """Each scored customer's repeat purchases x, recency t_x and age T in BG/NBD's time
        unit, and P(alive) (Fader, Hardie & Lee 2005, equation A.10)."""
        summary = build_rfm_summary(orders, self.as_of, bg["time_unit_days"]).reindex(index)
        x, t_x, big_t = summary["frequency"], summary["recency"], summary["T"]
        r, alpha, a, b = bg["r"], bg["alpha"], bg["a"], bg["b"]
        odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-300)
                        * ((alpha + big_t) / (alpha + t_x)) ** (r + x), 0)
        return x, t_x, big_t, 1 / (1 + odds)

    def require(self, families: tuple[str, ...], what: str) -> None:
        """Raise :class:`~serving.runtime.registry.MissingFamilyError` naming those of
        ``families`` that have no model here."""
        missing = [f for f in families if f not in self.families]
        if missing:
            raise MissingFamilyError(missing, what)

    @functools.cached_property
    def drivers(self) -> dict[str, Drivers]:
        """:class:`Drivers` per family, computed on first use: LightGBM's feature
        contributions for every customer take about 2 s, which the marketers' commands
        (segments, offers, the report) never need; the service computes them at load."""
        return {family: Drivers.shap(*inputs) if inputs[0] is not None else Drivers.of_input(inputs[1])
                for family, inputs in self._driver_inputs.items()}

    def _next_purchase(self, orders: pd.DataFrame) -> pd.Series:
        """Expected date of each customer's next purchase from the churn model's BG/NBD
        parameters (Fader, Hardie & Lee 2005); NaT when the customer is more likely gone.

        While alive, the purchase rate given the history is ``Gamma(r + x, alpha + T)``, so
        the median wait is ``(alpha + T) * (2 ** (1 / (r + x)) - 1)``. A customer whose
        P(alive) is below one half gets no date, nor does one whose wait is longer than the
        shop's history (the longest ``T``): that is extrapolation, and where few customers
        come back (small ``r``) a one-time buyer's wait runs to centuries. These closed forms
        are the artifact's contract with ``training/btyd.py``, which serving may not import.
        """
        bg = self.churn_meta.get("bgnbd")
        if not bg:
            return pd.Series(pd.NaT, index=self.frame.index)
        x, t_x, big_t, alive = self._bgnbd(bg, orders, self.frame.index)
        r, alpha = bg["r"], bg["alpha"]
        wait = (alpha + big_t) * (2 ** (1 / (r + x)) - 1)
        dated = (alive >= 0.5) & (wait <= big_t.max())
        days = (wait * bg["time_unit_days"]).where(dated, 0).round()
        return (self.as_of + pd.to_timedelta(days, unit="D")).where(dated)

    def score(self, customer_id: str) -> tuple[float, float, float] | None:
        """(churn probability, predicted net revenue, days since last order), or ``None``."""
        try:
            row = self.frame.index.get_loc(customer_id)
        except KeyError:
            return None
        return tuple(float(v) for v in self._scores[row])
