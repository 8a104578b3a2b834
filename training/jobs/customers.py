"""The churn and CLTV training jobs: LightGBM on the feature snapshot's training set, with
recency, spend and BG/NBD baselines, evaluated after ``as_of``, logged, registered, promoted."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from features import schema as s
from features.cluster import Cluster
from features.customer_features import (
    CHURNED,
    CUTOFF,
    DEFAULT_FEATURE_SET,
    FUTURE_REVENUE,
    LEVEL_FEATURE_SET,
    History,
    build_customer_features,
    build_labels,
    build_rfm_summary,
    build_training_set,
    get_feature_set,
)
from features.snapshots import model_customers, training_set
from features.workspace import Workspace
from training import plots, registry
from training.btyd import BetaGeoModel, GammaGammaModel, btyd_scores
from training.customer_models import (
    CustomerModel,
    TwoPartCLTV,
    calibrate,
    choose_calibration,
    monotone_map,
    out_of_time_check,
    task_labels,
    validation_score,
)
from training.jobs.feasibility import MIN_LABEL_ROWS, CannotTrain, check_labels, plan_customer_model
from training.jobs.promotion import PRIMARY_METRIC, TrainResult, data_digest, decide
from training.metrics import customer_metrics, paired_bootstrap

# Simple models a churn or CLTV artifact serves in LightGBM's place when they beat it on the
# validation cutoff (serving/runtime/models.py computes them from the orders and the BG/NBD
# and Gamma-Gamma parameters the artifact carries).
SERVABLE = {"churn": ("recency alone", "BG/NBD"), "cltv": ("last-period spend", "BG/NBD + Gamma-Gamma")}
BOOTSTRAP = 200
# How far the churn model's mean may be from the churn rate before a level step is looked at.
LEVEL_TOLERANCE = 0.03


def baseline_predictions(task: str, orders: pd.DataFrame, test: pd.DataFrame, as_of: pd.Timestamp,
                         horizon: int, summary: pd.DataFrame, bg: BetaGeoModel) -> dict[str, np.ndarray]:
    """What a careful analyst would use instead, scored on the rows of ``test``.

    Churn: recency alone (older last purchase = more likely to churn) and BG/NBD's
    P(no purchase in the horizon). CLTV: net spend in the ``horizon`` days before ``as_of``
    and BG/NBD + Gamma-Gamma. ``summary`` and ``bg`` are the purchase summary before
    ``as_of`` and the BG/NBD model fitted on it. The first entry is the documented baseline.
    """
    customers = pd.Index(test[s.CUSTOMER_ID])
    btyd = np.asarray(btyd_scores(summary, bg, task, horizon, customers), float)
    if task == "churn":
        return {"recency alone": test["recency_days"].to_numpy(float), "BG/NBD": btyd}
    before = build_labels(orders, customers, as_of - pd.Timedelta(days=horizon), horizon)
    return {"last-period spend": before[FUTURE_REVENUE].clip(lower=0).to_numpy(),
            "BG/NBD + Gamma-Gamma": btyd}


def _customer_example(model: CustomerModel, rows: pd.DataFrame, n: int = 5
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Signature example of a churn or CLTV model: feature rows in, the prediction out."""
    x = rows[model.columns].head(n).astype(float).reset_index(drop=True)
    name = "churn_probability" if model.task == "churn" else "expected_revenue"
    return x, pd.DataFrame({name: model.predict(rows.head(n))})


def match_churn_level(model: CustomerModel, history: History, cutoffs: list[pd.Timestamp], horizon: int,
                       as_of: pd.Timestamp, log: Callable[[str], None],
                       cluster: Cluster | None = None) -> bool:
    """Set the churn model's mean probability at ``as_of`` to a lookback model's, when such a
    model knew the validation cutoff's churn rate better than the churn model did; returns
    whether it did.

    Early cutoffs see a short history: a loyal customer of ten years looks new there, and
    the model ties those cutoffs' churn to their season. Its calibration map, fitted on
    the last cutoff, then misjudges the churn level of the next window. A second model on
    :data:`LEVEL_FEATURE_SET` (features that look back no further than the first cutoff's
    history reaches) says how many of the customers scored at ``as_of`` will churn, and the
    map is moved in log-odds to that level: the first model's ranking is kept.

    The step is looked at only when the churn model's probe missed the validation cutoff's
    churn rate by more than :data:`LEVEL_TOLERANCE`, the distance the served mean is held to:
    nearer than that, which of two models foresees it better is decided by thousandths, and
    the check costs a second training set and model.
    """
    t0 = time.perf_counter()
    own = float(model.validation_[1].mean()) if model.validation_ is not None else float("nan")
    if model.validation_ is not None and abs(own - model.validation_[0].mean()) <= LEVEL_TOLERANCE:
        log(f"[churn] level: not matched: the churn model expected {own:.3f} to churn after "
            f"{cutoffs[-1].date()}, where {model.validation_[0].mean():.3f} did (within {LEVEL_TOLERANCE})")
        return False
    train = build_training_set(history, cutoffs, horizon, feature_set=LEVEL_FEATURE_SET)
    # Validated first, out of time: a level model from the cutoffs whose labels end by the
    # last one must predict the last one's churn rate closer than the churn model's own
    # probe (trained on the same cutoffs, uncalibrated) did; else the map is left as the
    # validation cutoff fitted it (on CDNOW the step moved it the wrong way).
    last = cutoffs[-1]
    known = train[train[CUTOFF] + pd.Timedelta(days=horizon) <= last]
    if known.empty or known[CHURNED].nunique() < 2:
        log(f"[churn] level: not matched (no cutoff's labels end by {last.date()} to validate it on)")
        return False
    check = CustomerModel("churn", feature_set=LEVEL_FEATURE_SET).fit(known, horizon, cluster)
    held = train[train[CUTOFF] == last]
    expected, observed = float(check.predict(held).mean()), float(held[CHURNED].mean())
    said = (f"a {LEVEL_FEATURE_SET} model expected {expected:.3f} to churn after {last.date()}, the churn "
            f"model {own:.3f}, where {observed:.3f} did")
    if not abs(expected - observed) < abs(own - observed):
        log(f"[churn] level: not matched: {said} ({time.perf_counter() - t0:.1f}s)")
        return False
    log(f"[churn] level: {said}")
    level = CustomerModel("churn", feature_set=LEVEL_FEATURE_SET).fit(train, horizon, cluster)
    now = build_customer_features(history, as_of, feature_set=LEVEL_FEATURE_SET)
    target = float(level.predict(now).mean())
    shift = model.match_level(build_customer_features(history, as_of, feature_set=model.feature_set), target,
                              feature_set=LEVEL_FEATURE_SET, customers=len(now))
    log(f"[churn] level: a {LEVEL_FEATURE_SET} model expects {target:.3f} of the {len(now):,} customers "
        f"known at {as_of.date()} to churn; calibration moved by {shift:+.3f} in log-odds "
        f"({time.perf_counter() - t0:.1f}s)")
    return True


def choose_served(task: str, model: CustomerModel, train: pd.DataFrame, orders: pd.DataFrame, horizon: int,
                  log: Callable[[str], None]) -> tuple[str, dict | None]:
    """LightGBM, or the simple model of :data:`SERVABLE` that beats it on the validation
    cutoff's primary metric (in 97.5% of :data:`BOOTSTRAP` paired resamples of its customers),
    and for churn the map from that model's score to a probability. The test window is not
    looked at.

    When LightGBM learnt nothing that helped on validation (early stopping kept one round, or
    it gives every validation customer one score: a constant model, as on a few hundred
    training rows), the simple model of the best validation score is the one LightGBM must
    beat in the same way. When the history holds no cutoff to validate LightGBM on (its labels
    would overlap the validation window's), that simple model serves: it needs no validation
    of its own fit, and its score on the last cutoff is known."""
    cutoff = train[CUTOFF].max()
    val = train[train[CUTOFF] == cutoff]
    if model.validation_ is None:
        y, raw = task_labels(task, val), None
    else:
        y, raw = model.validation_
    summary = build_rfm_summary(orders, cutoff)
    bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    preds = baseline_predictions(task, orders, val, cutoff, horizon, summary, bg)
    metric = PRIMARY_METRIC[task]
    candidates = {name: preds[name] for name in SERVABLE[task]}
    if raw is not None:
        candidates = {"LightGBM": raw, **candidates}
    scores = {name: validation_score(task, y, p) for name, p in candidates.items()}
    best_simple = max(SERVABLE[task], key=lambda name: np.nan_to_num(scores[name], nan=-np.inf))
    said = f"[{task}] validation cutoff {cutoff.date()}, {metric}: " + ", ".join(
        f"{n} {v:.4f}" for n, v in scores.items())
    if raw is None:
        if np.isnan(scores[best_simple]):  # one class or no revenue: nothing to choose on
            log(f"{said} -> serving LightGBM (no earlier cutoff to validate it on, and the simple "
                "models cannot be scored either)")
            return "LightGBM", None
        best = best_simple
        log(f"{said} -> serving {best} (LightGBM not validated: the history holds no cutoff whose "
            "labels end before the validation window)")
    else:
        learnt = model.best_rounds_ > 1 and np.ptp(raw) > 0
        incumbent = "LightGBM" if learnt else best_simple
        # Another model serves only when it beats the incumbent in at least 97.5% of bootstrap
        # resamples of the validation customers (paired): a smaller edge is noise.
        resampled = paired_bootstrap(metric, y, candidates, BOOTSTRAP)
        drawn = ~np.isnan(resampled[incumbent])
        better = {}
        for name in candidates:
            wins = np.mean(resampled[name][drawn] > resampled[incumbent][drawn]) if drawn.any() else 0.0
            if name != incumbent and scores[name] > scores[incumbent] and wins >= 0.975:
                better[name] = scores[name]
        best = max(better, key=better.get) if better else incumbent
        why = " (LightGBM learnt nothing that helped on validation: the best simple model is the one to beat)"
        log(f"{said} -> serving {best}{'' if learnt else why}")
    if best == "LightGBM" or task != "churn":
        return best, None
    if best == "recency alone":  # days, not a probability: a map is needed
        return best, monotone_map(preds[best], y)
    return best, _bgnbd_calibration(orders, cutoff, horizon, preds[best], y, log)


def _bgnbd_calibration(orders: pd.DataFrame, cutoff: pd.Timestamp, horizon: int, p: np.ndarray, y: np.ndarray,
                       log: Callable[[str], None]) -> dict | None:
    """BG/NBD's P(no purchase) is a probability already. A calibration map is kept only when,
    fitted one horizon before the validation cutoff, it lowered the Brier score there: the
    map is applied out of time when served, so that is how it is judged."""
    before = cutoff - pd.Timedelta(days=horizon)
    summary = build_rfm_summary(orders, before)
    if len(summary) < 2 * MIN_LABEL_ROWS:
        log(f"[churn] BG/NBD calibration: not looked at, {len(summary)} customers bought before "
            f"{before.date()} (a map needs {2 * MIN_LABEL_ROWS} to be checked a horizon back)")
        return None
    bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    earlier = btyd_scores(summary, bg, "churn", horizon, summary.index)
    labels = build_labels(orders, summary.index, before, horizon)[CHURNED].to_numpy(float)
    kept, check = out_of_time_check(p, y, earlier, labels)
    log(f"[churn] BG/NBD calibration ({check['method']}, fitted as of {before.date()}): Brier at "
        f"{cutoff.date()} {check['brier_mapped']:.4f} against {check['brier_raw']:.4f} uncalibrated -> "
        f"{'kept' if kept else 'not kept'}")
    return choose_calibration(p, y) if kept else None


def served_predictions(meta: dict, model: CustomerModel, rows: pd.DataFrame, orders: pd.DataFrame,
                       as_of: pd.Timestamp, summary: pd.DataFrame | None, bg: BetaGeoModel | None
                       ) -> np.ndarray:
    """What a saved churn or CLTV model serves for ``rows`` (features as of ``as_of``): the
    LightGBM prediction, or the simple model its ``served_by`` names, through its map."""
    served_by, horizon = meta.get("served_by", "LightGBM"), int(meta["horizon_days"])
    if served_by == "LightGBM":
        return model.predict(rows)
    preds = baseline_predictions(model.task, orders, rows, as_of, horizon, summary, bg)
    mapping = meta.get("served_calibration")
    return calibrate(preds[served_by], mapping) if mapping else preds[served_by]


def train_customer_model(ws: Workspace, orders: pd.DataFrame, task: str, as_of: pd.Timestamp | None,
                         horizon_days: int | None = None, n_cutoffs: int = 12,
                         log: Callable[[str], None] = print, events: pd.DataFrame | None = None,
                         feature_set: str = DEFAULT_FEATURE_SET, promote: bool = True,
                         cluster: Cluster | None = None, lines: pd.DataFrame | None = None) -> TrainResult:
    """Train the churn or CLTV booster on cutoffs whose label windows end by ``as_of``.

    ``as_of`` None: the start of the last test window the data covers. The horizon and
    ``as_of`` follow the data (:mod:`training.jobs.feasibility`); when the data allows no
    model, :class:`~training.jobs.feasibility.CannotTrain` says why and what to try.

    Above :data:`~features.snapshots.MODEL_CUSTOMERS` customers, the model learns from and is
    tested on a sample of them (:func:`~features.snapshots.model_customers`). ``lines``: those
    customers' order lines when the caller read them apart, so that ``orders`` need hold only
    every line's customer and timestamp, which plan the windows. With a Dask
    ``cluster``, the training sets and the boosters are built there (:mod:`features.cluster`).

    The test set is the snapshot at ``as_of`` with labels from ``[as_of, as_of + horizon)``,
    evaluated only when the data covers that whole window. Baselines: recency alone for
    churn (older last purchase = more likely to churn), spend in the previous ``horizon``
    days for CLTV.
    """
    label = CHURNED if task == "churn" else FUTURE_REVENUE
    t0 = time.perf_counter()
    plans = plan_customer_model(task, orders, as_of, horizon_days, n_cutoffs)
    data_end = orders[s.TIMESTAMP].max()
    # From here on, the customers the model learns from and is tested on: all, or a sample of a large base.
    if lines is None:
        orders, events, sampled_from = model_customers(orders, events)
        customers = orders[s.CUSTOMER_ID].nunique()
    else:
        total, orders = orders[s.CUSTOMER_ID].nunique(), lines
        customers = orders[s.CUSTOMER_ID].nunique()
        sampled_from = total if customers < total else None
    sample_note = (f"learnt and tested on {customers:,} of {sampled_from:,} customers (sampled by id)"
                   if sampled_from else None)
    if sample_note:
        log(f"[{task}] {sample_note}")
    history = History(orders, events)
    for i, plan in enumerate(plans):
        # The feature step's snapshot when `features build` made it from the same data, else built here.
        train, _, _ = training_set(ws.features, orders, events, plan.as_of, plan.horizon_days, feature_set,
                                   plan.cutoffs, history, log=log, cluster=cluster)
        try:
            check_labels(task, train[label], plan)
            break
        except CannotTrain as exc:
            if i == len(plans) - 1:
                raise
            log(f"[{task}] {exc.why}: trying {plans[i + 1].horizon_days} days")
    as_of, horizon, cutoffs = plan.as_of, plan.horizon_days, plan.cutoffs
    if plan.note:
        log(f"[{task}] {plan.note}")
    client = registry.connect(ws)
    log(f"[{task}] training set ({feature_set}, {'with' if events is not None else 'without'} events): "
        f"{len(train):,} rows over {len(cutoffs)} cutoffs {cutoffs[0].date()}..{cutoffs[-1].date()}, "
        f"horizon {horizon} days ({time.perf_counter() - t0:.1f}s)")
    model = CustomerModel(task, feature_set=feature_set).fit(train, horizon, cluster)
    log(f"[{task}] LightGBM fitted: {model.num_leaves_} leaves, min {model.min_child_samples_} rows per "
        f"leaf, {model.best_rounds_} rounds, chosen on the validation cutoff {cutoffs[-1].date()} among "
        f"{len(model.tuning_)} sizes ({time.perf_counter() - t0:.1f}s)")
    served_by, served_map = choose_served(task, model, train, orders, horizon, log)
    unmatched = None
    # The level step moves LightGBM's map: nothing to do when a simple model serves.
    if (task == "churn" and served_by == "LightGBM" and model.calibration_
            and not get_feature_set(feature_set).lookback_days):
        unmatched = model.calibration_
        if not match_churn_level(model, history, cutoffs, horizon, as_of, log, cluster):
            unmatched = None
    test_end = as_of + pd.Timedelta(days=horizon)
    window = f"train < {as_of.date()}, test {as_of.date()}..{test_end.date()} (exclusive)"
    metrics, baseline, notes, test, pred, table = {}, {}, [sample_note] if sample_note else [], None, None, {}
    has_test = test_end <= data_end + pd.Timedelta(days=1)
    if task == "churn" or has_test or served_by != "LightGBM":
        # One BG/NBD fit serves the baseline and, for churn, the next-purchase dates.
        summary = build_rfm_summary(orders, as_of)
        bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    if has_test:
        test = build_training_set(history, [as_of], horizon, feature_set=feature_set)
        y = test[label].to_numpy(float)
        pred = model.predict(test)
        metrics = customer_metrics(task, y, pred)
        table = {name: customer_metrics(task, y, p)
                 for name, p in baseline_predictions(task, orders, test, as_of, horizon, summary, bg).items()}
        baseline = next(iter(table.values()))
        if served_by != "LightGBM":
            chosen = {"served_by": served_by, "horizon_days": horizon, "served_calibration": served_map}
            served = served_predictions(chosen, model, test, orders, as_of, summary, bg)
            metrics = customer_metrics(task, y, served)
            table[f"{served_by} (served)"] = metrics
            notes.append(f"served: {served_by}, chosen over LightGBM on the validation cutoff "
                         f"{cutoffs[-1].date()}")
        if task == "churn":
            raw = model.predict(test, calibrated=False)
            table["LightGBM uncalibrated"] = customer_metrics(task, y, raw)
            if unmatched:
                table["LightGBM, level not matched"] = customer_metrics(task, y, calibrate(raw, unmatched))
            table["LightGBM"] = customer_metrics(task, y, pred)
            notes.append(f"test customers: {len(test):,}, churn rate {y.mean():.3f}; calibration: "
                         f"{model.calibration_['method'] if model.calibration_ else 'none'} (chosen on the "
                         f"validation cutoff {cutoffs[-1].date()})")
        else:
            two_part = TwoPartCLTV(feature_set=feature_set).fit(train).predict(test)
            table["LightGBM two-part"] = customer_metrics(task, y, two_part)
            table["LightGBM (Tweedie)"] = customer_metrics(task, y, pred)
            notes.append(f"test customers: {len(test):,}, mean revenue {y.mean():.1f}")
        if served_by != "LightGBM":
            pred = served  # the plot shows what is served
    else:
        notes.append(f"data ends {data_end.date()}, before the test window ends "
                     f"{test_end.date()}: registered without test metrics")
    baseline_name = "recency alone" if task == "churn" else "last-period spend"
    with registry.scratch_dir() as tmp:
        model_dir = Path(tmp) / "model"
        extra = {"as_of": as_of.isoformat(), "horizon_days": horizon, "served_by": served_by,
                 "served_calibration": served_map}
        if task == "churn" or served_by != "LightGBM":
            # BG/NBD parameters ride along: the service dates each customer's next purchase with them.
            extra["bgnbd"] = {**bg.params_, "time_unit_days": 7.0}
        if served_by == "BG/NBD + Gamma-Gamma":
            gg = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
            extra["gammagamma"] = gg.params_
        model.save(model_dir, extra)
        plot_files = []
        if pred is not None:
            plot = (plots.calibration_and_lift if task == "churn"
                    else plots.deciles_predicted_vs_actual)
            plot_files.append(plots.save(plot(y, pred), Path(tmp) / f"{task}_deciles.png"))
        clean = lambda d: {k: v for k, v in d.items() if not np.isnan(v)}  # noqa: E731
        run_id, version = registry.log_and_register(
            client, ws, task, model_dir,
            params={"horizon_days": horizon, "n_cutoffs": n_cutoffs, "best_rounds": model.best_rounds_,
                    "customers": customers,
                    **({"customers_sampled_from": sampled_from} if sampled_from else {}),
                    **model._lgb_params(model.num_leaves_, model.min_child_samples_),
                    **{f"level_{k}": v for k, v in ((model.calibration_ or {}).get("level") or {}).items()}},
            metrics={**clean(metrics), **{f"baseline_{k}": v for k, v in clean(baseline).items()},
                     **{f"btyd_{k}": v for k, v in clean(table.get("BG/NBD", table.get("BG/NBD + Gamma-Gamma",
                                                                                         {}))).items()}},
            tags={"as_of": str(as_of.date()), "window": window, "feature_set": feature_set,
                  "served_by": served_by,
                  "events": "none" if events is None else
                  ("simulated" if events[s.SIMULATED].any() else "recorded"),
                  "train_cutoffs": ",".join(str(c.date()) for c in cutoffs),
                  "data_digest": data_digest(ws.table_path("orders"))},
            run_name=f"lightgbm {task} as_of={as_of.date()}", plots=plot_files,
            example=_customer_example(model, train),
            trials=[{"run_name": f"{trial['num_leaves']} leaves, min_child {trial['min_child_samples']}",
                     "params": {k: v for k, v in trial.items() if k != "validation_score"},
                     "metrics": {f"validation_{PRIMARY_METRIC[task]}": trial["validation_score"]}}
                    for trial in model.tuning_])

    def champion_score(path: Path) -> float:
        old, meta = CustomerModel.load(path, task)
        # The champion may use another feature set: score it on its own features, same rows.
        old_test = (test if old.feature_set == feature_set else
                    build_training_set(history, [as_of], horizon, feature_set=old.feature_set))
        return customer_metrics(task, old_test[label].to_numpy(float), served_predictions(
            meta, old, old_test, orders, as_of, summary, bg))[PRIMARY_METRIC[task]]

    promoted, reason, old_version, old_score = decide(
        client, task, version, metrics.get(PRIMARY_METRIC[task]),
        champion_score if test is not None else None, apply=promote)
    return TrainResult(task, version, run_id, metrics, baseline_name, baseline, promoted,
                       reason, window, notes, table, old_version, old_score, applied=promote)
