"""Benchmark the served "for you" list: its quality on held-out time and its latency.

``python -m benchmarks.served_lists --url http://127.0.0.1:3000 --as-of 2011-09-01`` asks the
running service for every customer seen before ``--as-of`` who bought after it, once with
``include_purchased: true`` (scored on all their purchases in the test window) and once
with ``false`` (scored on items they had never bought), and prints NDCG@10 and request
latency percentiles. It reads the workspace's orders (``SHELFWISE_HOME``) for the truth.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request

import numpy as np
import pandas as pd

from features import schema as s
from features.interactions import purchases_in_window
from features.workspace import Settings, Workspace


def ndcg_at_10(recommended: list[str], relevant: set[str]) -> float:
    # Written out here because serving may not import training (training.metrics has it too).
    dcg = sum(1 / np.log2(r + 2) for r, i in enumerate(recommended[:10]) if i in relevant)
    ideal = sum(1 / np.log2(r + 2) for r in range(min(len(relevant), 10)))
    return dcg / ideal if ideal else 0.0


def _post(url: str, body: dict, key: str) -> tuple[dict, float]:
    t0 = time.perf_counter()
    req = urllib.request.Request(url, json.dumps(body).encode(),
                                 {"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        out = json.loads(resp.read())
    return out, time.perf_counter() - t0


def served_ndcg(url: str, key: str, orders: pd.DataFrame, as_of: pd.Timestamp, limit: int | None = None,
                say=print) -> dict[str, tuple[float, int, np.ndarray]]:
    """NDCG@10 of the served "for you" list on the purchases after ``as_of``: ``{"all purchases" |
    "discovery": (mean NDCG@10, customers, latency p50/p95/p99 in ms)}``."""
    before = purchases_in_window(orders, orders[s.TIMESTAMP].min(), as_of)
    window = purchases_in_window(orders, as_of)
    customers = sorted(c for c in window if c in before)[:limit]
    results = {}
    for include in (True, False):
        scores, latency = [], []
        for c in customers:
            truth = window[c] if include else window[c] - before[c]
            if not truth:
                continue
            body, secs = _post(f"{url}/recommend", {"user_id": c, "k": 10, "include_purchased": include}, key)
            latency.append(secs)
            scores.append(ndcg_at_10([i["item_id"] for i in body["items"]], truth))
        task = "all purchases" if include else "discovery"
        ms = np.percentile(latency, [50, 95, 99]) * 1000 if latency else np.full(3, np.nan)
        results[task] = (float(np.mean(scores)) if scores else float("nan"), len(scores), ms)
        say(f"{task}: NDCG@10 {results[task][0]:.4f} over {len(scores):,} customers; "
            f"latency p50 {ms[0]:.1f} ms, p95 {ms[1]:.1f} ms, p99 {ms[2]:.1f} ms")
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:3000")
    p.add_argument("--as-of", required=True, help="the recommender's training cutoff, YYYY-MM-DD")
    p.add_argument("--limit", type=int, default=None, help="only the first N test customers")
    p.add_argument("--key", default=os.environ.get("SHELFWISE_API_KEY"),
                   help="a storefront API key (default: $SHELFWISE_API_KEY)")
    args = p.parse_args(argv)
    if not args.key:
        p.error("give a storefront API key: --key KEY or SHELFWISE_API_KEY (`shelfwise keys create`)")
    orders = Workspace.from_settings(Settings()).read_table("orders")
    served_ndcg(args.url, args.key, orders, pd.Timestamp(args.as_of), args.limit,
                say=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
