"""Plain-Python runtime objects the service calls; tests build them directly.

They read the registered artifact files (``.npz``, LightGBM text, JSON), whose formats
are the contract with ``training``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.customer_features import History, build_customer_features, build_rfm_summary, get_feature_set
from features.purchase_history import (
    CANDIDATE_FEATURES,
    RANKER_FEATURE_SET,
    PurchaseHistory,
    candidate_features,
)

RECS_FORMAT = "shelfwise-recs-v1"
BLENDED_FORMAT = "shelfwise-recs-v2"
LGBM_FORMAT = "shelfwise-lgbm-v1"


class IncompatibleModelError(ValueError):
    """An artifact this code cannot serve (unknown format or feature set)."""


def _meta(path: Path, expected_format: str) -> dict:
    meta_file = path / "meta.json"
    if not meta_file.exists():
        raise IncompatibleModelError(f"{path}: no meta.json; not a shelfwise model")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != expected_format:
        raise IncompatibleModelError(
            f"{path}: model format {meta.get('format')!r}, this service reads {expected_format!r}")
    return meta


@dataclass
class Recommendation:
    item_id: str
    title: str
    score: float


class _CatalogueRuntime:
    """What both recommender runtimes share: item ids, titles and the popularity fallback."""

    item_ids: list[str]
    titles: list[str]
    popularity: np.ndarray

    def _set_catalogue(self, item_ids: list[str], titles: list[str], popularity: np.ndarray) -> None:
        self.item_ids, self.titles, self.popularity = item_ids, titles, popularity
        self.popular = np.argsort(-popularity, kind="stable")

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def _items(self, columns, scores) -> list[Recommendation]:
        return [Recommendation(self.item_ids[i], self.titles[i], float(sc))
                for i, sc in zip(columns, scores, strict=True)]

    def _popular(self, k: int) -> tuple[list[Recommendation], bool]:
        top = self.popular[:k]
        return self._items(top, self.popularity[top]), True


class RecommenderRuntime(_CatalogueRuntime):
    """Top-k from ALS factors for known customers, popular items for everyone else.

    Reads the older ``shelfwise-recs-v1`` artifacts; it cannot leave out purchased items,
    so it ignores ``include_purchased``.
    """

    source = "als"

    def __init__(self, path: Path):
        self.meta = _meta(path, RECS_FORMAT)
        arrays = np.load(path / "model.npz", allow_pickle=False)
        self.user_factors = np.ascontiguousarray(arrays["user_factors"])
        self.item_factors_t = np.ascontiguousarray(arrays["item_factors"].T)
        self._set_catalogue(arrays["item_ids"].tolist(), arrays["item_titles"].tolist(), arrays["popularity"])
        self.user_index = {u: i for i, u in enumerate(arrays["user_ids"].tolist())}

    def recommend(self, user_id: str, k: int, include_purchased: bool = True
                  ) -> tuple[list[Recommendation], bool]:
        """Ranked items for ``user_id`` and whether they came from the popularity fallback."""
        k = min(k, self.n_items)
        row = self.user_index.get(user_id)
        if row is None:
            return self._popular(k)
        all_scores = self.user_factors[row] @ self.item_factors_t
        part = np.argpartition(-all_scores, k - 1)[:k]
        top = part[np.argsort(-all_scores[part], kind="stable")]
        return self._items(top, all_scores[top]), False


class BlendedRuntime(_CatalogueRuntime):
    """The blended "for you" list: own items and EASE candidates, ordered by the ranker.

    Candidate features come from :func:`features.purchase_history.candidate_features`, the
    function training used, on the purchase history frozen at the model's ``as_of``.
    Customers the model does not know get popular items. A list shorter than ``k`` (a
    customer with few candidates) is filled with popular items not already in it.
    """

    source = "blended"

    def __init__(self, path: Path):
        self.meta = _meta(path, BLENDED_FORMAT)
        if self.meta.get("features") != list(CANDIDATE_FEATURES):
            raise IncompatibleModelError(
                f"{path}: ranker trained on features {self.meta.get('feature_set')!r} that differ from "
                f"this service's {RANKER_FEATURE_SET!r}; retrain recs with the current code")
        arrays = dict(np.load(path / "model.npz", allow_pickle=False))
        self.history = PurchaseHistory.from_arrays(arrays)
        self.item_weights = np.ascontiguousarray(arrays["item_weights"])
        self.booster = lgb.Booster(model_file=str(path / "ranker.lgb"))
        self.n_new = int(self.meta["params"]["n_new"])
        self._set_catalogue(self.history.items.ids.tolist(), arrays["item_titles"].tolist(),
                            arrays["popularity"])

    def recommend(self, user_id: str, k: int, include_purchased: bool = True
                  ) -> tuple[list[Recommendation], bool]:
        """Ranked items for ``user_id`` and whether they came from the popularity fallback."""
        k = min(k, self.n_items)
        row = self.history.users.indices([user_id])[0]
        if row < 0:
            return self._popular(k)
        _, items, X = candidate_features(self.history, self.item_weights, np.array([row]),
                                         n_new=max(self.n_new, k), include_purchased=include_purchased)
        # booster.predict on a numpy matrix: no sklearn wrapper, no feature-name checks.
        scores = self.booster.predict(X) if len(X) else np.zeros(0)
        best = np.argsort(-scores, kind="stable")[:k]
        out = self._items(items[best], scores[best])
        if len(out) < k:
            taken = set(items[best].tolist())
            if not include_purchased:
                taken |= set(self.history.orders[row].indices.tolist())
            fill = [i for i in self.popular if i not in taken][: k - len(out)]
            floor = min((r.score for r in out), default=0.0)
            out += [Recommendation(self.item_ids[i], self.titles[i], floor - 1.0 - j)
                    for j, i in enumerate(fill)]
        return out, False


def load_recommender(path: Path) -> RecommenderRuntime | BlendedRuntime:
    """The runtime for the artifact's format; :class:`IncompatibleModelError` if none reads it."""
    meta = path / "meta.json"
    fmt = json.loads(meta.read_text()).get("format") if meta.exists() else None
    return BlendedRuntime(path) if fmt == BLENDED_FORMAT else RecommenderRuntime(path)


RISK_BANDS = ([0.0, 0.3, 0.6, 1.0], ["low", "medium", "high"])
N_DRIVERS = 3


def _top_drivers(path: Path, features: pd.DataFrame, columns: list[str]) -> dict[str, list[dict]]:
    """Each customer's ``N_DRIVERS`` largest LightGBM feature contributions (SHAP values).

    Lundberg et al. (2020), "From local explanations to global understanding with explainable
    AI for trees"; LightGBM's ``pred_contrib``. Contributions are on the model's raw scale
    (log-odds for churn, log of spend for CLTV); the sign says which way they push.
    """
    X = features[columns].to_numpy(float)
    contrib = lgb.Booster(model_file=str(path / "model.lgb")).predict(X, pred_contrib=True)[:, :-1]
    top = np.argsort(-np.abs(contrib), axis=1)[:, :N_DRIVERS]
    return {c: [{"feature": columns[j], "value": None if np.isnan(X[r, j]) else float(X[r, j]),
                 "contribution": float(contrib[r, j])} for j in top[r]]
            for r, c in enumerate(features.index)}


class CustomerScorer:
    """Churn probability and predicted CLTV for every customer, scored once at load.

    Features are built from the workspace's orders (and events, when there are any) as of
    the day after the last order, with the builder of the feature set each model records.
    A model whose feature set this code cannot build is refused.
    """

    def __init__(self, churn_path: Path, cltv_path: Path, orders: pd.DataFrame,
                 events: pd.DataFrame | None = None):
        self.churn_meta = _meta(churn_path, LGBM_FORMAT)
        self.cltv_meta = _meta(cltv_path, LGBM_FORMAT)
        for meta, path in ((self.churn_meta, churn_path), (self.cltv_meta, cltv_path)):
            try:
                columns = get_feature_set(meta.get("feature_set")).columns
            except KeyError as exc:
                raise IncompatibleModelError(
                    f"{path}: {exc.args[0]}; retrain with the current code") from None
            if list(columns) != meta.get("feature_columns"):
                raise IncompatibleModelError(
                    f"{path}: feature set {meta['feature_set']!r} had other columns at training time; "
                    "retrain with the current code")
        self.as_of = (orders["timestamp"].max() + pd.Timedelta(days=1)).normalize()
        history = History(orders, events)
        built: dict[str, pd.DataFrame] = {}
        preds = []
        for meta, path in ((self.churn_meta, churn_path), (self.cltv_meta, cltv_path)):
            name = meta["feature_set"]
            if name not in built:
                built[name] = build_customer_features(history, self.as_of, feature_set=name)
            X = built[name][meta["feature_columns"]].to_numpy(float)
            # booster.predict on a numpy matrix: no sklearn wrapper, no feature-name checks.
            preds.append(lgb.Booster(model_file=str(path / "model.lgb")).predict(X))
        features = built[self.churn_meta["feature_set"]]  # every feature set has recency_days
        calibration = self.churn_meta.get("calibration")
        if calibration:  # the piecewise-linear map training chose on its validation window
            preds[0] = np.interp(preds[0], calibration["x"], calibration["y"])
        self.frame = pd.DataFrame({
            "churn_probability": np.clip(preds[0], 0.0, 1.0), "predicted_cltv": preds[1],
            "days_since_last_order": features["recency_days"].to_numpy()}, index=features.index)
        self.frame["risk_band"] = pd.cut(self.frame["churn_probability"], RISK_BANDS[0],
                                         labels=RISK_BANDS[1], include_lowest=True).astype(str)
        # CLTV decile among all scored customers: 1 = the top 10%.
        rank = self.frame["predicted_cltv"].rank(ascending=False, method="first") / len(self.frame)
        self.frame["cltv_decile"] = np.minimum(np.ceil(rank * 10), 10).astype(int)
        self.frame["cltv_tier"] = np.select([rank <= 0.01, rank <= 0.05, rank <= 0.10],
                                            ["top 1%", "top 5%", "top 10%"], "other")
        self.frame["next_purchase_date"] = self._next_purchase(orders)
        self.drivers = {
            family: _top_drivers(path, built[meta["feature_set"]], meta["feature_columns"])
            for family, meta, path in (("churn", self.churn_meta, churn_path),
                                       ("cltv", self.cltv_meta, cltv_path))}
        self.scores = {c: (float(p), float(v), float(r)) for c, p, v, r in zip(
            self.frame.index, self.frame["churn_probability"], self.frame["predicted_cltv"],
            self.frame["days_since_last_order"], strict=True)}
        self.churn_horizon_days = int(self.churn_meta["horizon_days"])
        self.cltv_horizon_days = int(self.cltv_meta["horizon_days"])

    def _next_purchase(self, orders: pd.DataFrame) -> pd.Series:
        """Expected date of each customer's next purchase from the churn model's BG/NBD
        parameters (Fader, Hardie & Lee 2005); NaT when the customer is more likely gone.

        While alive, the purchase rate given the history is ``Gamma(r + x, alpha + T)``, so
        the median wait is ``(alpha + T) * (2 ** (1 / (r + x)) - 1)``. A customer whose
        P(alive) is below one half gets no date. These closed forms are the artifact's
        contract with ``training/btyd.py``, which serving may not import.
        """
        bg = self.churn_meta.get("bgnbd")
        if not bg:
            return pd.Series(pd.NaT, index=self.frame.index)
        summary = build_rfm_summary(orders, self.as_of, bg["time_unit_days"]).reindex(self.frame.index)
        x, t_x, big_t = summary["frequency"], summary["recency"], summary["T"]
        r, alpha, a, b = bg["r"], bg["alpha"], bg["a"], bg["b"]
        odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-300)
                        * ((alpha + big_t) / (alpha + t_x)) ** (r + x), 0)
        alive = 1 / (1 + odds)
        wait = (alpha + big_t) * (2 ** (1 / (r + x)) - 1) * bg["time_unit_days"]
        dates = self.as_of + pd.to_timedelta(wait.round(), unit="D")
        return dates.where(alive >= 0.5)

    def score(self, customer_id: str) -> tuple[float, float, float] | None:
        """(churn probability, predicted net revenue, days since last order), or ``None``."""
        return self.scores.get(customer_id)
