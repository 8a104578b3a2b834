"""The recommender's training job: the blended "for you" model and the baselines reported
beside it, fitted before ``as_of``, evaluated after it, logged, registered and promoted."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from features import schema as s
from features.cluster import Cluster
from features.interactions import basket_matrix
from features.item_weights import DENSE_ITEMS, ItemWeights, co_bought, uncovered
from features.purchase_history import RANKER_FEATURE_SET
from features.workspace import Workspace
from training import plots, progress, registry
from training.evaluation import (
    CURVE_KS,
    TASKS,
    Recommend,
    TestWindow,
    evaluate,
    evaluate_baskets,
    evaluate_new_customers,
    heldout_window,
    matrix_recommender,
    one_pass,
    ranked_lists,
)
from training.jobs.feasibility import (
    RECS_TEST_DAYS,
    RECS_TEST_STEPS,
    CannotTrain,
    check_recs,
    data_end,
    span_words,
)
from training.jobs.promotion import PRIMARY_METRIC, TrainResult, data_digest, decide
from training.metrics import ndcg_at_k
from training.ranker import (
    MIN_WINDOW_CUSTOMERS,
    MIN_WINDOW_DAYS,
    BlendedRecommender,
    FitCache,
    RankerParams,
    plan_windows,
)
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
    is_large,
)

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
# Reported only on catalogues that keep the dense path: above it BPR's epochs ranked below
# popularity on the generated M and L shops, and took a quarter of L's `train recs`.
DENSE_ONLY = ("bpr",)
EASE_L2_GRID = (100.0, 300.0, 1000.0)
# Validation and test windows are measured on at most this many customers, and "frequently
# bought together" on at most this many test orders (seeded samples).
MAX_EVAL_CUSTOMERS = 50_000
MAX_EVAL_ORDERS = 50_000


def _tune_ease(cache: FitCache, as_of: pd.Timestamp, params: RankerParams,
               log: Callable[[str], None]) -> tuple[float, list[dict]]:
    """Pick EASE's L2 on the validation window: fit before it, score all purchases in it."""
    cutoffs = params.window_cutoffs(as_of)
    start = cutoffs[-1]
    history = cache.history(start)
    cache.prefetch_ease(start, EASE_L2_GRID)
    # While those fit: the window and the histories the ranker's fit will ask for next.
    val = cache.heldout(start, as_of, MAX_EVAL_CUSTOMERS)
    for c in cache.with_history([*cutoffs[:-1], as_of]):
        cache.history(c)
    if not val.truth["all"]:
        log(f"[recs] EASE l2={params.ease_l2:g}, the default: no customer bought in the validation window "
            f"{start.date()}..{as_of.date()}")
        cache.release_ease(start, keep=[params.ease_l2])
        return params.ease_l2, []
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
        # Only the best so far and those still to try are kept (an items x items matrix each).
        best = max(trials, key=lambda tr: tr["metrics"]["validation_all_ndcg_at_10"])
        cache.release_ease(start, keep=[best["params"]["l2"], *EASE_L2_GRID[len(trials):]])
    return best["params"]["l2"], trials


# Baselines a recommender artifact can serve in the blended model's place (serving.runtime.models
# computes their lists from the artifact: popularity, trending, the purchase history, EASE
# weights and, when chosen, item-kNN similarities). ALS and BPR are reported, not served.
SERVABLE = ("popularity", "trending", "repurchase", "ease", "item_knn")


def _baseline(name: str, history, ease_weights: ItemWeights, l2: float) -> Recommender:
    """A fitted baseline on ``history``: trending on recency-weighted purchases, the rest on
    order counts; EASE with the weights the blended model fitted already."""
    if name == "ease":
        est = EASERecommender(l2)
        est.item_weights_ = ease_weights
        return est
    return BASELINES[name]().fit(history.decayed if name == "trending" else history.orders)


# Without a ranker, what serves a list unless another baseline beats it on validation: the
# baselines of the best validation score on most zoo shops (docs/experiments.md).
NO_RANKER_DEFAULT = {"all": "repurchase", "discovery": "ease", "buy_again": "repurchase"}
MIN_VALIDATION_DAYS = 7  # the shortest validation window without a ranker
SWITCH_Z = 1.96  # a baseline replaces the incumbent of a list only when better by this many standard errors


def _ndcg_per_customer(recommend, val, items) -> dict[str, np.ndarray]:
    """NDCG@10 of each customer of each task with purchases in the window ``val``, in
    ``val.truth[task]`` order."""
    tasks = tuple(t for t in TASKS if val.truth[t])
    return {task: np.array([ndcg_at_k(lists[c], val.truth[task][c], 10) for c in val.truth[task]])
            for task, lists in ranked_lists(recommend, val, items, tasks, 10).items()}


def choose_served(cache: FitCache, starts: list[pd.Timestamp], as_of: pd.Timestamp, l2: float,
                  log: Callable[[str], None], blended: Recommend | None = None
                  ) -> tuple[dict[str, str], dict[str, dict[str, float]]]:
    """Which model serves each list, chosen on validation windows: one from each of ``starts``
    (oldest first) to the next, the last to ``as_of``; the baselines of each are fitted on the
    purchases before its start (EASE with L2 ``l2``), and each customer of each window counts.

    The incumbent serves a list unless a servable baseline scores a higher NDCG@10 for that
    task by more than :data:`SWITCH_Z` standard errors of the per-customer differences (a
    paired test: on a small or noisy window the incumbent stays); of several such baselines
    the best serves. The incumbent is the ranker when there is one (``blended``: the
    early-stopping probe, trained on the earlier windows, on the last window only), else (a
    history too short or thin for a ranker) the baseline of :data:`NO_RANKER_DEFAULT`.

    The test window is not looked at. Returns ``{task: model}`` and the validation NDCG@10 of
    every candidate per task.
    """
    names = (["blended"] if blended is not None else []) + list(SERVABLE)
    per_customer: dict[str, dict[str, list[np.ndarray]]] = {name: {t: [] for t in TASKS} for name in names}
    for start, end in zip(starts, [*starts[1:], as_of], strict=True):
        history = cache.history(start)
        val = cache.heldout(start, end, MAX_EVAL_CUSTOMERS)
        candidates = {"blended": blended} if blended is not None else {}
        for name in SERVABLE:
            est = _baseline(name, history, cache.ease(start, l2), l2)
            candidates[name] = matrix_recommender(est, history.orders)
        for name, rec in candidates.items():
            for task, values in _ndcg_per_customer(rec, val, history.items).items():
                per_customer[name][task].append(values)
        if start != starts[-1]:
            cache.release_ease(start)
    served, scores = {}, {name: {} for name in names}
    where = f"validation {starts[0].date()}..{as_of.date()}" + f" ({len(starts)} windows)" * (len(starts) > 1)
    for task in TASKS:
        incumbent = "blended" if blended is not None else NO_RANKER_DEFAULT[task]
        ndcg = {name: np.concatenate(per_customer[name][task] or [np.zeros(0)]) for name in names}
        if not len(ndcg[incumbent]):
            served[task] = incumbent
            log(f"[recs] {where}: no customer bought for {task} -> serving {incumbent}")
            continue
        better = {}
        for name, values in ndcg.items():
            scores[name][f"{task}_ndcg_at_10"] = float(values.mean())
            diff = values - ndcg[incumbent]
            se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else np.inf
            if name != incumbent and diff.mean() > SWITCH_Z * se:
                better[name] = float(values.mean())
        served[task] = max(better, key=better.get) if better else incumbent
        row = ", ".join(f"{n} {v.mean():.4f}" for n, v in ndcg.items())
        log(f"[recs] {where}, {task} NDCG@10 over {len(values):,} customers: {row} -> serving {served[task]}")
    return served, scores


def _parts(model: BlendedRecommender, orders: pd.DataFrame, served: dict[str, str]
           ) -> tuple[dict[str, Recommender], PopularityRecommender, FrequentlyBoughtTogether]:
    """What the lists beside the ranker need, fitted on ``model``'s history: the baselines
    that serve a list (``served``), popularity (new customers' list) and frequently bought
    together (the baskets before the history's end)."""
    history = model.history_
    baskets = basket_matrix(orders, None, history.as_of, history.items)[0]
    return (_estimators(model, served), PopularityRecommender().fit(history.orders),
            FrequentlyBoughtTogether().fit(baskets))


def _estimators(model: BlendedRecommender, served: dict[str, str]) -> dict[str, Recommender]:
    """The baselines that serve a list of ``served``, fitted on ``model``'s history."""
    return {name: _baseline(name, model.history_, model.item_weights_, model.params.ease_l2)
            for name in set(served.values()) - {"blended"}}


def _served_recommend(served: dict[str, str], model: BlendedRecommender, estimators: dict[str, Recommender],
                      matrix) -> Callable[[np.ndarray, int, str], np.ndarray]:
    """The lists the service gives for each task (:func:`evaluate`'s ``recommend``)."""
    blended = one_pass(model.recommend_tasks)

    def recommend(rows: np.ndarray, k: int, task: str) -> np.ndarray:
        name = served.get(task, "blended")
        if name == "blended":
            return blended(rows, k, task)
        return matrix_recommender(estimators[name], matrix)(rows, k, task)
    return recommend


def _champion_score(path: Path, cache: FitCache, as_of: pd.Timestamp, test: TestWindow) -> float:
    """The champion's all-purchases NDCG@10 on this run's test window (``as_of`` on).

    The service's model knows the purchases to the end of its data, which can reach into this
    window, so what the champion learnt (its ranker, EASE's L2 and its list choices) is
    scored on this run's history as of ``as_of``, as the new version is: the two numbers
    differ only by what each learnt. A model of another format raises
    :class:`~features.artifacts.IncompatibleModelError` (it cannot be served either)."""
    champion = BlendedRecommender.load(path).at(cache, as_of)
    meta = json.loads((path / "meta.json").read_text())
    served = meta.get("served") or {}  # a list it leaves out is the ranker's, as _served_recommend reads it
    recommend = _served_recommend(served, champion, _estimators(champion, served), champion.history_.orders)
    return evaluate(recommend, test, champion.history_.items, tasks=("all",))["all_ndcg_at_10"]


def plan_recs(orders: pd.DataFrame, as_of: pd.Timestamp | None, params: RankerParams,
              log: Callable[[str], None] = print) -> tuple[pd.Timestamp, RankerParams, list[int]]:
    """``as_of`` and the ranker's windows (:func:`training.ranker.plan_windows`) before it.

    ``as_of`` None: the start of the data's last :data:`RECS_TEST_DAYS` days, or of the
    longest of :data:`RECS_TEST_STEPS` that leaves the ranker two windows (a short history
    gets a shorter test).

    When no step leaves the ranker two windows (or the given ``as_of`` does not), there is no
    ranker, and the counts are empty. The params' windows are then the validation windows on
    which the best baseline per list is chosen (:func:`choose_served`): up to ``n_windows`` of
    up to ``window_days`` days, each after as much history as it lasts, the most that leave
    each :data:`MIN_VALIDATION_DAYS` (else one, of half the history). Without a given
    ``as_of`` it is the longest step with enough customers and items (:func:`check_recs`) and
    twice :data:`~training.ranker.MIN_WINDOW_DAYS` of history before it, else the shortest
    step with enough customers and items: the baselines learn from the most history there is.
    Raises :class:`~training.jobs.feasibility.CannotTrain`, with the shortest step's numbers,
    when no step has enough customers and items.
    """
    end = data_end(orders)
    tries = [as_of] if as_of is not None else [end - pd.Timedelta(days=d) for d in RECS_TEST_STEPS]
    feasible = []
    for at in tries:
        try:
            check_recs(orders, at)
        except CannotTrain:
            if at is tries[-1] and not feasible:
                raise
            continue
        feasible.append(at)
        plan, counts = plan_windows(orders, at, params)
        if plan.n_windows >= 2:
            if at is not tries[0]:
                log(f"[recs] test window: the last {(end - at).days} days; the {RECS_TEST_DAYS}-day default "
                    "leaves too little history before it for the ranker")
            return at, plan, counts
    first = orders[s.TIMESTAMP].min()
    at = next((a for a in feasible if (a - first).days >= 2 * MIN_WINDOW_DAYS), feasible[-1])
    span = (at - first).days
    # As the ranker's windows (each after as much history as it lasts), as many as the history
    # holds of MIN_VALIDATION_DAYS or more: a thin shop's few customers per window add up.
    n = next((n for n in range(params.n_windows, 0, -1) if span // (n + 1) >= MIN_VALIDATION_DAYS), 1)
    days = max(min(params.window_days, span // (n + 1)), 1)
    windows = f"{n} windows of {days} days" if n > 1 else f"the last {days} days"
    log(f"[recs] no ranker: {span_words(orders, at)}; the ranker needs two windows of at least "
        f"{MIN_WINDOW_DAYS} days, each with {MIN_WINDOW_CUSTOMERS} customers who bought before it and in it. "
        f"Each list is served by a baseline ({', '.join(f'{k}: {v}' for k, v in NO_RANKER_DEFAULT.items())}, "
        f"unless another beats it on {windows} before {at.date()})"
        + (f"; tested on the last {(end - at).days} days" if as_of is None else ""))
    return at, RankerParams(**{**asdict(params), "n_windows": n, "window_days": days}), []


def train_recs(ws: Workspace, orders: pd.DataFrame, items: pd.DataFrame, as_of: pd.Timestamp | None,
               log: Callable[[str], None] = print, params: RankerParams | None = None,
               baselines: bool = True, promote: bool = True, cluster: Cluster | None = None,
               as_tested: bool = False) -> TrainResult:
    """Fit the blended recommender before ``as_of``; report it and the baselines after it
    (the final ranker on a Dask ``cluster`` when given).

    ``as_of`` None: the start of the data's last 90 days, or fewer on a short history
    (:func:`plan_recs`). The ranker's windows follow the history
    (:func:`training.ranker.plan_windows`); too little of it raises
    :class:`~training.jobs.feasibility.CannotTrain`.

    EASE's L2 is tuned on the last window before ``as_of`` (logged as nested runs), the
    ranker early-stops on it, and everything is refit on all data before ``as_of``. The
    test window (``as_of`` to the end of the data) is only used for the report and for the
    comparison with the current champion.

    What is registered for the service: with ``as_of`` None, the tested ranker and list
    choices on the purchases to the end of the data (:meth:`BlendedRecommender.at`: the
    history, EASE, seasonal weights, popularity, trending, item-kNN and frequently bought
    together refit there), so customers and items of the test window are known; with a
    given ``as_of`` or ``as_tested``, the model as tested (backtests, and measuring the
    service on the test window).
    """
    advance = as_of is None and not as_tested
    as_of, params, counts = plan_recs(orders, as_of, params or RankerParams(), log)
    ranked = bool(counts)
    if ranked:
        log(f"[recs] ranker windows: {params.n_windows} of {params.window_days} days before {as_of.date()}, "
            f"with {', '.join(f'{c:,}' for c in counts)} customers")
    client = registry.connect(ws)
    t0 = time.perf_counter()
    cache = FitCache(orders, params.ease_dense_items, params.ease_neighbours)
    l2, trials = _tune_ease(cache, as_of, params, log)
    params = RankerParams(**{**asdict(params), "ease_l2": l2})
    if ranked:
        model = BlendedRecommender(params).fit(orders, as_of, log=lambda m: log(f"[recs] {m}"), cache=cache,
                                               cluster=cluster)
        probe = one_pass(model.at_validation(cache).recommend_tasks)
    else:
        model, probe = BlendedRecommender.without_ranker(params, cache, as_of), None
    history = model.history_
    starts = model.cutoffs_[-1:] if ranked else params.window_cutoffs(as_of)
    served, validation = choose_served(cache, starts, as_of, l2, log, probe)
    estimators, popularity, fbt = _parts(model, orders, served)
    fit_seconds = time.perf_counter() - t0
    log(f"[recs] {'blended recommender' if ranked else 'baselines'} fitted in {fit_seconds:.1f}s: "
        f"{len(history.users):,} customers x {len(history.items):,} items before {as_of.date()}")
    end = data_end(orders)
    advance = advance and end > as_of
    if advance:  # the service's EASE and seasonal ridge fit in the background while the test is scored
        cache.prefetch_ease(end, [params.ease_l2])
        if ranked:
            cache.prefetch_season(end, params)
    window = (f"train < {as_of.date()}, validation {starts[0].date()}..{as_of.date()}, "
              f"test {as_of.date()}..{end.date()} (exclusive)")
    test = heldout_window(orders, history.users, as_of, max_customers=MAX_EVAL_CUSTOMERS) if end > as_of \
        else None
    table: dict[str, dict[str, float]] = {}
    notes = []
    fbt_table: dict[str, dict[str, float]] = {}
    if test is not None and test.users:
        if baselines:
            skipped = [name for name in DENSE_ONLY if is_large(history.orders)]
            if skipped:
                notes.append(f"{', '.join(skipped)} not fitted above {DENSE_ITEMS:,} items "
                             "(docs/experiments.md)")
            for name in [n for n in BASELINES if n not in skipped]:
                est = estimators.get(name) or _baseline(name, history, model.item_weights_, params.ease_l2)
                table[name] = evaluate(matrix_recommender(est, history.orders), test, history.items)
        if ranked:
            table["blended"] = evaluate(one_pass(model.recommend_tasks), test, history.items)
        if set(served.values()) != {"blended"}:  # what /recommend and /buy_again serve
            table["served"] = evaluate(_served_recommend(served, model, estimators, history.orders), test,
                                       history.items)
            notes.append("served: " + ", ".join(f"{task} by {name}" for task, name in served.items())
                         + " (chosen on the validation window" + ("" if ranked else "; no ranker") + ")")
        baskets = basket_matrix(orders, as_of, end, history.items)[0]
        def popular_for(carts, k, after=None):
            taken = after if after is not None else [[] for _ in carts]
            return np.array([list(t) + [i for i in popularity.order_[: 2 * k] if i not in c and i not in t]
                             [: k - len(t)] for c, t in zip(carts, taken, strict=True)])

        def fbt_then_popular(carts, k):
            # As a storefront would show it: the rules first, popular items to fill the list.
            return popular_for(carts, k, [[i for i in row if i >= 0] for row in fbt.recommend(carts, k)[0]])

        fbt_table = {"fbt": evaluate_baskets(fbt_then_popular, baskets, max_orders=MAX_EVAL_ORDERS),
                     "popularity": evaluate_baskets(popular_for, baskets, max_orders=MAX_EVAL_ORDERS)}
        if fbt_table["fbt"]:
            f, p = fbt_table["fbt"], fbt_table["popularity"]
            scored, of = int(f["basket_orders"]), int(f["basket_orders_in_window"])
            notes.append(f"frequently bought together (filled with popular items) on "
                         f"{scored:,}{f' (a seeded sample) of {of:,}' if of > scored else ''} test orders "
                         f"(one item -> the rest): "
                         f"NDCG@10 {f['basket_ndcg_at_10']:.4f}, HR@10 {f['basket_hit_rate_at_10']:.4f}; "
                         f"popularity {p['basket_ndcg_at_10']:.4f}, {p['basket_hit_rate_at_10']:.4f}")
        new = evaluate_new_customers(list(history.items.ids[popularity.order_[:10]]), test)
        for row in table.values():
            row.update(new)
        sampled = test.sampled_from > len(test.users)
        sample = f", a seeded sample of the {test.sampled_from:,}" if sampled else ""
        notes.append(f"test customers: {len(test.users):,} seen before {as_of.date()} who bought in the "
                     f"test window{sample} ({len(test.truth['discovery']):,} bought something new; "
                     f"{len(test.new_truth):,} new customers get popular items)")
    else:
        notes.append("no purchases after as_of: model registered without test metrics")
    metrics = table.get("served", table.get("blended", {}))
    baseline = table.get("popularity", {})
    if advance:
        t1 = time.perf_counter()
        model = model.at(cache, end)
        history = model.history_
        estimators, popularity, fbt = _parts(model, orders, served)
        last = (end - pd.Timedelta(days=1)).date()
        log(f"[recs] for the service: the tested model on the purchases to {last}, {len(history.users):,} "
            f"customers x {len(history.items):,} items, in {time.perf_counter() - t1:.1f}s")
        notes.append(f"the service's model knows the purchases to {last}: the tested {'ranker and ' * ranked}"
                     "list choices on the whole data's history, EASE weights and popularity "
                     "(`--as-tested` registers the model as tested)")
    titles = items.set_index(s.ITEM_ID)[s.TITLE].reindex(history.items.ids).fillna("").to_numpy()
    with registry.scratch_dir() as tmp:
        model_dir = Path(tmp) / "model"
        knn = estimators.get("item_knn")
        outside = uncovered(model.item_weights_, history.orders)
        t1 = time.perf_counter()
        neighbours = co_bought(history.orders, outside) if len(outside) else None
        if neighbours is not None:
            log(f"[recs] similar items for the {len(outside):,} bought items outside EASE's "
                f"{model.params.ease_dense_items:,}: what their buyers bought, "
                f"in {time.perf_counter() - t1:.1f}s")
        model.save(model_dir, titles, popularity.item_scores_,
                   {"window": window, "tested_as_of": str(as_of.date()), "fbt": fbt.get_params(),
                    "served": served}, fbt_scores=fbt.score_,
                   knn_scores=knn.similarity_ if knn is not None else None,
                   co_bought=neighbours)
        plot_files = []
        if table:
            curves = {n: {k: r[f"all_ndcg_at_{k}"] for k in CURVE_KS} for n, r in table.items()}
            plot_files.append(plots.save(plots.metric_by_k(curves, "NDCG (all purchases)"),
                                         Path(tmp) / "ndcg_by_k.png"))
            groups = {n: {g: r[f"all_ndcg_at_10_{g}"] for g in ("new", "light", "heavy")
                          if f"all_ndcg_at_10_{g}" in r} for n, r in table.items()}
            plot_files.append(plots.save(plots.by_group(groups, "NDCG@10"), Path(tmp) / "ndcg_by_group.png"))
        logged = {**metrics, **{f"{name}.{m}": v for name, row in table.items() if name != "served"
                                for m, v in row.items()},
                  **{f"validation.{name}.{task}_ndcg_at_10": row[f"{task}_ndcg_at_10"]
                     for name, row in validation.items() for task in TASKS if f"{task}_ndcg_at_10" in row},
                  **{f"{name}.{m}": v for name, row in fbt_table.items() for m, v in row.items()},
                  "fit_seconds": fit_seconds,
                  "ranker_validation_ndcg_at_10": model.validation_ndcg_}
        run_id, version = registry.log_and_register(
            client, ws, "recs", model_dir,
            params={**asdict(params), "best_rounds": model.best_rounds_, "probe_rounds": model.probe_rounds_},
            metrics={k: v for k, v in logged.items() if np.isfinite(v)},
            tags={"as_of": str(as_of.date()), "window": window, "feature_set": RANKER_FEATURE_SET,
                  "served": ",".join(f"{task}:{name}" for task, name in served.items()),
                  "data_digest": data_digest(ws.table_path("orders"))},
            run_name=f"{'blended' if ranked else 'baselines'} as_of={as_of.date()}", plots=plot_files,
            trials=trials, example=_recs_example(_served_recommend(served, model, estimators, history.orders),
                                                 history))
    promoted, reason, old_version, old_score = decide(
        client, "recs", version, metrics.get(PRIMARY_METRIC["recs"]),
        (lambda p: _champion_score(p, cache, as_of, test)) if test is not None and test.users else None,
        apply=promote)
    return TrainResult("recs", version, run_id, metrics, "popularity", baseline, promoted,
                       reason, window, notes, table, old_version, old_score, applied=promote)


def _recs_example(recommend: Recommend, history, n: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Signature example of the "for you" model: customer ids and k in, the served item ids out."""
    rows = np.arange(min(n, len(history.users)))
    items = recommend(rows, 10, "all")
    return (pd.DataFrame({"customer_id": history.users.ids[rows].astype(str), "k": 10}),
            pd.DataFrame({"item_ids": [[str(history.items.ids[i]) for i in r if i >= 0] for r in items]}))
