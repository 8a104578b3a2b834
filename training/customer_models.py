"""LightGBM churn classifier and CLTV regressor on stacked cutoff snapshots.

Both are trained on the training set of :func:`features.customer_features.build_training_set`:
the last cutoff is the validation window for early stopping, then the model is refit on
every cutoff with the number of rounds found. Models are saved as LightGBM's text format
plus a JSON description, never pickled.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from features import numerics
from features.artifacts import LGBM_FORMAT, check_model, write_checksums
from features.cluster import Cluster
from features.customer_features import (
    CHURNED,
    CUTOFF,
    DEFAULT_FEATURE_SET,
    FUTURE_REVENUE,
    get_feature_set,
)
from training import progress
from training.cluster_fit import fit_on_cluster
from training.metrics import normalized_gini

BOOSTER = "model.lgb"
META = "meta.json"

TASKS = {
    # task: (label column, LightGBM objective)
    "churn": (CHURNED, "binary"),
    # Tweedie handles the many zeros and the heavy tail of spend in one model.
    "cltv": (FUTURE_REVENUE, "tweedie"),
}


@dataclass
class CustomerModelParams:
    """Hyper-parameters shared by the churn and CLTV boosters.

    ``num_leaves`` and ``min_child_samples`` are the defaults; :meth:`CustomerModel.fit`
    picks among ``leaves_grid`` x ``min_child_grid`` on the validation cutoff.
    """

    learning_rate: float = 0.05
    num_leaves: int = 7
    min_child_samples: int = 40
    leaves_grid: tuple[int, ...] = (7, 15)
    min_child_grid: tuple[int, ...] = (40, 200)
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    seed: int = 0


class CustomerModel:
    """A LightGBM booster for one task (``"churn"`` or ``"cltv"``) on one feature set's columns."""

    def __init__(self, task: str = "churn", params: CustomerModelParams | None = None,
                 feature_set: str = DEFAULT_FEATURE_SET):
        self.task = task
        self.params = params
        self.feature_set = feature_set

    @property
    def columns(self) -> list[str]:
        return list(get_feature_set(self.feature_set).columns)

    def _lgb_params(self, num_leaves: int | None = None, min_child_samples: int | None = None) -> dict:
        p = self.params or CustomerModelParams()
        return {
            "objective": TASKS[self.task][1], "learning_rate": p.learning_rate,
            "num_leaves": num_leaves or p.num_leaves,
            "min_child_samples": min_child_samples or p.min_child_samples,
            **numerics.lightgbm_run(p.seed),
        }

    def fit(self, training_set: pd.DataFrame, horizon_days: int,
            cluster: Cluster | None = None) -> CustomerModel:
        """Tune on the last cutoff, then refit on all cutoffs.

        The validation rows are the last cutoff's; the probe models learn only from cutoffs
        whose label windows end by then (``cutoff + horizon_days <= last cutoff``). Earlier
        cutoffs' labels overlap the validation window: with them, validation rewarded
        memorising customers (it asked for 2,000+ rounds of 15 leaves, which did worse on
        later data). The tree size with the best validation score and its early-stopped
        number of rounds are refit on every cutoff.

        With a Dask ``cluster`` (:mod:`features.cluster`), each tree size's trial is one task
        and the final fit is LightGBM's data-parallel training over the workers
        (:func:`training.cluster_fit.fit_on_cluster`)."""
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {list(TASKS)}")
        p = self.params or CustomerModelParams()
        X, y = training_set[self.columns].to_numpy(float), task_labels(self.task, training_set)
        cutoff = training_set[CUTOFF]
        last = (cutoff == cutoff.max()).to_numpy()
        probe_rows = (cutoff + pd.Timedelta(days=horizon_days) <= cutoff.max()).to_numpy()
        self.calibration_, self.tuning_ = None, []
        self.num_leaves_, self.min_child_samples_ = p.num_leaves, p.min_child_samples
        self.validation_ = None  # (labels, raw predictions) of the validation cutoff's rows
        if not probe_rows.any():
            # Too little history for a clean validation window: modest defaults, uncalibrated.
            self.best_rounds_ = p.max_rounds // 20
        else:
            best = None
            grid = [(leaves, min_child) for leaves in p.leaves_grid for min_child in p.min_child_grid]
            trial = (X[probe_rows], y[probe_rows], X[last], y[last], p.max_rounds, p.early_stopping_rounds)
            if cluster is None:
                probes = []
                for leaves, min_child in progress.bar(grid, desc=f"{self.task}: tree sizes", unit="trial"):
                    with progress.bar(total=p.max_rounds, desc=f"{leaves} leaves, {min_child} per leaf",
                                      unit="round") as rounds:
                        probes.append(_trial(self._lgb_params(leaves, min_child), *trial,
                                             callbacks=[progress.lightgbm_rounds(rounds)]))
            else:
                client = cluster.client
                # Keys of their own: a later fit scattering equal arrays must not share these futures.
                shared = client.scatter(list(trial), broadcast=True, hash=False)
                probes = client.gather([client.submit(_trial, self._lgb_params(*size), *shared, pure=False)
                                        for size in grid])
            for (leaves, min_child), probe in zip(grid, probes, strict=True):
                raw = probe.predict(X[last], num_iteration=probe.best_iteration)
                score = float(np.nan_to_num(validation_score(self.task, y[last], raw)))
                self.tuning_.append({"num_leaves": leaves, "min_child_samples": min_child,
                                     "rounds": probe.best_iteration, "validation_score": score})
                if best is None or score > best[0]:
                    best = (score, leaves, min_child, max(probe.best_iteration, 1), raw, probe)
            _, self.num_leaves_, self.min_child_samples_, self.best_rounds_, raw, probe = best
            self.validation_ = (y[last], raw)
            if self.task == "churn":
                self.calibration_ = self._checked_calibration(X, y, cutoff, last, probe_rows, probe, raw,
                                                              horizon_days)
        params = self._lgb_params(self.num_leaves_, self.min_child_samples_)
        if cluster is not None:
            kind = "classifier" if self.task == "churn" else "regressor"
            self.booster_ = fit_on_cluster(cluster, kind, params, self.best_rounds_, X, y)
            return self
        with progress.bar(total=self.best_rounds_, desc=f"{self.task}: final fit", unit="round") as rounds:
            self.booster_ = lgb.train(params, lgb.Dataset(X, y), num_boost_round=self.best_rounds_,
                                      callbacks=[progress.lightgbm_rounds(rounds)])
        return self

    def _checked_calibration(self, X: np.ndarray, y: np.ndarray, cutoff: pd.Series, last: np.ndarray,
                             probe_rows: np.ndarray, probe: lgb.Booster, raw: np.ndarray, horizon_days: int
                             ) -> dict:
        """The calibration map chosen on the validation cutoff, kept only when the same step,
        taken a horizon earlier, helped on the validation cutoff; else the identity.

        The map is fitted on the probe's scores at the validation cutoff and applied to the
        final model's a horizon later, in another season, so it is checked one step back: a
        probe of the chosen size learns from the cutoffs whose labels end by the probe's own
        last cutoff, is early-stopped there, and the map chosen on its scores there must
        lower the Brier score of this probe's scores on the validation cutoff. Where the
        history holds no such earlier probe (under about two horizons of cutoffs), a map
        fitted on this probe's scores at the cutoff before the validation one (not learnt
        from: its labels overlap validation) stands in.
        """
        p = self.params or CustomerModelParams()
        chosen = choose_calibration(raw, y[last], p.seed)
        if chosen["method"] == "none":
            return chosen
        back_cutoff = cutoff[probe_rows].max()
        at_back = (cutoff == back_cutoff).to_numpy()
        back_rows = (cutoff + pd.Timedelta(days=horizon_days) <= back_cutoff).to_numpy()
        if back_rows.any() and 0 < y[at_back].sum() < at_back.sum():
            earlier = _trial(self._lgb_params(self.num_leaves_, self.min_child_samples_), X[back_rows],
                             y[back_rows], X[at_back], y[at_back], p.max_rounds, p.early_stopping_rounds)
            fitted_on, step = back_cutoff, "a horizon back"
            scores = earlier.predict(X[at_back], num_iteration=earlier.best_iteration)
        else:
            unseen = cutoff[~probe_rows & ~last]
            if not len(unseen):
                return chosen
            fitted_on, step = unseen.max(), "the cutoff before"
            at_back = (cutoff == fitted_on).to_numpy()
            scores = probe.predict(X[at_back], num_iteration=probe.best_iteration)
        kept, check = out_of_time_check(raw, y[last], scores, y[at_back], p.seed)
        check = {"fitted_on": str(fitted_on.date()), "step": step, **check}
        return {**(chosen if kept else identity_calibration()), "out_of_time": check}

    def predict(self, features: pd.DataFrame, calibrated: bool = True) -> np.ndarray:
        """Churn probability (calibrated unless asked not to) or expected revenue per row."""
        raw = self.booster_.predict(features[self.columns].to_numpy(float))
        if calibrated and getattr(self, "calibration_", None):
            return calibrate(raw, self.calibration_)
        return raw

    def match_level(self, features: pd.DataFrame, target_mean: float, **note) -> float:
        """Shift the calibration map in log-odds so the mean churn probability of the
        customers in ``features`` is ``target_mean``; returns the shift.

        The ranking is unchanged. This is prior-shift adjustment (Saerens, Latinne &
        Decaestecker 2002, eq. 2.4, with the new prior given rather than estimated by EM):
        the target comes from a second model whose features look back only as far as the
        data reaches at every training cutoff, and so mean the same at each of them.
        ``note`` is stored beside the shift in the map's ``level``.
        """
        raw = self.predict(features, calibrated=False)
        x, y = self.calibration_["x"], self.calibration_["y"]
        shift = logit_shift(lambda t: calibrate(raw, {"x": x, "y": _shifted(y, t)}), target_mean)
        self.calibration_ = {**self.calibration_, "y": _shifted(y, shift).tolist(),
                             "level": {"shift": shift, "target_mean": target_mean, **note}}
        return shift

    def save(self, path: Path, extra_meta: dict) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(path / BOOSTER))
        meta = {
            "format": LGBM_FORMAT, "task": self.task, "feature_set": self.feature_set,
            "feature_columns": self.columns, "best_rounds": self.best_rounds_,
            "calibration": getattr(self, "calibration_", None),
            "params": asdict(self.params or CustomerModelParams()), **extra_meta,
        }
        (path / META).write_text(json.dumps(meta, indent=2, default=str))
        write_checksums(path)

    @classmethod
    def load(cls, path: Path, task: str) -> tuple[CustomerModel, dict]:
        meta = check_model(path, task)
        model = cls(meta["task"], CustomerModelParams(**meta["params"]), meta["feature_set"])
        model.booster_ = lgb.Booster(model_file=str(path / BOOSTER))
        model.best_rounds_ = meta["best_rounds"]
        model.calibration_ = meta.get("calibration")
        return model, meta


def task_labels(task: str, rows: pd.DataFrame) -> np.ndarray:
    """What a model of ``task`` learns and is validated on: the churn label, or the future
    revenue clipped at zero (Tweedie needs non-negative targets; net losses are rare)."""
    y = rows[TASKS[task][0]].to_numpy(float)
    return np.clip(y, 0.0, None) if task == "cltv" else y


def _trial(params: dict, X: np.ndarray, y: np.ndarray, X_valid: np.ndarray, y_valid: np.ndarray,
           max_rounds: int, stopping_rounds: int, callbacks: list | None = None) -> lgb.Booster:
    """One tree size's trial: trained until the validation rows stop improving."""
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=max_rounds,
                     valid_sets=[lgb.Dataset(X_valid, y_valid)],
                     callbacks=[lgb.early_stopping(stopping_rounds, verbose=False), *(callbacks or [])])


def validation_score(task: str, y: np.ndarray, pred: np.ndarray) -> float:
    """ROC-AUC for churn, normalized Gini for CLTV: the metrics docs/results.md reports; NaN
    where the labels leave it undefined (one class, or no revenue)."""
    from sklearn.metrics import roc_auc_score

    if task == "churn":
        return float(roc_auc_score(y, pred)) if 0 < y.sum() < len(y) else float("nan")
    return normalized_gini(y, pred) if y.sum() > 0 else float("nan")


CALIBRATION_GRID = np.linspace(0.0, 1.0, 201)
# How far a calibration map may move a probability so that it rises strictly (see _increasing).
ORDER_RAMP = 1e-4


def identity_calibration() -> dict:
    """The map that leaves probabilities as they are (``"method": "none"``)."""
    return {"method": "none", "x": CALIBRATION_GRID.tolist(), "y": CALIBRATION_GRID.tolist()}


def choose_calibration(p: np.ndarray, y: np.ndarray, seed: int = 0) -> dict:
    """Isotonic regression or Platt scaling, whichever has the lower held-out Brier score, or
    the identity (``"method": "none"``) when the scores as they are score lower than both.

    Zadrozny & Elkan (2002), "Transforming classifier scores into accurate multiclass
    probability estimates"; Platt (1999). Both are compared by 2-fold cross-validation on
    the validation window's predictions ``p`` and labels ``y``; the winner is refitted on all
    of them. Either is stored as a piecewise-linear map on :data:`CALIBRATION_GRID`
    (``{"method", "x", "y"}``), which ``np.interp`` applies with no library at serving time.
    """
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    def logit(v):
        v = np.clip(v, 1e-6, 1 - 1e-6)
        return np.log(v / (1 - v))[:, None]

    def fit(method, pp, yy):
        if method == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(pp, yy)
            return iso.predict
        lr = LogisticRegression(C=1e6).fit(logit(pp), yy)
        return lambda v: lr.predict_proba(logit(v))[:, 1]

    fold = np.random.default_rng(seed).random(len(p)) < 0.5
    brier = {}
    for method in ("isotonic", "platt"):
        errors = []
        for train in (fold, ~fold):
            f = fit(method, p[train], y[train])
            errors.append(np.mean((f(p[~train]) - y[~train]) ** 2))
        brier[method] = float(np.mean(errors))
    method = min(brier, key=brier.get)
    if p.min() >= 0 and p.max() <= 1 and np.mean((p - y) ** 2) <= brier[method]:
        # Calibrated already: a map fitted on these rows would only add their noise.
        return {**identity_calibration(), "validation_brier": {**brier, "none": float(np.mean((p - y) ** 2))}}
    mapping = fit(method, p, y)
    return {"method": method, "x": CALIBRATION_GRID.tolist(),
            "y": _increasing(mapping(CALIBRATION_GRID)),
            "validation_brier": brier}


def monotone_map(score: np.ndarray, y: np.ndarray, points: int = 201) -> dict:
    """P(churn) as an increasing function of a score on any scale (days since the last
    order, say): isotonic regression (Zadrozny & Elkan 2002) stored, as the calibration maps
    are, as a piecewise-linear map on ``points`` quantiles of the score."""
    from sklearn.isotonic import IsotonicRegression

    grid = np.unique(np.quantile(score, np.linspace(0, 1, points)))
    # Customers scored later may lie outside the scores seen (a later cutoff's longest absence):
    # a point far out on each side keeps them in order rather than tied at the ends.
    far = 100 * (grid[-1] - grid[0] + 1)
    grid = np.concatenate([[grid[0] - far], grid, [grid[-1] + far]])
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(score, y)
    return {"method": "isotonic", "x": grid.tolist(), "y": _increasing(iso.predict(grid))}


def _increasing(y: np.ndarray) -> list[float]:
    """A map's values made to rise strictly. A calibration map sets the level, not the order:
    isotonic regression's flat steps would tie customers the score tells apart, and a list of
    the likeliest churners would then cut through a tie in no meaningful order. A ramp of at
    most :data:`ORDER_RAMP` keeps the score's order and stays within [0, 1]."""
    y = np.maximum.accumulate(np.asarray(y, float))
    return (y * (1 - ORDER_RAMP) + ORDER_RAMP * np.linspace(0.0, 1.0, len(y))).tolist()


class TwoPartCLTV:
    """CLTV as P(any purchase in the horizon) x expected spend of those who buy.

    The hurdle model of Cragg (1971): a LightGBM classifier for whether a customer buys and
    a LightGBM regressor (gamma objective, for positive skewed amounts) for how much, on the
    customers who did. The registered CLTV model is the one-part Tweedie booster; this is
    reported beside it for comparison.
    """

    def __init__(self, params: CustomerModelParams | None = None, feature_set: str = DEFAULT_FEATURE_SET):
        self.params = params or CustomerModelParams()
        self.feature_set = feature_set

    def fit(self, training_set: pd.DataFrame) -> TwoPartCLTV:
        columns = list(get_feature_set(self.feature_set).columns)
        X = training_set[columns].to_numpy(float)
        spend = training_set[FUTURE_REVENUE].to_numpy(float)
        bought = spend > 0
        p = self.params
        base = {"learning_rate": p.learning_rate, "num_leaves": p.num_leaves,
                "min_child_samples": p.min_child_samples, **numerics.lightgbm_run(p.seed)}
        rounds = 100  # no early stopping here: a fixed, modest size
        self.buy_ = lgb.train({**base, "objective": "binary"}, lgb.Dataset(X, bought.astype(float)), rounds)
        self.spend_ = lgb.train({**base, "objective": "gamma"}, lgb.Dataset(X[bought], spend[bought]), rounds)
        self.columns_ = columns
        return self

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        X = features[self.columns_].to_numpy(float)
        return self.buy_.predict(X) * self.spend_.predict(X)


def out_of_time_check(p: np.ndarray, y: np.ndarray, earlier: np.ndarray, earlier_y: np.ndarray,
                      seed: int = 0) -> tuple[bool, dict]:
    """Whether a map chosen on earlier scores and labels (:func:`choose_calibration`) lowers the
    Brier score of scores ``p`` on labels ``y``: how a map that is applied out of time is judged.
    Returns the answer and ``{"method", "brier_mapped", "brier_raw"}``."""
    before = choose_calibration(earlier, earlier_y, seed)
    mapped = float(np.mean((calibrate(p, before) - y) ** 2))
    as_is = float(np.mean((p - y) ** 2))
    return mapped < as_is, {"method": before["method"], "brier_mapped": mapped, "brier_raw": as_is}


def calibrate(raw: np.ndarray, mapping: dict) -> np.ndarray:
    """Raw churn scores through a stored calibration map (``{"x", "y"}``, piecewise linear)."""
    return np.interp(raw, mapping["x"], mapping["y"])


def _shifted(p: np.ndarray, shift: float) -> np.ndarray:
    """Probabilities ``p`` moved by ``shift`` in log-odds."""
    p = np.clip(np.asarray(p, float), 1e-9, 1 - 1e-9)
    return 1.0 / (1.0 + np.exp(-(np.log(p / (1 - p)) + shift)))


def logit_shift(predict, target_mean: float) -> float:
    """The log-odds shift ``t`` with ``predict(t).mean() == target_mean`` (Brent's root finder).

    ``predict(t)`` must give probabilities that rise with ``t``. The answer is clipped to
    +-10, where every probability is already at 0 or 1 for practical purposes.
    """
    from scipy.optimize import brentq

    gap = lambda t: float(np.mean(predict(t))) - target_mean  # noqa: E731
    if gap(-10.0) >= 0:
        return -10.0
    if gap(10.0) <= 0:
        return 10.0
    return float(brentq(gap, -10.0, 10.0, xtol=1e-6))
