"""Benchmark: build every feature table for the full Online Retail II data in one process.

Run ``python -m benchmarks.feature_tables [PATH] [--as-of DATE]`` (``make bench-features``). It
ingests the order lines, simulates browsing events, and builds the customer features,
item features, interactions and the stacked training set with monthly cutoffs over the
whole history, then prints wall time and peak memory (resident set size) per step, as a
Markdown table for docs/benchmarks.md. Target on 2 cores: under 20 s and under 2 GB in total.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import pandas as pd

from features.customer_features import History, build_customer_features, build_training_set, monthly_cutoffs
from features.interactions import InteractionWeights, build_interactions
from features.item_features import build_item_features, catalogue_as_of
from features.sources import online_retail
from features.sources.simulate import simulate_events

DEFAULT_DATA = (Path(__file__).resolve().parent.parent
                / "data/online_retail_ii/online_retail_II_2009-2011_dedup.parquet")


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def machine_speed() -> str:
    """A line to print before a benchmark's figures: how long a 10-million-step Python loop
    takes now. The same code's figures moved by a factor of two with it on the 2-core
    machines these benchmarks were run on (0.8-2.2 s), so a figure without it cannot be
    compared with another."""
    # Module-level code, as `python3 -c` runs it (globals, not locals: a function's loop
    # takes about 40% less), so the figure compares with docs/benchmarks.md's, which were timed
    # with `time python3 -c` (interpreter start-up included, about 0.1 s more).
    start = time.perf_counter()
    exec("s = 0\nfor i in range(10_000_000): s += i", {})
    return f"machine: a 10-million-step Python loop took {time.perf_counter() - start:.2f} s"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", nargs="?", type=Path, default=DEFAULT_DATA)
    p.add_argument("--as-of", default=None, help="default: the day after the last order")
    p.add_argument("--horizon-days", type=int, default=90)
    args = p.parse_args(argv)

    print(machine_speed(), flush=True)
    rows, start = [], time.perf_counter()

    def step(name: str, t0: float, detail: str) -> None:
        rows.append((name, time.perf_counter() - t0, peak_mb(), detail))
        print(f"{name}: {rows[-1][1]:.1f}s, peak {rows[-1][2]:,.0f} MB, {detail}", flush=True)

    t0 = time.perf_counter()
    raw = online_retail.read_raw(args.path)
    orders, _, report = online_retail.load_orders(raw, str(args.path))
    items = online_retail.build_items(orders)
    del raw
    step("ingest", t0, f"{report.rows_read:,} lines read, {len(orders):,} accepted")

    t0 = time.perf_counter()
    events = simulate_events(orders)
    step("simulate events", t0, f"{len(events):,} events")

    as_of = (pd.Timestamp(args.as_of) if args.as_of
             else (orders["timestamp"].max() + pd.Timedelta(days=1)).normalize())
    t0 = time.perf_counter()
    history = History(orders, events)
    customers = build_customer_features(history, as_of)
    step("customer features", t0, f"{len(customers):,} customers x {customers.shape[1]}")

    t0 = time.perf_counter()
    item_feats = build_item_features(orders, as_of, catalogue_as_of(items, orders, as_of, True), events)
    step("item features", t0, f"{len(item_feats):,} items x {item_feats.shape[1]}")

    t0 = time.perf_counter()
    matrix, _, _ = build_interactions(orders, as_of, events, InteractionWeights())
    step("interactions", t0, f"{matrix.shape[0]:,} x {matrix.shape[1]:,}, {matrix.nnz:,} non-zero")

    t0 = time.perf_counter()
    first = orders["timestamp"].min().normalize()
    n = int((as_of - pd.Timedelta(days=args.horizon_days) - first).days // 30)
    train = build_training_set(history, monthly_cutoffs(as_of, args.horizon_days, n), args.horizon_days)
    step("training set", t0, f"{n} monthly cutoffs, {len(train):,} rows")

    total = time.perf_counter() - start
    print("\n| step | seconds | peak memory (MB) | output |\n|---|---:|---:|---|")
    for name, secs, peak, detail in rows:
        print(f"| {name} | {secs:.1f} | {peak:,.0f} | {detail} |")
    print(f"| **total** | **{total:.1f}** | **{peak_mb():,.0f}** | as of {as_of.date()} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
