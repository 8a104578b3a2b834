"""``shelfwise``: the one command line for the offline side of the pipeline.

Sub-commands mirror the pipeline: ``ingest`` -> ``features build`` -> ``train`` -> ``serve``.
Settings are read once here (``SHELFWISE_HOME``) and passed down.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from features import online_retail
from features.customer_features import FEATURE_SET, build_customer_features
from features.interactions import build_interactions
from features.workspace import Settings, Workspace

SOURCES = ("online-retail-ii",)


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
    raw = online_retail.read_raw(args.path)
    _say(f"read {len(raw):,} rows from {args.path} ({time.perf_counter() - t0:.1f}s)")
    orders, rejects, report = online_retail.load_orders(raw, str(args.path))
    items = online_retail.build_items(orders)
    customers = online_retail.build_customers(orders)
    # Each import replaces the tables it writes, so re-importing a file is idempotent.
    orders.to_parquet(ws.table_path("orders"), index=False)
    items.to_parquet(ws.table_path("items"), index=False)
    customers.to_parquet(ws.table_path("customers"), index=False)
    rejects.to_parquet(ws.rejects / "orders.parquet", index=False)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (ws.reports / f"ingest-{stamp}.json").write_text(json.dumps(report.as_dict(), indent=2))
    for line in report.lines():
        _say(line)
    _say(f"tables: {len(orders):,} order lines, {len(items):,} items, {len(customers):,} "
         f"customers -> {ws.tables}; rejects with reasons -> {ws.rejects / 'orders.parquet'} "
         f"({time.perf_counter() - t0:.1f}s)")
    return 0


def cmd_features_build(ws: Workspace, args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    orders = ws.read_table("orders")
    feats = build_customer_features(orders, args.as_of)
    out = ws.features / f"{FEATURE_SET}_as_of_{args.as_of.date()}.parquet"
    feats.reset_index().to_parquet(out, index=False)
    matrix, users, items = build_interactions(orders, args.as_of)
    _say(f"customer features ({FEATURE_SET}) as of {args.as_of.date()}: {len(feats):,} customers "
         f"x {feats.shape[1]} features -> {out}")
    _say(f"interactions before {args.as_of.date()}: {len(users):,} customers x {len(items):,} "
         f"items, {matrix.nnz:,} non-zero ({time.perf_counter() - t0:.1f}s)")
    return 0


def cmd_train(ws: Workspace, args: argparse.Namespace) -> int:
    from training.jobs import train_customer_model, train_recs  # heavy imports: only here

    orders = ws.read_table("orders")
    if args.as_of <= orders["timestamp"].min():
        _say(f"error: --as-of {args.as_of.date()} is before the first order "
             f"({orders['timestamp'].min().date()}); nothing to train on")
        return 2
    families = ["recs", "churn", "cltv"] if args.family == "all" else [args.family]
    for family in families:
        t0 = time.perf_counter()
        if family == "recs":
            result = train_recs(ws, orders, ws.read_table("items"), args.as_of, log=_say)
        else:
            result = train_customer_model(ws, orders, family, args.as_of, args.horizon_days,
                                          log=_say)
        for line in result.lines():
            _say(line)
        _say(f"[{family}] done in {time.perf_counter() - t0:.1f}s")
    return 0


def cmd_serve(ws: Workspace, args: argparse.Namespace) -> int:
    # A subprocess, not an import: training and serving meet only through the registry.
    env = {**os.environ, "SHELFWISE_HOME": str(ws.home)}
    cmd = [sys.executable, "-m", "serving", "--host", args.host, "--port", str(args.port)]
    os.execve(sys.executable, cmd, env)
    return 0  # pragma: no cover - execve does not return


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shelfwise", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="import raw order lines into the workspace")
    ingest.add_argument("--source", choices=SOURCES, required=True)
    ingest.add_argument("path", type=Path, help="UCI workbook (.xlsx), .csv or .parquet")
    ingest.set_defaults(func=cmd_ingest)

    feats = sub.add_parser("features", help="feature builders").add_subparsers(
        dest="action", required=True)
    build = feats.add_parser("build", help="build customer features and interactions as of a date")
    build.add_argument("--as-of", type=_date, required=True, help="cutoff date, YYYY-MM-DD")
    build.set_defaults(func=cmd_features_build)

    train = sub.add_parser("train", help="train, evaluate, log to MLflow, register, promote")
    train.add_argument("family", choices=["recs", "churn", "cltv", "all"])
    train.add_argument("--as-of", type=_date, required=True,
                       help="train on data strictly before this date; test on the period after")
    train.add_argument("--horizon-days", type=int, default=None,
                       help="churn/CLTV label window (default 90 for churn, 180 for CLTV)")
    train.set_defaults(func=cmd_train)

    serve = sub.add_parser("serve", help="serve the champion models over HTTP (BentoML)")
    serve.add_argument("--port", type=int, default=3000)
    serve.add_argument("--host", default="127.0.0.1")
    serve.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    global _log_file
    args = build_parser().parse_args(argv)
    ws = Workspace.from_settings(Settings())
    if args.command != "serve":
        _log_file = ws.logs / "shelfwise.log"
        _say(f"$ shelfwise {' '.join(argv if argv is not None else sys.argv[1:])}")
    try:
        return args.func(ws, args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if _log_file is not None:
            with open(_log_file, "a") as f:
                f.write(f"error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
