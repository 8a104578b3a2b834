"""How large an item-item model may stay dense, and what pruning it costs (EASE alone, validation windows).

``python -m benchmarks.item_models WORKSPACE [WORKSPACE ...]`` reads each workspace's orders
(shops ingested by ``make bench-zoo --keep DIR`` or ``benchmarks.scale --keep DIR``), takes
the validation window ``train recs`` would take (the last ranker window before its default
``as_of``; the test window after ``as_of`` is not looked at) and fits EASE (L2 300) on the
purchases before it: dense over every item, and restricted to the ``N`` most-bought items
with ``K`` weights kept per row (:mod:`features.item_weights`). It prints NDCG@10 on the
window (all purchases, discovery), fit time and peak traced memory of each.

``--sizes`` instead times dense EASE fits on random power-law purchases of growing
catalogues: the cost that sets :data:`features.item_weights.DENSE_ITEMS`.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from features.purchase_history import purchase_history
from features.workspace import Workspace
from training.evaluation import evaluate, heldout_window, matrix_recommender
from training.jobs.feasibility import recs_as_of
from training.ranker import RankerParams, plan_windows
from training.recommenders import EASERecommender

SETTINGS = ((None, None), (2_000, 200), (5_000, 100), (5_000, 200), (5_000, 500), (10_000, 200))


def _fit(model: EASERecommender, x: sp.csr_matrix) -> tuple[EASERecommender, float, float]:
    tracemalloc.start()
    t0 = time.perf_counter()
    model.fit(x)
    secs = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return model, secs, peak


def shop_rows(home: Path, say=print) -> list[dict]:
    orders = Workspace(home).read_table("orders")
    as_of = recs_as_of(orders, None)
    params, _ = plan_windows(orders, as_of, RankerParams())
    start = params.window_cutoffs(as_of)[-1]
    history = purchase_history(orders, start)
    val = heldout_window(orders, history.users, start, as_of)
    n = len(history.items)
    rows = []
    for dense_items, neighbours in SETTINGS:
        if dense_items is not None and dense_items >= n:
            continue
        model = EASERecommender(300.0, dense_items or n, neighbours or n)
        model, secs, peak = _fit(model, history.orders)
        m = evaluate(matrix_recommender(model, history.orders), val, history.items,
                     tasks=("all", "discovery"))
        row = {"shop": home.name, "items": n, "dense_items": dense_items or "all",
               "neighbours": neighbours or "all", "all": m["all_ndcg_at_10"],
               "discovery": m["discovery_ndcg_at_10"], "seconds": secs, "peak_mb": peak}
        say(f"[item models] {row}")
        rows.append(row)
    return rows


def size_rows(sizes: list[int], customers: int = 20_000, seed: int = 0, say=print) -> list[dict]:
    """Dense EASE fits on random purchases (20 distinct items per customer, Zipf popularity)."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        p = 1.0 / np.arange(1, n + 1) ** 0.9
        cols = rng.choice(n, size=(customers, 20), p=p / p.sum())
        rows_of = np.repeat(np.arange(customers), 20)
        x = sp.csr_matrix((np.ones(cols.size, np.float32), (rows_of, cols.ravel())), shape=(customers, n))
        x.sum_duplicates()
        _, secs, peak = _fit(EASERecommender(300.0, dense_items=n), x)
        row = {"items": n, "seconds": secs, "peak_mb": peak, "weights_mb": 4 * n * n / 2**20}
        say(f"[item models] {row}")
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workspaces", nargs="*", type=Path)
    p.add_argument("--sizes", default="", help="comma-separated catalogue sizes to time dense fits at")
    args = p.parse_args(argv)
    rows = [r for home in args.workspaces for r in shop_rows(home)]
    if rows:
        print("| shop | items | dense items | kept per row | validation all | discovery | fit s | peak MB |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['shop']} | {r['items']:,} | {r['dense_items']} | {r['neighbours']} | "
                  f"{r['all']:.4f} | {r['discovery']:.4f} | {r['seconds']:.1f} | {r['peak_mb']:,.0f} |")
    if args.sizes:
        sized = size_rows([int(v) for v in args.sizes.split(",")])
        print("| items | dense fit s | peak MB | weights MB |")
        print("|---|---|---|---|")
        for r in sized:
            print(f"| {r['items']:,} | {r['seconds']:.1f} | {r['peak_mb']:,.0f} | {r['weights_mb']:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
