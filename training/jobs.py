"""Training jobs: fit on data before ``as_of``, evaluate after it, log, register, promote.

A new version becomes ``champion`` when there is none yet or when it beats the current
champion on the same evaluation: the champion is downloaded and scored on the new test
window, so the two numbers compared always come from the same data. Otherwise the new
version is ``challenger``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from features import schema as s
from features.customer_features import (
    CHURNED,
    DEFAULT_FEATURE_SET,
    FUTURE_REVENUE,
    History,
    build_labels,
    build_training_set,
    monthly_cutoffs,
)
from features.interactions import build_interactions, purchases_in_window
from features.workspace import Workspace
from training import plots, registry
from training.customer_models import CustomerModel
from training.metrics import normalized_gini, ranking_report
from training.recommenders import ALSRecommender

PRIMARY_METRIC = {"recs": "ndcg_at_10", "churn": "roc_auc", "cltv": "normalized_gini"}
DEFAULT_HORIZON_DAYS = {"churn": 90, "cltv": 180}
INTERACTIONS_FEATURE_SET = "interactions_orders_v1"
CURVE_KS = (1, 5, 10, 20)


@dataclass
class TrainResult:
    """What a training job did, printed by the CLI and returned to callers."""

    family: str
    version: str
    run_id: str
    metrics: dict[str, float]
    baseline_name: str
    baseline: dict[str, float]
    promoted: bool
    reason: str
    window: str
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"[{self.family}] registered {registry.MODEL_NAMES[self.family]} "
               f"version {self.version} (run {self.run_id}); {self.window}"]
        if self.metrics:
            out.append(f"  {'metric':<22}{'model':>12}{self.baseline_name:>24}")
            for k, v in self.metrics.items():
                b = self.baseline.get(k)
                out.append(f"  {k:<22}{v:>12.4f}{(f'{b:.4f}' if b is not None else '-'):>24}")
        out += [f"  note: {n}" for n in self.notes]
        out.append(f"  alias: {'champion' if self.promoted else 'challenger'} ({self.reason})")
        return out


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _promote(client, family: str, version: str, new_score: float | None,
             champion_score: Callable[[Path], float] | None) -> tuple[bool, str]:
    metric = PRIMARY_METRIC[family]
    with registry.scratch_dir() as tmp:
        current = registry.champion_dir(client, family, Path(tmp))
        if current is None:
            registry.set_alias(client, family, registry.CHAMPION, version)
            return True, "no champion yet"
        path, old_version = current
        if new_score is None or champion_score is None:
            registry.set_alias(client, family, registry.CHALLENGER, version)
            return False, f"no test window to compare with champion v{old_version}"
        try:
            old_score = champion_score(path)
        except (ValueError, KeyError, OSError) as exc:
            old_score, note = float("-inf"), f"; champion v{old_version} cannot be scored: {exc}"
        else:
            note = ""
        if new_score > old_score:
            registry.set_alias(client, family, registry.CHAMPION, version)
            return True, f"{metric} {new_score:.4f} beats champion v{old_version}'s {old_score:.4f}{note}"
        registry.set_alias(client, family, registry.CHALLENGER, version)
        return False, f"{metric} {new_score:.4f} does not beat champion v{old_version}'s {old_score:.4f}"


def _ids_recommend(path: Path, customer_ids: list[str], k: int) -> dict[str, list[str]]:
    """Top-k item ids per customer from a saved recommender; unknown customers get popular items."""
    model, arrays, _ = ALSRecommender.load(path)
    index = {u: i for i, u in enumerate(arrays["user_ids"])}
    known = [c for c in customer_ids if c in index]
    ids, _ = model.recommend(np.array([index[c] for c in known], dtype=np.int64), k=k)
    out = {c: list(arrays["item_ids"][row]) for c, row in zip(known, ids, strict=True)}
    popular = list(arrays["item_ids"][model.popularity_.order_[:k]])
    return {c: out.get(c, popular) for c in customer_ids}


def train_recs(ws: Workspace, orders: pd.DataFrame, items: pd.DataFrame, as_of: pd.Timestamp,
               k: int = 10, log: Callable[[str], None] = print) -> TrainResult:
    """Fit ALS on purchases before ``as_of``; test on all later purchases of known customers."""
    client = registry.connect(ws)
    t0 = time.perf_counter()
    matrix, users, item_index = build_interactions(orders, as_of)
    log(f"[recs] interactions before {as_of.date()}: {len(users):,} customers x "
        f"{len(item_index):,} items, {matrix.nnz:,} pairs")
    model = ALSRecommender().fit(matrix)
    log(f"[recs] ALS fitted in {time.perf_counter() - t0:.1f}s")
    titles = items.set_index(s.ITEM_ID)[s.TITLE].reindex(item_index.ids).fillna("").to_numpy()
    truth = {c: v for c, v in purchases_in_window(orders, as_of).items() if c in users}
    data_end = orders[s.TIMESTAMP].max()
    window = f"train < {as_of.date()}, test {as_of.date()}..{data_end.date()}"
    metrics, baseline, notes = {}, {}, []
    with registry.scratch_dir() as tmp:
        model_dir = Path(tmp) / "model"
        model.save(model_dir, users.ids, item_index.ids, titles, {
            "feature_set": INTERACTIONS_FEATURE_SET, "as_of": as_of.isoformat()})
        plot_files = []
        if truth:
            recs = _ids_recommend(model_dir, list(truth), max(CURVE_KS))
            # ALS.fit already fitted the popularity baseline on the same matrix.
            top = list(item_index.ids[model.popularity_.order_[:max(CURVE_KS)]])
            popular = {c: top for c in truth}
            metrics = ranking_report(recs, truth, k)
            baseline = ranking_report(popular, truth, k)
            curves = {name: {kk: ranking_report(r, truth, kk)[f"ndcg_at_{kk}"] for kk in CURVE_KS}
                      for name, r in (("ALS", recs), ("popularity", popular))}
            plot_files.append(plots.metric_by_k(curves, "NDCG", Path(tmp) / "ndcg_by_k.png"))
            notes.append(f"test users: {len(truth):,} customers seen before {as_of.date()} "
                         "who bought in the test window; purchased items not filtered")
        else:
            notes.append("no purchases after as_of: model registered without test metrics")
        run_id, version = registry.log_and_register(
            client, ws, "recs", model_dir, params=model.get_params(),
            metrics={**metrics, **{f"baseline_popularity_{m}": v for m, v in baseline.items()}},
            tags={"as_of": str(as_of.date()), "window": window,
                  "feature_set": INTERACTIONS_FEATURE_SET,
                  "data_digest": _digest(ws.table_path("orders"))},
            run_name=f"als as_of={as_of.date()}", plots=plot_files)
    promoted, reason = _promote(
        client, "recs", version, metrics.get(PRIMARY_METRIC["recs"]),
        (lambda p: ranking_report(_ids_recommend(p, list(truth), k), truth, k)["ndcg_at_10"])
        if truth else None)
    return TrainResult("recs", version, run_id, metrics, "popularity", baseline, promoted,
                       reason, window, notes)


def _customer_metrics(task: str, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    if task == "churn":
        return {"roc_auc": roc_auc_score(y, pred), "pr_auc": average_precision_score(y, pred),
                # A baseline scored by recency (days) is a ranking, not a probability: no Brier.
                "brier": brier_score_loss(y, pred) if pred.max() <= 1 else np.nan}
    return {"normalized_gini": normalized_gini(y, pred), "mae": float(np.mean(np.abs(y - pred))),
            "total_revenue_error": float((pred.sum() - y.sum()) / y.sum())}


def train_customer_model(ws: Workspace, orders: pd.DataFrame, task: str, as_of: pd.Timestamp,
                         horizon_days: int | None = None, n_cutoffs: int = 6,
                         log: Callable[[str], None] = print, events: pd.DataFrame | None = None,
                         feature_set: str = DEFAULT_FEATURE_SET) -> TrainResult:
    """Train the churn or CLTV booster on cutoffs whose label windows end by ``as_of``.

    The test set is the snapshot at ``as_of`` with labels from ``[as_of, as_of + horizon)``,
    evaluated only when the data covers that whole window. Baselines: recency alone for
    churn (older last purchase = more likely to churn), spend in the previous ``horizon``
    days for CLTV.
    """
    client = registry.connect(ws)
    horizon = horizon_days or DEFAULT_HORIZON_DAYS[task]
    label = CHURNED if task == "churn" else FUTURE_REVENUE
    t0 = time.perf_counter()
    cutoffs = monthly_cutoffs(as_of, horizon, n_cutoffs)
    history = History(orders, events)
    train = build_training_set(history, cutoffs, horizon, feature_set=feature_set)
    log(f"[{task}] training set ({feature_set}, {'with' if events is not None else 'without'} events): "
        f"{len(train):,} rows over {len(cutoffs)} cutoffs {cutoffs[0].date()}..{cutoffs[-1].date()}, "
        f"horizon {horizon} days ({time.perf_counter() - t0:.1f}s)")
    model = CustomerModel(task, feature_set=feature_set).fit(train)
    log(f"[{task}] LightGBM fitted: {model.best_rounds_} rounds ({time.perf_counter() - t0:.1f}s)")
    data_end = orders[s.TIMESTAMP].max()
    test_end = as_of + pd.Timedelta(days=horizon)
    window = f"train < {as_of.date()}, test {as_of.date()}..{test_end.date()} (exclusive)"
    metrics, baseline, notes, test, pred = {}, {}, [], None, None
    if test_end <= data_end + pd.Timedelta(days=1):
        test = build_training_set(history, [as_of], horizon, feature_set=feature_set)
        y = test[label].to_numpy(float)
        pred = model.predict(test)
        metrics = _customer_metrics(task, y, pred)
        if task == "churn":
            baseline = _customer_metrics(task, y, test["recency_days"].to_numpy(float))
            notes.append(f"test customers: {len(test):,}, churn rate {y.mean():.3f}")
        else:
            before = build_labels(orders, pd.Index(test[s.CUSTOMER_ID]),
                                  as_of - pd.Timedelta(days=horizon), horizon)
            baseline = _customer_metrics(task, y, before[FUTURE_REVENUE].clip(lower=0).to_numpy())
            notes.append(f"test customers: {len(test):,}, mean revenue {y.mean():.1f}")
    else:
        notes.append(f"data ends {data_end.date()}, before the test window ends "
                     f"{test_end.date()}: registered without test metrics")
    baseline_name = "recency alone" if task == "churn" else "last-period spend"
    with registry.scratch_dir() as tmp:
        model_dir = Path(tmp) / "model"
        model.save(model_dir, {"as_of": as_of.isoformat(), "horizon_days": horizon})
        plot_files = []
        if pred is not None:
            plot = (plots.calibration_and_lift if task == "churn"
                    else plots.deciles_predicted_vs_actual)
            plot_files.append(plot(y, pred, Path(tmp) / f"{task}_deciles.png"))
        clean = lambda d: {k: v for k, v in d.items() if not np.isnan(v)}  # noqa: E731
        run_id, version = registry.log_and_register(
            client, ws, task, model_dir,
            params={"horizon_days": horizon, "n_cutoffs": n_cutoffs,
                    "best_rounds": model.best_rounds_, **model._lgb_params()},
            metrics={**clean(metrics), **{f"baseline_{k}": v for k, v in clean(baseline).items()}},
            tags={"as_of": str(as_of.date()), "window": window, "feature_set": feature_set,
                  "events": "none" if events is None else
                  ("simulated" if events[s.SIMULATED].any() else "recorded"),
                  "train_cutoffs": ",".join(str(c.date()) for c in cutoffs),
                  "data_digest": _digest(ws.table_path("orders"))},
            run_name=f"lightgbm {task} as_of={as_of.date()}", plots=plot_files)

    def champion_score(path: Path) -> float:
        old, _ = CustomerModel.load(path)
        # The champion may use another feature set: score it on its own features, same rows.
        old_test = (test if old.feature_set == feature_set else
                    build_training_set(history, [as_of], horizon, feature_set=old.feature_set))
        return _customer_metrics(task, old_test[label].to_numpy(float),
                                 old.predict(old_test))[PRIMARY_METRIC[task]]

    promoted, reason = _promote(client, task, version, metrics.get(PRIMARY_METRIC[task]),
                                champion_score if test is not None else None)
    return TrainResult(task, version, run_id, metrics, baseline_name, baseline, promoted,
                       reason, window, notes)
