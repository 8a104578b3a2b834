"""``shelfwise``: the one command line for the offline side of the pipeline.

Sub-commands mirror the pipeline: ``ingest`` -> ``features build`` -> ``train`` -> ``serve``.
Settings are read once here (``SHELFWISE_HOME``) and passed down.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from features import cluster, customer_parts
from features import schema as s
from features.customer_features import (
    DEFAULT_FEATURE_SET,
    EVENT_COLUMNS,
    FEATURE_SETS,
    HOME_CODED,
    HOME_COLUMNS,
    History,
    baskets,
    build_customer_features,
    get_feature_set,
)
from features.interactions import InteractionWeights, build_interactions
from features.item_features import EVENT_DAYS as ITEM_EVENT_DAYS
from features.item_features import build_item_features, catalogue_as_of
from features.snapshots import (
    data_end,
    model_customers,
    sampled_ids,
    snapshot_dir,
    snapshot_manifest,
    training_cutoffs,
    training_set,
    write_snapshot,
)
from features.sources import mapped
from features.sources.imports import ImportReport
from features.sources.ingest import (
    SOURCES,
    is_derived,
    keep_report,
    leave_out_forgotten,
    read_import,
    read_import_parts,
    store_import,
)
from features.sources.simulate import COLUMNS as SIMULATED_FROM
from features.sources.simulate import SimulationParams, funnel_counts, funnel_rates, simulate_event_parts
from features.version import code_version
from features.workspace import Settings, Workspace
from training import progress


def _positive(text: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return value


MAX_HORIZON_DAYS = 3650


def _horizon(text: str) -> int:
    value = _positive(text)
    if value > MAX_HORIZON_DAYS:
        raise argparse.ArgumentTypeError(f"{text!r} days is longer than {MAX_HORIZON_DAYS:,} (ten years)")
    return value


def _as_of_error(orders: pd.DataFrame, as_of: pd.Timestamp, optional: bool = True) -> str | None:
    """Why ``--as-of`` cannot be used with these orders, or None: before the first order there is
    nothing to learn from; after the day after the last one, label windows would run past the
    data and count every customer as gone."""
    first = orders[s.TIMESTAMP].min()
    if as_of <= first:
        return f"--as-of {as_of.date()} is before the first order ({first.date()}); nothing to train on"
    end = data_end(orders)
    if as_of > end:
        instead = ", or leave --as-of out to test on the latest data" if optional else ""
        return (f"--as-of {as_of.date()} is after the data: the last order is on "
                f"{orders[s.TIMESTAMP].max().date()}, so give {end.date()} at the latest{instead}")
    return None


def _date(text: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(datetime.strptime(text, "%Y-%m-%d"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


_log_file: Path | None = None


def _say(msg: str) -> None:
    """Print for the user and append to the workspace's log, so a run's report is kept."""
    print(msg, flush=True)
    if _log_file is not None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(_log_file, "a") as f:
            f.write(f"{stamp} {msg}\n")


def cmd_ingest(ws: Workspace, args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    name, parts, label = read_import_parts(args.path, args.source, args.mapping, args.table, _say)
    forgotten, rejects, reports = ws.forgotten_ids(), [], []

    def accepted():  # a part at a time: a large export is never in memory whole
        for table, part_rejects, report in parts:
            table, part_rejects = leave_out_forgotten(forgotten, table, part_rejects, report)
            rejects.append(part_rejects)
            reports.append(report)
            yield table

    # Each import replaces the table it writes, so re-importing a file is idempotent.
    written = store_import(ws, name, accepted(), label)
    kept = keep_report(ws, name, pd.concat(rejects, ignore_index=True), ImportReport.merged(reports),
                       say=_say)
    _say(f"{'; '.join(written)}; rejects with reasons -> {kept} ({time.perf_counter() - t0:.1f}s)")
    return 0


def _simulate(ws: Workspace, seed: int) -> None:
    t0 = time.perf_counter()
    orders = ws.read_table("orders", columns=SIMULATED_FROM)
    counts = Counter()

    def parts():  # a part at a time: a large shop's events do not fit in memory at once
        for part in simulate_event_parts(orders, SimulationParams(seed=seed)):
            counts.update(funnel_counts(part))
            yield part

    path, rows = ws.write_table_parts("events", parts(), f"simulated around the orders table (seed {seed})")
    rates = funnel_rates(counts, orders)
    _say(f"simulated {rows:,} browsing events (marked simulated) in {rates['sessions']:,} sessions, "
         f"{rates['anonymous_session_share']:.0%} anonymous -> {ws.table_path('events')} "
         f"({time.perf_counter() - t0:.1f}s)")
    _say(f"funnel: {rates['views_per_order_line']:.2f} views per order line bought, view->cart "
         f"{rates['view_to_cart']:.1%}, cart->purchase {rates['cart_to_purchase']:.1%}, "
         f"cart removals {rates['cart_removal_rate']:.1%}")


def cmd_events_simulate(ws: Workspace, args: argparse.Namespace) -> int:
    current = ws.table_sources().get("events", {}).get("source", "")
    if current and not current.startswith("simulated") and not args.replace_recorded:
        raise ValueError(f"the workspace's events were imported from {current}; simulating would replace "
                         "a recorded log (pass --replace-recorded to do it anyway)")
    _simulate(ws, args.seed)
    return 0


def cmd_features_build(ws: Workspace, args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if error := _as_of_error(ws.read_table("orders", columns=[s.TIMESTAMP]), args.as_of, optional=False):
        _say(f"error: {error}")
        return 2
    fs = get_feature_set(args.feature_set)
    out = ws.features / fs.name / f"as_of={args.as_of.date()}"
    out.mkdir(parents=True, exist_ok=True)
    rows = ws.table_rows("orders") + ws.table_rows("events")
    n = customer_parts.part_count(rows, getattr(args, "part_rows", None) or customer_parts.PART_ROWS)
    on_cluster = args.dask is not None or os.environ.get(cluster.SCHEDULER_ENV)
    weights = InteractionWeights()
    if n > 1 and not on_cluster:
        _say(f"[features] {rows:,} order lines and events: customers built in {n} parts")
        customers, cutoffs, train_rows, snapshot, interactions = _customers_in_parts(ws, args, fs.name, n,
                                                                                     weights, t0)
        # The item features read the orders whole (a fraction of the events) and the last days' events.
        orders = ws.read_table("orders")
        events = ws.read_events(EVENT_COLUMNS, since=args.as_of - pd.Timedelta(days=ITEM_EVENT_DAYS))
    else:
        orders, events = ws.read_table("orders"), ws.read_events(EVENT_COLUMNS)
        customers, cutoffs, train_rows, snapshot = _customers_whole(ws, args, fs.name, orders, events, t0)
        interactions = build_interactions(orders, args.as_of, events, weights)
    customers.reset_index().to_parquet(out / "customers.parquet", index=False)
    items = catalogue_as_of(ws.read_table_if_present("items"), orders, args.as_of,
                            derived_from_orders=is_derived(ws, "items"))
    item_feats = build_item_features(orders, args.as_of, items, events)
    item_feats.reset_index().to_parquet(out / "items.parquet", index=False)
    matrix, users, item_index = interactions
    coo = matrix.tocoo()
    # Ids as codes into each id list (Parquet's dictionary encoding), not a string per non-zero
    # entry: tens of millions of them at a million customers.
    pd.DataFrame({s.USER_ID: pd.Categorical.from_codes(coo.row, users.ids),
                  s.ITEM_ID: pd.Categorical.from_codes(coo.col, item_index.ids),
                  "weight": coo.data}).to_parquet(out / "interactions.parquet", index=False)
    _say(f"[features] as of {args.as_of.date()}: {len(customers):,} customers x {customers.shape[1]} "
         f"features, {len(item_feats):,} items x {item_feats.shape[1]} features, interactions "
         f"{len(users):,} x {len(item_index):,} with {matrix.nnz:,} non-zero "
         f"({time.perf_counter() - t0:.1f}s)")
    manifest = {
        "feature_set": fs.name, "columns": list(fs.columns), "as_of": str(args.as_of.date()),
        "customers": len(customers), "items": len(item_feats),
        "events": ws.table_sources().get("events", {}).get("source", "none"),
        "training_set": None if snapshot is None else str(snapshot.relative_to(out)),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    _say(f"[features] summary: {len(cutoffs)} monthly cutoffs "
         f"{cutoffs[0].date() if cutoffs else '-'}..{cutoffs[-1].date() if cutoffs else '-'} "
         f"({args.horizon_days}-day labels) -> {train_rows:,} training rows"
         f"{f' in {snapshot}' if snapshot else ''}, which `train churn|cltv --as-of "
         f"{args.as_of.date()}` reads; {len(customers):,} customers, {len(item_feats):,} items; "
         f"{time.perf_counter() - t0:.1f}s -> {out}")
    return 0


def _customers_whole(ws: Workspace, args: argparse.Namespace, feature_set: str, orders: pd.DataFrame,
                     events: pd.DataFrame | None, t0: float) -> tuple[pd.DataFrame, list, int, Path | None]:
    """Every customer's features as of the cutoff and the churn and CLTV training set (its
    snapshot), from the tables held whole; returns the features, the cutoffs, the training
    rows and the snapshot's folder."""
    history = History(orders, events)
    _say(f"[features] {len(orders):,} order lines, "
         f"{'no events' if events is None else f'{len(events):,} events'} "
         f"prepared ({time.perf_counter() - t0:.1f}s)")
    customers = build_customer_features(history, args.as_of, feature_set=feature_set)
    cutoffs = training_cutoffs(orders, args.as_of, args.horizon_days)
    model_orders, model_events, sampled_from = model_customers(orders, events)
    if sampled_from:
        history = History(model_orders, model_events)  # the whole base's is not needed from here on
        _say(f"[features] churn and CLTV learn from {model_orders[s.CUSTOMER_ID].nunique():,} of "
             f"{sampled_from:,} customers (sampled by id)")

    def report(i: int, n: int, cutoff: pd.Timestamp, rows: int) -> None:
        cutoff_bar.update(1)
        _say(f"[features] cutoff {i}/{n} {cutoff.date()}: {rows:,} customers "
             f"({time.perf_counter() - t0:.1f}s)")

    rows, snapshot = 0, None
    if cutoffs:
        with cluster.connect(args.dask) as dask, \
                progress.bar(total=len(cutoffs), desc="feature cutoffs", unit="cutoff") as cutoff_bar:
            train, snapshot, _ = training_set(ws.features, model_orders, model_events, args.as_of,
                                              args.horizon_days, feature_set, cutoffs, history, log=_say,
                                              progress=report, cluster=dask)
            if dask is not None:
                _say(f"[dask] {dask.describe()}")
        rows = len(train)
    return customers, cutoffs, rows, snapshot


def _customers_in_parts(ws: Workspace, args: argparse.Namespace, feature_set: str, n: int,
                        weights: InteractionWeights, t0: float
                        ) -> tuple[pd.DataFrame, list, int, Path | None, tuple]:
    """:func:`_customers_whole` ``n`` parts of the customers at a time
    (:mod:`features.customer_parts`), and the interactions with ``weights``: a part's rows in
    memory, not the whole history."""
    lines = ws.read_table("orders", HOME_COLUMNS, categorical=HOME_CODED)
    cutoffs = training_cutoffs(lines, args.as_of, args.horizon_days)
    ids = lines[s.CUSTOMER_ID].unique()
    kept = sampled_ids(np.asarray(ids, dtype=str))
    home, homes = customer_parts.home_countries(baskets(lines), args.as_of, cutoffs, kept)
    del lines
    if kept is not None:
        _say(f"[features] churn and CLTV learn from {len(kept):,} of {len(ids):,} customers (sampled by id)")

    def report(i: int, n: int, customers: int, rows: int) -> None:
        part_bar.update(1)
        _say(f"[features] part {i}/{n}: {customers:,} customers, {rows:,} training rows "
             f"({time.perf_counter() - t0:.1f}s)")

    with tempfile.TemporaryDirectory(dir=ws.features, prefix=".parts-") as folder, \
            progress.bar(total=n, desc="customer parts", unit="part") as part_bar:
        built = customer_parts.build_in_parts(
            ws.table_batches("orders"), ws.event_batches(EVENT_COLUMNS), n, Path(folder), args.as_of, home,
            cutoffs, args.horizon_days, feature_set, kept, homes, weights, progress=report,
            log=lambda text: _say(f"[features] {text} ({time.perf_counter() - t0:.1f}s)"))
    snapshot = None
    if built.training is not None:
        snapshot = snapshot_dir(ws.features, feature_set, args.as_of, args.horizon_days)
        write_snapshot(snapshot, built.training, snapshot_manifest(feature_set, args.as_of, args.horizon_days,
                                                                   cutoffs, built.digest))
    rows = 0 if built.training is None else len(built.training)
    return built.customers, cutoffs, rows, snapshot, built.interactions


EXIT_SKIPPED, EXIT_NONE_TRAINED = 3, 4  # `train`: some families skipped / none trained
DASK_HELP = ("build the churn and CLTV training sets and fit the boosters (churn, CLTV, the ranker) on a "
             "Dask cluster: local:N "
             "(N worker processes here) or a scheduler's address, tcp://host:8786 (default: "
             f"${cluster.SCHEDULER_ENV}, else this process)")


# What churn and CLTV alone read of every order line: the windows' plan needs the span and the
# customers; the customers they learn from are then read whole (_train_family).
PLAN_COLUMNS = [s.CUSTOMER_ID, s.TIMESTAMP]


def cmd_train(ws: Workspace, args: argparse.Namespace) -> int:
    recs = args.family in ("all", "recs")
    orders = (ws.read_table("orders") if recs
              else ws.read_table("orders", PLAN_COLUMNS, categorical=[s.CUSTOMER_ID]))
    if args.as_of is not None and (error := _as_of_error(orders, args.as_of)):
        _say(f"error: {error}")
        return 2
    families = ["recs", "churn", "cltv"] if args.family == "all" else [args.family]
    with cluster.connect(args.dask) as dask:
        rows = _train_families(ws, args, orders, families, dask)
        if dask is not None:
            _say(f"[dask] {dask.describe()}")
    return _train_summary(rows)


def _train_family(ws: Workspace, orders: pd.DataFrame, family: str, as_of: pd.Timestamp | None,
                  dask: cluster.Cluster | None, horizon_days: int | None = None, promote: bool = True,
                  as_tested: bool = False):
    """One family's training job (``train`` and ``retrain``)."""
    from training.jobs import train_customer_model, train_recs  # heavy imports: only here

    if family == "recs":
        return train_recs(ws, orders, ws.read_table("items"), as_of, log=_say, promote=promote, cluster=dask,
                          as_tested=as_tested)
    # A large base's model learns from a sample of its customers: only their events are read,
    # and only their order lines when `orders` holds just the columns that plan the windows.
    kept = sampled_ids(orders[s.CUSTOMER_ID].unique())
    events = ws.read_events(EVENT_COLUMNS, users=kept)
    lines = None
    if list(orders.columns) == PLAN_COLUMNS:
        lines = ws.read_table("orders", only=None if kept is None else (s.CUSTOMER_ID, kept))
    return train_customer_model(ws, orders, family, as_of, horizon_days, log=_say, events=events,
                                promote=promote, cluster=dask, lines=lines)


def _train_families(ws: Workspace, args: argparse.Namespace, orders: pd.DataFrame, families: list[str],
                    dask: cluster.Cluster | None) -> list[tuple]:
    from training.jobs.feasibility import CannotTrain

    rows = []
    for family in families:
        t0 = time.perf_counter()
        try:
            result = _train_family(ws, orders, family, args.as_of, dask, args.horizon_days,
                                   as_tested=args.as_tested)
        except CannotTrain as exc:
            _say(f"[{family}] not trained: {exc}")
            rows.append((family, "skipped", f"{exc.why}; try {exc.hint}"))
            continue
        for line in result.lines():
            _say(line)
        seconds = time.perf_counter() - t0
        _say(f"[{family}] done in {seconds:.1f}s")
        alias = "champion" if result.promoted else "challenger"
        rows.append((family, "trained", f"version {result.version} ({alias}), {seconds:.0f}s"))
    return rows


def _train_summary(rows: list[tuple]) -> int:
    """Print what was trained and skipped (several families); the exit code says which."""
    skipped = sum(state == "skipped" for _, state, _ in rows)
    families = [family for family, _, _ in rows]
    if len(families) > 1:
        _say("[train] summary:")
        for family, state, detail in rows:
            _say(f"  {family:<6} {state:<8} {detail}")
    if skipped:
        _say("[train] the service serves the families that have a champion; the others' endpoints answer 503 "
             "until they are trained")
    return 0 if not skipped else EXIT_NONE_TRAINED if skipped == len(families) else EXIT_SKIPPED


def _retrain_families(ws: Workspace, orders: pd.DataFrame, dask: cluster.Cluster | None) -> list | None:
    """Train every family without promoting; their results, or None when one failed (said why)."""
    from training.jobs.feasibility import CannotTrain
    from training.retrain import FAMILIES

    results = []
    for family in FAMILIES:
        # Without an as_of each family tests on the last window the data covers
        # (retrain_as_of's, when the data allows the default horizon).
        _say(f"[retrain] training {family}")
        try:
            results.append(_train_family(ws, orders, family, None, dask, promote=False))
        except CannotTrain as exc:  # the data does not allow it yet: the others still train
            _say(f"[retrain] {family} not trained: {exc}")
            continue
        except Exception as exc:  # a cron job reports any failure and leaves the champions alone
            _say(f"[retrain] failed while training {family}: {type(exc).__name__}: {exc}")
            _say("[retrain] no alias was changed: the champions are the ones before this run "
                 "(versions it registered have no alias: "
                 f"{', '.join(f'{r.family} v{r.version}' for r in results) or 'none'})")
            if _log_file is not None:
                with open(_log_file, "a") as f:
                    traceback.print_exc(file=f)
            return None
        for line in results[-1].lines():
            _say(line)
    return results


def _ingest_inbox(ws: Workspace, inbox: Path, source: str) -> None:
    """Merge the inbox's order files into the orders table (``shelfwise retrain``'s first step)."""
    from training.retrain import inbox_files, merge_orders, move_processed

    files = inbox_files(inbox)
    # Every file is read and checked before anything is written: one unreadable file stops the
    # run with the workspace and the registry as they were.
    imports = [(f, *read_import(f, source, say=_say)) for f in files]
    forgotten = ws.forgotten_ids()
    imports = [(f, name, *leave_out_forgotten(forgotten, table, rejects, report), report, label)
               for f, name, table, rejects, report, label in imports]
    current = ws.read_table_if_present("orders")
    if current is None and not imports:
        raise ValueError(f"nothing to train on: no orders in the workspace and no files in {inbox}; "
                         "put order exports there or run `shelfwise ingest` first")
    if not imports:
        _say(f"[retrain] no new files in {inbox}: retraining on the workspace's data")
        return
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for f, _, _, rejects, report, _ in imports:
        keep_report(ws, "orders", rejects, report, rejects_name=f"orders-{stamp}-{f.stem}", say=_say)
    merged, added = merge_orders(current, [table for _, _, table, *_ in imports])
    accepted = sum(len(table) for _, _, table, *_ in imports)
    written = store_import(ws, "orders", [merged], f"{len(files)} inbox file(s) merged")
    moved = move_processed(files, inbox)
    _say(f"[retrain] inbox: {len(files)} file(s), {accepted:,} lines accepted, {added:,} new and "
         f"{accepted - added:,} already in the table; {'; '.join(written)}; files moved to {moved[0].parent}")
    events_source = ws.table_sources().get("events", {}).get("source", "")
    if events_source.startswith("simulated"):  # simulated events follow the orders they surround
        _simulate(ws, int(m.group(1)) if (m := re.search(r"seed (\d+)", events_source)) else 0)


def cmd_retrain(ws: Workspace, args: argparse.Namespace) -> int:
    from training import registry
    from training.jobs import PRIMARY_METRIC, apply_decision
    from training.retrain import EXIT_LOCKED, Locked, exclusive_lock, retrain_as_of, summary_lines

    try:
        with exclusive_lock(ws.home / "retrain.lock"), ws.write_lock("run `shelfwise retrain`"):
            t0 = time.perf_counter()
            _ingest_inbox(ws, args.inbox or ws.home / "inbox", args.source)
            orders = ws.read_table("orders")
            with cluster.connect(args.dask) as dask:  # one cluster for the features and every family
                build = argparse.Namespace(as_of=retrain_as_of(orders, "churn"), horizon_days=90,
                                           feature_set=DEFAULT_FEATURE_SET, dask=dask)
                cmd_features_build(ws, build)
                results = _retrain_families(ws, orders, dask)
                if dask is not None:
                    _say(f"[dask] {dask.describe()}")
            if results is None:
                return 1
            # Aliases last, all together: a run that fails above changes none.
            client, rows = registry.connect(ws), []
            for r in results:
                apply_decision(client, r.family, r.version, r.promoted)
                metric = PRIMARY_METRIC[r.family]
                rows.append({"family": r.family, "metric": metric, "old_version": r.champion_version,
                             "old_score": r.champion_score, "version": r.version,
                             "score": r.metrics.get(metric),
                             "decision": f"{'promoted' if r.promoted else 'kept the champion'}: {r.reason}"})
            _say(f"[retrain] done in {time.perf_counter() - t0:.0f}s; a running service switches to the new "
                 "champions within SHELFWISE_RELOAD_SECONDS (default 30)")
            for line in summary_lines(rows):
                _say(line)
            # The customer scores of the champions now on the data now, once, for every worker to read.
            if _run_serving(ws, "serving.marketing.score") != 0:
                _say("[retrain] customer scores not written (see above); the service's first worker will "
                     "score and write them")
    except Locked as exc:
        print(f"error: {exc}; try again when it has finished", file=sys.stderr)
        return EXIT_LOCKED
    return 0


def cmd_models_list(ws: Workspace, args: argparse.Namespace) -> int:
    from training import registry
    from training.jobs import PRIMARY_METRIC

    rows = registry.list_versions(registry.connect(ws))
    if not rows:
        _say("no registered models yet; run `shelfwise train all --as-of YYYY-MM-DD`")
        return 0
    _say(f"{'model':<18}{'version':>8}  {'aliases':<22}{'as of':<12}{'primary metric':>28}  run")
    for r in rows:
        metric = PRIMARY_METRIC[r["family"]]
        value = r["metrics"].get(metric)
        shown = f"{metric} {value:.4f}" if value is not None else "-"
        _say(f"{registry.MODEL_NAMES[r['family']]:<18}{r['version']:>8}  {', '.join(r['aliases']) or '-':<22}"
             f"{r['as_of']:<12}{shown:>28}  {r['run_id']}")
    return 0


def cmd_promote(ws: Workspace, args: argparse.Namespace) -> int:
    from training import registry

    previous = registry.promote(registry.connect(ws), args.family, str(args.version))
    _say(f"{registry.MODEL_NAMES[args.family]} version {args.version} is now champion"
         + (f"; version {previous} is challenger" if previous and str(previous) != str(args.version) else "")
         + ". A running service switches to it within SHELFWISE_RELOAD_SECONDS (default 30), "
           "or at once after POST /admin/reload.")
    return 0


def _run_serving(ws: Workspace, module: str, *args: str) -> int:
    """Run a ``serving`` module on this workspace. A subprocess, not an import: training and
    serving meet only through the registry's champions."""
    env = {**os.environ, "SHELFWISE_HOME": str(ws.home)}
    return subprocess.run([sys.executable, "-m", module, *args], env=env).returncode


def cmd_score_customers(ws: Workspace, args: argparse.Namespace) -> int:
    return _run_serving(ws, "serving.marketing.score", *(["--out", str(args.out)] if args.out else []),
                        *(["--refresh"] if args.refresh else []), "--part-rows", str(args.part_rows))


def cmd_experiments_attribution(ws: Workspace, args: argparse.Namespace) -> int:
    from features.experiments.attribution import attribution_table

    store = ws.existing_live_store()  # none before the service first ran
    table = attribution_table(store, args.since, args.window_days) if store is not None else pd.DataFrame()
    if table.empty:
        _say(f"no answers shown since {args.since.date()}: the service logs every list and offer it shows")
        return 0
    _say(f"answers shown since {args.since.date()}, purchases credited by last touch within "
         f"{args.window_days:g} days:")
    _say(table.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "attribution.csv", index=False)
        _say(f"wrote {args.out / 'attribution.csv'}; the marketer report (`shelfwise report`) draws it")
    return 0


def cmd_experiments_start(ws: Workspace, args: argparse.Namespace) -> int:
    from training import experiments, registry

    e, source = experiments.start(registry.connect(ws), ws.live_store(), args.name, args.family,
                                  str(args.challenger), args.share, args.mde, args.alpha, args.power,
                                  args.baseline)
    _say(f"experiment {e.name} started: shelfwise-{e.family} version {e.challenger} answers {e.share:.0%} "
         f"of shoppers, version {e.champion} (champion) the rest; a running service loads it in a second.")
    _say(f"decision rule, fixed in advance: read the verdict once each arm has {e.exposures_per_arm:,} "
         f"exposures (enough to detect a {e.mde:.0%} relative lift in conversion from a baseline of "
         f"{e.baseline_conversion:.2%}, {source}, with power {e.power:.0%} at two-sided level {e.alpha:g}); "
         "then the challenger wins if a two-proportion z-test rejects equality in its favour.")
    return 0


def cmd_experiments_report(ws: Workspace, args: argparse.Namespace) -> int:
    from training import experiments, plots, registry

    result = experiments.report(registry.connect(ws), ws.live_store(), args.name)
    e, c = result["experiment"], result["comparison"]
    table = experiments.report_frame(result)
    _say(f"experiment {e.name} ({e.status}): shelfwise-{e.family} version {e.challenger} (challenger, "
         f"{e.share:.0%} of shoppers) against version {e.champion} (champion)")
    _say(table.to_string(index=False, float_format=lambda v: f"{v:,.4f}"))
    _say(f"challenger against champion: conversion lift {c.lift:+.1%} "
         f"({1 - e.alpha:.0%} interval {c.lift_low:+.1%} to {c.lift_high:+.1%}), p = {c.p_value:.4f}")
    _say(f"verdict: {result['verdict']}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / f"{e.name}.csv", index=False)
        chart = plots.ab_test(result["arms"], f"{e.name}: {result['verdict']}")
        plots.save(chart, args.out / f"{e.name}.png")
        _say(f"wrote {args.out / (e.name + '.csv')} and {e.name}.png")
    return 0


def cmd_experiments_stop(ws: Workspace, args: argparse.Namespace) -> int:
    from training import experiments, registry

    _say(experiments.stop(registry.connect(ws), ws.live_store(), args.name, args.promote))
    return 0


# Commands that are a serving module's own (its options and --help too).
# Commands that write the workspace's files; they take its write lock (retrain takes it itself,
# after its own lock, so that a second retrain from cron exits at once instead of waiting).
WRITERS = {"ingest", "events", "features", "train"}
SERVING_COMMANDS = {"segments": "serving.marketing.tools", "offers": "serving.marketing.tools",
                    "report": "serving.marketing.tools", "keys": "serving.api.access",
                    "forget": "serving.privacy"}


def cmd_serving(ws: Workspace, argv: list[str]) -> int:
    module = SERVING_COMMANDS[argv[0]]
    # serving.marketing.tools takes the command name as its first argument; the others do not.
    return _run_serving(ws, module, *(argv if module == "serving.marketing.tools" else argv[1:]))


def cmd_mlflow_ui(ws: Workspace, args: argparse.Namespace) -> int:
    _say(f"MLflow UI for {ws.tracking_uri} at http://{args.host}:{args.port} (Ctrl-C to stop). Experiments "
         "shelfwise-recs/-churn/-cltv hold the runs (metrics, tags as_of/window/data_digest/feature_set/"
         "code_version, plots/ under Artifacts); Models lists the registered versions and their "
         "champion/challenger aliases.")
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", ws.tracking_uri,
           "--default-artifact-root", ws.artifact_root.as_uri(),
           "--host", args.host, "--port", str(args.port), "--workers", "1"]  # one person browsing
    os.execv(sys.executable, cmd)
    return 0  # pragma: no cover - execv does not return


def cmd_serve(ws: Workspace, args: argparse.Namespace) -> int:
    # A subprocess, not an import: training and serving meet only through the registry.
    env = {**os.environ, "SHELFWISE_HOME": str(ws.home)}
    cmd = [sys.executable, "-m", "serving", "--host", args.host, "--port", str(args.port)]
    os.execve(sys.executable, cmd, env)
    return 0  # pragma: no cover - execve does not return


class VersionAction(argparse.Action):
    """``--version``: asks git for the commit only when asked."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"shelfwise {code_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shelfwise", description=__doc__.splitlines()[0])
    p.add_argument("--version", action=VersionAction)
    sub = p.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="import a file into a canonical table of the workspace")
    ingest.add_argument("--source", choices=SOURCES, default=None,
                        help="online-retail-ii (UCI workbook, CSV or Parquet), cdnow, or mapped")
    ingest.add_argument("--mapping", type=Path, default=None,
                        help="column mapping (.toml/.yaml) for any shop's CSV or Parquet export")
    ingest.add_argument("--table", choices=sorted(mapped.FIELDS), default=None,
                        help="import a file that already has the canonical column names")
    ingest.add_argument("path", type=Path, help="the file to import")
    ingest.set_defaults(func=cmd_ingest)

    events = sub.add_parser("events", help="browsing events").add_subparsers(dest="action", required=True)
    simulate = events.add_parser("simulate", help="simulate browsing around the orders (marked simulated)")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument("--replace-recorded", action="store_true",
                          help="replace an imported (recorded) event log")
    simulate.set_defaults(func=cmd_events_simulate)

    feats = sub.add_parser("features", help="feature builders").add_subparsers(
        dest="action", required=True)
    build = feats.add_parser("build", help="build customer and item features, interactions and the "
                                           "stacked training set as of a date")
    build.add_argument("--as-of", type=_date, required=True, help="cutoff date, YYYY-MM-DD")
    build.add_argument("--horizon-days", type=_horizon, default=90, help="label window of the training set")
    build.add_argument("--feature-set", choices=sorted(FEATURE_SETS), default=DEFAULT_FEATURE_SET)
    build.add_argument("--dask", default=None, metavar="SPEC", help=DASK_HELP)
    build.add_argument("--part-rows", type=_positive, default=customer_parts.PART_ROWS, metavar="N",
                       help="order lines and events above which customers are built a part of about N rows "
                            "at a time, holding a part in memory instead of the whole history (default "
                            f"{customer_parts.PART_ROWS:,}; lower it to use less memory)")
    build.set_defaults(func=cmd_features_build)

    train = sub.add_parser("train", help="train, evaluate, log to MLflow, register, promote")
    train.add_argument("family", choices=["recs", "churn", "cltv", "all"])
    train.add_argument("--as-of", type=_date, default=None,
                       help="train on data strictly before this date; test on the period after (default: "
                            "each family's last test window the data covers: 90 days for recs, the "
                            "horizon for churn and CLTV)")
    train.add_argument("--horizon-days", type=_horizon, default=None,
                       help="churn/CLTV label window (default 90 for churn, 180 for CLTV, shorter when the "
                            "history is too short for them)")
    train.add_argument("--as-tested", action="store_true",
                       help="register the recommender as tested, its history ending where the test window "
                            "starts, to measure the service on that window (default without --as-of: its "
                            "history, EASE weights and popularity reach the end of the data)")
    train.add_argument("--dask", default=None, metavar="SPEC", help=DASK_HELP)
    train.set_defaults(func=cmd_train)

    retrain = sub.add_parser("retrain", help="ingest the inbox, rebuild features, retrain every family, "
                                             "promote only the winners (safe from cron)")
    retrain.add_argument("--inbox", type=Path, default=None,
                         help="folder of new order files (default: $SHELFWISE_HOME/inbox)")
    retrain.add_argument("--source", choices=("online-retail-ii", "cdnow"), default="online-retail-ii",
                         help="the format of the inbox's order files")
    retrain.add_argument("--dask", default=None, metavar="SPEC", help=DASK_HELP)
    retrain.set_defaults(func=cmd_retrain)

    models = sub.add_parser("models", help="registered model versions").add_subparsers(
        dest="action", required=True)
    listing = models.add_parser("list", help="every version with its aliases, as-of date and primary metric")
    listing.set_defaults(func=cmd_models_list)
    promote = sub.add_parser("promote", help="make a registered version the champion (overrides the metric)")
    promote.add_argument("family", choices=["recs", "churn", "cltv"])
    promote.add_argument("version", type=int)
    promote.set_defaults(func=cmd_promote)

    score = sub.add_parser("score", help="batch scoring").add_subparsers(dest="action", required=True)
    customers = score.add_parser("customers", help="every customer's churn and CLTV scores, for the service "
                                 "and optionally to a file")
    customers.add_argument("--out", type=Path, default=None, help="also write them to this .csv or .parquet")
    customers.add_argument("--refresh", action="store_true",
                           help="score again even if the table exists (counting live events since)")
    customers.add_argument("--part-rows", type=_positive, default=customer_parts.PART_ROWS, metavar="N",
                           help="order lines and events above which customers are scored a part of about "
                                f"N rows at a time (default {customer_parts.PART_ROWS:,}), as features build")
    customers.set_defaults(func=cmd_score_customers)

    experiments = sub.add_parser("experiments", help="what the service's answers earned").add_subparsers(
        dest="action", required=True)
    attribution = experiments.add_parser("attribution", help="exposures, click-through, conversion and "
                                         "attributed revenue per endpoint and variant")
    attribution.add_argument("--since", type=_date, required=True,
                             help="answers shown from this day (YYYY-MM-DD)")
    attribution.add_argument("--window-days", type=float, default=7.0,
                             help="how long a shown item earns a purchase posted without an id (7)")
    attribution.add_argument("--out", type=Path, default=None,
                             help="also write attribution.csv here")
    attribution.set_defaults(func=cmd_experiments_attribution)
    begin = experiments.add_parser("start", help="A/B test a challenger version against the champion")
    begin.add_argument("name")
    begin.add_argument("--family", default="recs", help="the model family (recs)")
    begin.add_argument("--challenger", type=int, required=True, help="the registered version to test")
    begin.add_argument("--share", type=float, default=0.2, help="share of shoppers it answers (0.2)")
    begin.add_argument("--mde", type=float, default=0.1,
                       help="smallest relative lift in conversion worth detecting (0.1)")
    begin.add_argument("--alpha", type=float, default=0.05, help="two-sided significance level (0.05)")
    begin.add_argument("--power", type=float, default=0.8, help="probability of detecting the lift (0.8)")
    begin.add_argument("--baseline", type=float, default=None,
                       help="the champion's conversion per exposure (default: measured on the last 30 days)")
    begin.set_defaults(func=cmd_experiments_start)
    read = experiments.add_parser("report", help="an A/B test's figures per arm, the lift and the verdict")
    read.add_argument("name")
    read.add_argument("--out", type=Path, default=None, help="also write NAME.csv and NAME.png here")
    read.set_defaults(func=cmd_experiments_report)
    end = experiments.add_parser("stop", help="stop an A/B test; --promote makes the winner champion")
    end.add_argument("name")
    end.add_argument("--promote", action="store_true", help="make the challenger champion if it won")
    end.set_defaults(func=cmd_experiments_stop)

    for name, text in (("segments", "segments: list | show NAME | save NAME --filter JSON | "
                                     "export NAME --format csv|parquet --out FILE"),
                       ("offers", "next best offers: plan --campaign NAME [--budget N] --out FILE | "
                                  "decide CUSTOMER_ID | evaluate --policy FILE --since DATE"),
                       ("report", "the marketer report: --out DIR (a self-contained HTML page)"),
                       ("keys", "API keys of the service: create --role ROLE (storefront, catalogue, "
                                "marketer, admin, monitoring) | list | revoke NAME"),
                       ("forget", "erase a customer everywhere: forget CUSTOMER_ID (with an audit record)")):
        sub.add_parser(name, help=text, add_help=False)  # for the listing; main() hands these over

    ui = sub.add_parser("mlflow-ui", help="open the MLflow UI on the workspace's tracking database")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument("--host", default="127.0.0.1")
    ui.set_defaults(func=cmd_mlflow_ui)

    serve = sub.add_parser("serve", help="serve the champion models over HTTP (BentoML)")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--host", default="127.0.0.1")
    serve.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    global _log_file
    argv = sys.argv[1:] if argv is None else argv
    ws = Workspace.from_settings(Settings())
    # Not `keys`: its output is shell exports to paste, and keys never go to the log.
    if argv and argv[0] not in ("serve", "keys", "--version", "-h", "--help"):
        _log_file = ws.logs / "shelfwise.log"
        _say(f"$ shelfwise {' '.join(argv)}")
    if argv and argv[0] in SERVING_COMMANDS:
        return cmd_serving(ws, argv)
    args = build_parser().parse_args(argv)
    try:
        if args.command in WRITERS:  # one writer of the workspace's files at a time
            with ws.write_lock(f"run `shelfwise {args.command}`"):
                return args.func(ws, args)
        return args.func(ws, args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if _log_file is not None:
            with open(_log_file, "a") as f:
                f.write(f"error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
