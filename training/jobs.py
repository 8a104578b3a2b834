"""Training jobs: fit on data before ``as_of``, evaluate after it, log, register, promote.

A new version becomes ``champion`` when there is none yet or when it beats the current
champion on the same evaluation: the champion is downloaded and scored on the new test
window, so the two numbers compared always come from the same data. Otherwise the new
version is ``challenger``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features import schema as s
from features.customer_features import (
    CHURNED,
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
from features.interactions import IdIndex, basket_matrix
from features.purchase_history import RANKER_FEATURE_SET
from features.snapshots import training_cutoffs, training_set
from features.workspace import Workspace
from training import plots, progress, registry
from training.btyd import BetaGeoModel, btyd_scores
from training.customer_models import CustomerModel, TwoPartCLTV, calibrate
from training.evaluation import (
    CURVE_KS,
    evaluate,
    evaluate_baskets,
    evaluate_new_customers,
    heldout_window,
    matrix_recommender,
    one_pass,
)
from training.metrics import customer_metrics, ranking_report
from training.ranker import BlendedRecommender, FitCache, RankerParams
from training.recommenders import FORMAT as ALS_FORMAT
from training.recommenders import (
    ALSRecommender,
    BPRRecommender,
    EASERecommender,
    FrequentlyBoughtTogether,
    ItemKNNRecommender,
    PopularityRecommender,
    Recommender,
    RepurchaseRecommender,
    TrendingRecommender,
)

PRIMARY_METRIC = {"recs": "all_ndcg_at_10", "churn": "roc_auc", "cltv": "normalized_gini"}
DEFAULT_HORIZON_DAYS = {"churn": 90, "cltv": 180}


# The recommender table printed after training (metric key, column label).
RECS_COLUMNS = (("all_ndcg_at_10", "NDCG@10"), ("all_precision_at_10", "P@10"), ("all_recall_at_10", "R@10"),
                ("all_map_at_10", "MAP@10"), ("all_hit_rate_at_10", "HR@10"), ("all_ndcg_at_20", "NDCG@20"),
                ("discovery_ndcg_at_10", "disc NDCG@10"), ("discovery_recall_at_20", "disc R@20"),
                ("buy_again_ndcg_at_10", "again NDCG@10"), ("all_coverage_at_10", "coverage@10"))


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
    table: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> metrics
    champion_version: str | None = None  # the champion when this version was evaluated
    champion_score: float | None = None  # its primary metric on the same test window
    applied: bool = True  # False: the alias is left to the caller (`shelfwise retrain` sets it last)

    def lines(self) -> list[str]:
        out = [f"[{self.family}] registered {registry.MODEL_NAMES[self.family]} "
               f"version {self.version} (run {self.run_id}); {self.window}"]
        if self.table:
            first = next(iter(self.table.values()))
            columns = RECS_COLUMNS if self.family == "recs" else [(k, k) for k in first]
            width = max(12, *(len(n) for n in self.table)) + 2
            col = max(14, *(len(label) + 2 for _, label in columns))
            out.append(f"  {'model':<{width}}" + "".join(f"{label:>{col}}" for _, label in columns))
            for name, row in self.table.items():
                out.append(f"  {name:<{width}}"
                           + "".join(f"{row.get(key, float('nan')):>{col}.4f}" for key, _ in columns))
        elif self.metrics:
            out.append(f"  {'metric':<22}{'model':>12}{self.baseline_name:>24}")
            for k, v in self.metrics.items():
                b = self.baseline.get(k)
                out.append(f"  {k:<22}{v:>12.4f}{(f'{b:.4f}' if b is not None else '-'):>24}")
        out += [f"  note: {n}" for n in self.notes]
        alias = "champion" if self.promoted else "challenger"
        out.append(f"  alias: {alias if self.applied else f'{alias} once every family is trained'} "
                   f"({self.reason})")
        return out


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _promote(client, family: str, version: str, new_score: float | None,
             champion_score: Callable[[Path], float] | None, apply: bool = True
             ) -> tuple[bool, str, str | None, float | None]:
    """Decide whether ``version`` becomes champion; set the alias unless ``apply`` is false.

    Returns ``(promoted, reason, champion version, its score on the same test window)``; the
    last two are None when there is no champion or nothing to compare on.
    """
    metric = PRIMARY_METRIC[family]
    with registry.scratch_dir() as tmp:
        current = registry.champion_dir(client, family, Path(tmp))
        old_version, old_score = (current[1] if current else None), None
        if current is None:
            promoted, reason = True, "no champion yet"
        elif new_score is None or champion_score is None:
            promoted, reason = False, f"no test window to compare with champion v{old_version}"
        else:
            path = current[0]
            try:
                old_score, note = champion_score(path), ""
            except (ValueError, KeyError, OSError) as exc:
                # The files are a scratch copy: say which version they are, not where they were.
                why = str(exc).replace(f"{path}: ", "").replace(str(path), "its files")
                old_score, note = float("-inf"), f"; champion v{old_version} cannot be scored: {why}"
            promoted = new_score > old_score
            reason = (f"{metric} {new_score:.4f} {'beats' if promoted else 'does not beat'} champion "
                      f"v{old_version}'s {old_score:.4f}{note}")
    if apply:
        apply_decision(client, family, version, promoted)
    return promoted, reason, old_version, old_score


def apply_decision(client, family: str, version: str, promoted: bool) -> None:
    """Give ``version`` the alias its evaluation earned: ``champion`` (once the registered
    files pass :func:`registry.check_version`) or ``challenger``."""
    if promoted:
        registry.check_version(client, family, version)
    registry.set_alias(client, family, registry.CHAMPION if promoted else registry.CHALLENGER, version)


# Baselines and single models reported beside the blended champion, fitted on the same
# purchase matrix (distinct orders per customer and item before as_of).
BASELINES: dict[str, Callable[[], Recommender]] = {
    "popularity": PopularityRecommender,
    "trending": TrendingRecommender,
    "repurchase": RepurchaseRecommender,
    "als": ALSRecommender,
    "bpr": BPRRecommender,
    "item_knn": ItemKNNRecommender,
    "ease": EASERecommender,
}
EASE_L2_GRID = (100.0, 300.0, 1000.0)


def _tune_ease(cache: FitCache, as_of: pd.Timestamp, params: RankerParams,
               log: Callable[[str], None]) -> tuple[float, list[dict]]:
    """Pick EASE's L2 on the validation window: fit before it, score all purchases in it."""
    cutoffs = params.window_cutoffs(as_of)
    start = cutoffs[-1]
    history = cache.history(start)
    cache.prefetch_ease(start, EASE_L2_GRID)
    # While those fit: the window and the histories the ranker's fit will ask for next.
    val = heldout_window(cache.orders, history.users, start, as_of)
    for c in cache.with_history([*cutoffs[:-1], as_of]):
        cache.history(c)
    trials = []
    for l2 in progress.bar(EASE_L2_GRID, desc="EASE L2 trials", unit="trial"):
        model = EASERecommender(l2)
        model.item_weights_ = cache.ease(start, l2)
        # Only all purchases' NDCG@10 picks L2: scoring the other tasks took 3 s more.
        m = evaluate(matrix_recommender(model, history.orders), val, history.items, tasks=("all",))
        trials.append({"run_name": f"ease l2={l2:g}",
                       "params": {"l2": l2, "window": f"{start.date()}..{as_of.date()}"},
                       "metrics": {"validation_all_ndcg_at_10": m["all_ndcg_at_10"]}})
        log(f"[recs] tuning EASE l2={l2:g}: validation NDCG@10 {m['all_ndcg_at_10']:.4f}")
    best = max(trials, key=lambda tr: tr["metrics"]["validation_all_ndcg_at_10"])
    return best["params"]["l2"], trials


def _champion_recommend(path: Path) -> Callable[[list[str], int], dict[str, list[str]]]:
    """Customer ids -> top-k item ids from a saved recommender: the blended one, or the ALS
    model of the first releases (an older blended format raises IncompatibleModelError)."""
    meta = json.loads((path / "meta.json").read_text())
    if meta.get("format") != ALS_FORMAT:
        model = BlendedRecommender.load(path)
        users, items = model.history_.users, model.history_.items

        def rec(rows, k):
            return model.recommend(rows, k)[0]
        popular = np.argsort(-model.history_.item_stats[:, 3], kind="stable")
    else:
        model, arrays, _ = ALSRecommender.load(path)
        users, items = IdIndex(arrays["user_ids"]), IdIndex(arrays["item_ids"])

        def rec(rows, k):
            return model.recommend(rows, None, k)[0]
        popular = model.popularity_.order_

    def recommend(customer_ids: list[str], k: int) -> dict[str, list[str]]:
        rows = users.indices(customer_ids)
        known = rows >= 0
        cols = rec(rows[known], k) if known.any() else np.zeros((0, k), int)
        out = {c: [items.ids[i] for i in r if i >= 0] for c, r in
               zip(np.asarray(customer_ids)[known], cols, strict=True)}
        top = list(items.ids[popular[:k]])
        return {c: out.get(c, top) for c in customer_ids}
    return recommend


def train_recs(ws: Workspace, orders: pd.DataFrame, items: pd.DataFrame, as_of: pd.Timestamp,
               log: Callable[[str], None] = print, params: RankerParams | None = None,
               baselines: bool = True, promote: bool = True) -> TrainResult:
    """Fit the blended recommender before ``as_of``; report it and the baselines after it.

    EASE's L2 is tuned on the last window before ``as_of`` (logged as nested runs), the
    ranker early-stops on it, and everything is refit on all data before ``as_of``. The
    test window (``as_of`` to the end of the data) is only used for the report and for the
    comparison with the current champion.
    """
    client = registry.connect(ws)
    params = params or RankerParams()
    t0 = time.perf_counter()
    cache = FitCache(orders)
    l2, trials = _tune_ease(cache, as_of, params, log)
    params = RankerParams(**{**asdict(params), "ease_l2": l2})
    model = BlendedRecommender(params).fit(orders, as_of, log=lambda m: log(f"[recs] {m}"), cache=cache)
    history = model.history_
    fit_seconds = time.perf_counter() - t0
    log(f"[recs] blended recommender fitted in {fit_seconds:.1f}s: {len(history.users):,} customers x "
        f"{len(history.items):,} items before {as_of.date()}")
    data_end = orders[s.TIMESTAMP].max()
    val_start = params.window_cutoffs(as_of)[-1]
    window = (f"train < {as_of.date()}, validation {val_start.date()}..{as_of.date()}, "
              f"test {as_of.date()}..{data_end.date()}")
    test = heldout_window(orders, history.users, as_of) if data_end >= as_of else None
    table: dict[str, dict[str, float]] = {}
    notes = []
    popularity = PopularityRecommender().fit(history.orders)
    fbt = FrequentlyBoughtTogether().fit(basket_matrix(orders, None, as_of, history.items)[0])
    fbt_table: dict[str, dict[str, float]] = {}
    if test is not None and test.users:
        if baselines:
            for name, make in BASELINES.items():
                if name == "ease":  # the blended model's own EASE, fitted on the same orders
                    est = EASERecommender(params.ease_l2)
                    est.item_weights_ = model.item_weights_
                else:  # trending learns from recency-weighted purchases; the rest from order counts
                    est = make().fit(history.decayed if name == "trending" else history.orders)
                table[name] = evaluate(matrix_recommender(est, history.orders), test, history.items)
        table["blended"] = evaluate(one_pass(model.recommend_tasks), test, history.items)
        baskets = basket_matrix(orders, as_of, data_end + pd.Timedelta(days=1), history.items)[0]
        def popular_for(carts, k, after=None):
            taken = after if after is not None else [[] for _ in carts]
            return np.array([list(t) + [i for i in popularity.order_[: 2 * k] if i not in c and i not in t]
                             [: k - len(t)] for c, t in zip(carts, taken, strict=True)])

        def fbt_then_popular(carts, k):
            # As a storefront would show it: the rules first, popular items to fill the list.
            return popular_for(carts, k, [[i for i in row if i >= 0] for row in fbt.recommend(carts, k)[0]])

        fbt_table = {"fbt": evaluate_baskets(fbt_then_popular, baskets),
                     "popularity": evaluate_baskets(popular_for, baskets)}
        if fbt_table["fbt"]:
            f, p = fbt_table["fbt"], fbt_table["popularity"]
            notes.append(f"frequently bought together (filled with popular items) on "
                         f"{int(f['basket_orders']):,} test orders (one item -> the rest): "
                         f"NDCG@10 {f['basket_ndcg_at_10']:.4f}, HR@10 {f['basket_hit_rate_at_10']:.4f}; "
                         f"popularity {p['basket_ndcg_at_10']:.4f}, {p['basket_hit_rate_at_10']:.4f}")
        new = evaluate_new_customers(list(history.items.ids[popularity.order_[:10]]), test)
        for row in table.values():
            row.update(new)
        notes.append(f"test customers: {len(test.users):,} seen before {as_of.date()} who bought in the "
                     f"test window ({len(test.truth['discovery']):,} bought something new; "
                     f"{len(test.new_truth):,} new customers get popular items)")
    else:
        notes.append("no purchases after as_of: model registered without test metrics")
    metrics = table.get("blended", {})
    baseline = table.get("popularity", {})
    titles = items.set_index(s.ITEM_ID)[s.TITLE].reindex(history.items.ids).fillna("").to_numpy()
    with registry.scratch_dir() as tmp:
        model_dir = Path(tmp) / "model"
        model.save(model_dir, titles, popularity.item_scores_, {"window": window, "fbt": fbt.get_params()},
                   fbt_scores=fbt.score_)
        plot_files = []
        if table:
            curves = {n: {k: r[f"all_ndcg_at_{k}"] for k in CURVE_KS} for n, r in table.items()}
            plot_files.append(plots.save(plots.metric_by_k(curves, "NDCG (all purchases)"),
                                         Path(tmp) / "ndcg_by_k.png"))
            groups = {n: {g: r[f"all_ndcg_at_10_{g}"] for g in ("new", "light", "heavy")
                          if f"all_ndcg_at_10_{g}" in r} for n, r in table.items()}
            plot_files.append(plots.save(plots.by_group(groups, "NDCG@10"), Path(tmp) / "ndcg_by_group.png"))
        logged = {**metrics, **{f"{name}.{m}": v for name, row in table.items() if name != "blended"
                                for m, v in row.items()},
                  **{f"{name}.{m}": v for name, row in fbt_table.items() for m, v in row.items()},
                  "fit_seconds": fit_seconds,
                  "ranker_validation_ndcg_at_10": model.validation_ndcg_}
        run_id, version = registry.log_and_register(
            client, ws, "recs", model_dir,
            params={**asdict(params), "best_rounds": model.best_rounds_, "probe_rounds": model.probe_rounds_},
            metrics={k: v for k, v in logged.items() if np.isfinite(v)},
            tags={"as_of": str(as_of.date()), "window": window, "feature_set": RANKER_FEATURE_SET,
                  "data_digest": _digest(ws.table_path("orders"))},
            run_name=f"blended as_of={as_of.date()}", plots=plot_files, trials=trials,
            example=_recs_example(model, history))
    truth = test.truth["all"] if test is not None and test.users else {}
    promoted, reason, old_version, old_score = _promote(
        client, "recs", version, metrics.get(PRIMARY_METRIC["recs"]),
        (lambda p: ranking_report(_champion_recommend(p)(list(truth), 10), truth, 10)["ndcg_at_10"])
        if truth else None, apply=promote)
    return TrainResult("recs", version, run_id, metrics, "popularity", baseline, promoted,
                       reason, window, notes, table, old_version, old_score, applied=promote)


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


def _recs_example(model: BlendedRecommender, history, n: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Signature example of the "for you" model: customer ids and k in, item ids out."""
    rows = np.arange(min(n, len(history.users)))
    items = model.recommend(rows, 10)[0]
    return (pd.DataFrame({"customer_id": history.users.ids[rows].astype(str), "k": 10}),
            pd.DataFrame({"item_ids": [[str(history.items.ids[i]) for i in r if i >= 0] for r in items]}))


def _customer_example(model: CustomerModel, rows: pd.DataFrame, n: int = 5
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Signature example of a churn or CLTV model: feature rows in, the prediction out."""
    x = rows[model.columns].head(n).astype(float).reset_index(drop=True)
    name = "churn_probability" if model.task == "churn" else "expected_revenue"
    return x, pd.DataFrame({name: model.predict(rows.head(n))})


def match_churn_level(model: CustomerModel, history: History, cutoffs: list[pd.Timestamp], horizon: int,
                       as_of: pd.Timestamp, log: Callable[[str], None]) -> None:
    """Set the churn model's mean probability at ``as_of`` to a lookback model's.

    Early cutoffs see a short history: a loyal customer of ten years looks new there, and
    the model ties those cutoffs' churn to their season. Its calibration map, fitted on
    the last cutoff, then misjudges the churn level of the next window. A second model on
    :data:`LEVEL_FEATURE_SET` (features that look back no further than the first cutoff's
    history reaches) says how many of the customers scored at ``as_of`` will churn, and the
    map is moved in log-odds to that level: the first model's ranking is kept.
    """
    t0 = time.perf_counter()
    train = build_training_set(history, cutoffs, horizon, feature_set=LEVEL_FEATURE_SET)
    level = CustomerModel("churn", feature_set=LEVEL_FEATURE_SET).fit(train, horizon)
    now = build_customer_features(history, as_of, feature_set=LEVEL_FEATURE_SET)
    target = float(level.predict(now).mean())
    shift = model.match_level(build_customer_features(history, as_of, feature_set=model.feature_set), target,
                              feature_set=LEVEL_FEATURE_SET, customers=len(now))
    log(f"[churn] level: a {LEVEL_FEATURE_SET} model expects {target:.3f} of the {len(now):,} customers "
        f"known at {as_of.date()} to churn; calibration moved by {shift:+.3f} in log-odds "
        f"({time.perf_counter() - t0:.1f}s)")


def train_customer_model(ws: Workspace, orders: pd.DataFrame, task: str, as_of: pd.Timestamp,
                         horizon_days: int | None = None, n_cutoffs: int = 12,
                         log: Callable[[str], None] = print, events: pd.DataFrame | None = None,
                         feature_set: str = DEFAULT_FEATURE_SET, promote: bool = True) -> TrainResult:
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
    cutoffs = training_cutoffs(orders, as_of, horizon, n_cutoffs)
    if not cutoffs:
        raise ValueError(f"no training cutoff: the label windows before {as_of.date()} start before the "
                         f"first order ({orders[s.TIMESTAMP].min().date()}); choose a later --as-of or a "
                         "shorter horizon")
    history = History(orders, events)
    # The feature step's snapshot when `features build` made it from the same data, else built here.
    train, _, _ = training_set(ws.features, orders, events, as_of, horizon, feature_set, cutoffs, history,
                               log=log)
    log(f"[{task}] training set ({feature_set}, {'with' if events is not None else 'without'} events): "
        f"{len(train):,} rows over {len(cutoffs)} cutoffs {cutoffs[0].date()}..{cutoffs[-1].date()}, "
        f"horizon {horizon} days ({time.perf_counter() - t0:.1f}s)")
    model = CustomerModel(task, feature_set=feature_set).fit(train, horizon)
    log(f"[{task}] LightGBM fitted: {model.num_leaves_} leaves, min {model.min_child_samples_} rows per "
        f"leaf, {model.best_rounds_} rounds, chosen on the validation cutoff {cutoffs[-1].date()} among "
        f"{len(model.tuning_)} sizes ({time.perf_counter() - t0:.1f}s)")
    unmatched = None
    if task == "churn" and model.calibration_ and not get_feature_set(feature_set).lookback_days:
        unmatched = model.calibration_
        match_churn_level(model, history, cutoffs, horizon, as_of, log)
    data_end = orders[s.TIMESTAMP].max()
    test_end = as_of + pd.Timedelta(days=horizon)
    window = f"train < {as_of.date()}, test {as_of.date()}..{test_end.date()} (exclusive)"
    metrics, baseline, notes, test, pred, table = {}, {}, [], None, None, {}
    has_test = test_end <= data_end + pd.Timedelta(days=1)
    if task == "churn" or has_test:
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
        if task == "churn":
            raw = model.predict(test, calibrated=False)
            table["LightGBM uncalibrated"] = customer_metrics(task, y, raw)
            if unmatched:
                table["LightGBM, level not matched"] = customer_metrics(task, y, calibrate(raw, unmatched))
            table["LightGBM"] = metrics
            notes.append(f"test customers: {len(test):,}, churn rate {y.mean():.3f}; calibration: "
                         f"{model.calibration_['method'] if model.calibration_ else 'none'} (chosen on the "
                         f"validation cutoff {cutoffs[-1].date()})")
        else:
            two_part = TwoPartCLTV(feature_set=feature_set).fit(train).predict(test)
            table["LightGBM two-part"] = customer_metrics(task, y, two_part)
            table["LightGBM (Tweedie)"] = metrics
            notes.append(f"test customers: {len(test):,}, mean revenue {y.mean():.1f}")
    else:
        notes.append(f"data ends {data_end.date()}, before the test window ends "
                     f"{test_end.date()}: registered without test metrics")
    baseline_name = "recency alone" if task == "churn" else "last-period spend"
    with registry.scratch_dir() as tmp:
        model_dir = Path(tmp) / "model"
        extra = {"as_of": as_of.isoformat(), "horizon_days": horizon}
        if task == "churn":
            # BG/NBD parameters ride along: the service dates each customer's next purchase with them.
            extra["bgnbd"] = {**bg.params_, "time_unit_days": 7.0}
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
                    **model._lgb_params(model.num_leaves_, model.min_child_samples_),
                    **{f"level_{k}": v for k, v in ((model.calibration_ or {}).get("level") or {}).items()}},
            metrics={**clean(metrics), **{f"baseline_{k}": v for k, v in clean(baseline).items()},
                     **{f"btyd_{k}": v for k, v in clean(table.get("BG/NBD", table.get("BG/NBD + Gamma-Gamma",
                                                                                         {}))).items()}},
            tags={"as_of": str(as_of.date()), "window": window, "feature_set": feature_set,
                  "events": "none" if events is None else
                  ("simulated" if events[s.SIMULATED].any() else "recorded"),
                  "train_cutoffs": ",".join(str(c.date()) for c in cutoffs),
                  "data_digest": _digest(ws.table_path("orders"))},
            run_name=f"lightgbm {task} as_of={as_of.date()}", plots=plot_files,
            example=_customer_example(model, train),
            trials=[{"run_name": f"{trial['num_leaves']} leaves, min_child {trial['min_child_samples']}",
                     "params": {k: v for k, v in trial.items() if k != "validation_score"},
                     "metrics": {f"validation_{PRIMARY_METRIC[task]}": trial["validation_score"]}}
                    for trial in model.tuning_])

    def champion_score(path: Path) -> float:
        old, _ = CustomerModel.load(path, task)
        # The champion may use another feature set: score it on its own features, same rows.
        old_test = (test if old.feature_set == feature_set else
                    build_training_set(history, [as_of], horizon, feature_set=old.feature_set))
        return customer_metrics(task, old_test[label].to_numpy(float),
                                 old.predict(old_test))[PRIMARY_METRIC[task]]

    promoted, reason, old_version, old_score = _promote(
        client, task, version, metrics.get(PRIMARY_METRIC[task]),
        champion_score if test is not None else None, apply=promote)
    return TrainResult(task, version, run_id, metrics, baseline_name, baseline, promoted,
                       reason, window, notes, table, old_version, old_score, applied=promote)
