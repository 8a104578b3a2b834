"""Benchmark: what the service's recommender gains from knowing the test window's purchases.

``python -m benchmarks.freshness`` (``make bench-freshness``) replays, on each shop, a data
end ``D`` and the 90 days after it as the days the service answers in. ``shelfwise train
recs`` without ``--as-of`` on the data before ``D`` tests on its last 90 days (or fewer,
:func:`training.jobs.recs.plan_recs`) and fits the ranker before them. Three "for you"
models are then scored, NDCG@10 of all purchases and of discovery, on the customers known
at ``D`` who buy in the 90 days after it (unknown ones get popular items):

- ``as tested``: the ranker on the history of its test window's start (what the service got
  before, and what ``--as-of``/``--as-tested`` register);
- ``brought up to date``: the same ranker on the history, EASE and seasonal weights to ``D``
  (:meth:`training.ranker.BlendedRecommender.at`; what it registers now);
- ``refit at D``: ranker windows, early stopping and fit redone before ``D`` (twice the
  fitting time; not adopted, ``docs/experiments.md``).

Shops (``--shops``): the bundled Online Retail II with data ends 2011-06-01 and 2011-09-01,
and the generated grocery and fashion shops (:mod:`features.sources.synthetic`, seed 0)
with the data end 90 days before their last day. ``--plot FILE`` draws the table.
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pandas as pd

from benchmarks.feature_tables import DEFAULT_DATA
from features.sources import mapped, online_retail, synthetic
from training.evaluation import heldout_window
from training.jobs.recs import _tune_ease, plan_recs
from training.metrics import ranking_report
from training.ranker import BlendedRecommender, FitCache, RankerParams

SHOPS = ("online-retail-ii@2011-06-01", "online-retail-ii@2011-09-01", "grocery", "fashion")
DAYS = 90
MODELS = ("as tested", "brought up to date", "refit at D")


def load(shop: str) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The shop's orders and its data end ``D``."""
    if shop.startswith("online-retail-ii"):
        orders = online_retail.load_orders(online_retail.read_raw(DEFAULT_DATA), str(DEFAULT_DATA))[0]
        return orders, pd.Timestamp(shop.split("@")[1])
    shape = {"grocery": synthetic.GROCERY, "fashion": synthetic.FASHION,
             "marketplace": synthetic.MARKETPLACE}[shop]
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{shop}.csv"
        synthetic.generate_orders(shape, seed=0).to_csv(path, index=False)
        mapping = mapped.Mapping.from_dict(tomllib.loads(synthetic.MAPPING_TOML))
        orders = mapped.load(path, mapping, now=pd.Timestamp.now())[0]
    return orders, orders["timestamp"].max().normalize() + pd.Timedelta(days=1 - DAYS)


def lists(model: BlendedRecommender, ids: list[str], include_purchased: bool, k: int = 10
          ) -> dict[str, list[str]]:
    """The model's top ``k`` item ids per customer id; popular items for those it does not know."""
    h = model.history_
    rows = h.users.indices(ids)
    known = rows >= 0
    cols = model.recommend(rows[known], k, include_purchased)[0] if known.any() else np.zeros((0, k), int)
    out = {c: [h.items.ids[i] for i in r if i >= 0]
           for c, r in zip(np.asarray(ids)[known], cols, strict=True)}
    top = list(h.items.ids[np.argsort(-h.item_stats[:, 3], kind="stable")[:k]])
    return {c: out.get(c, top) for c in ids}


def run(shop: str, say=print) -> dict:
    orders, end = load(shop)
    before = orders[orders["timestamp"] < end]
    as_of, params, counts = plan_recs(before, None, RankerParams(), log=lambda _: None)
    if not counts:
        return {"shop": shop, "data_end": str(end.date()), "skipped": "no ranker on this history"}
    cache = FitCache(before)
    l2, _ = _tune_ease(cache, as_of, params, log=lambda _: None)
    params = replace(params, ease_l2=l2)
    t0 = time.perf_counter()
    tested = BlendedRecommender(params).fit(before, as_of, cache=cache)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    current = tested.at(cache, end)
    advance = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, at_end, _ = plan_recs(before, end, RankerParams(ease_l2=l2), log=lambda _: None)
    refit = BlendedRecommender(at_end).fit(before, end, cache=cache)
    refit_seconds = time.perf_counter() - t0
    window = heldout_window(orders, current.history_.users, end, end + pd.Timedelta(days=DAYS))
    row = {"shop": shop, "data_end": str(end.date()), "tested_as_of": str(as_of.date()),
           "customers": len(window.truth["all"]),
           "unknown_as_tested": int((tested.history_.users.indices(list(window.truth["all"])) < 0).sum()),
           "seconds": {"as tested": round(fit, 1), "brought up to date": round(advance, 1),
                       "refit at D": round(refit_seconds, 1)}}
    for name, model in zip(MODELS, (tested, current, refit), strict=True):
        row[name] = {task: ranking_report(lists(model, list(truth), task == "all"), truth, 10)["ndcg_at_10"]
                     for task, truth in window.truth.items() if task != "buy_again"}
    say(f"[freshness] {shop}: data end {end.date()}, tested from {as_of.date()}; "
        + "; ".join(f"{m} {row[m]['all']:.4f} / {row[m]['discovery']:.4f}" for m in MODELS))
    return row


def table(rows: list[dict]) -> list[str]:
    out = ["| shop (data end) | customers (unknown as tested) | " + " | ".join(MODELS) + " |",
           "|---|---|---|---|---|"]
    for r in rows:
        if "skipped" in r:
            out.append(f"| {r['shop']} ({r['data_end']}) | {r['skipped']} | | | |")
            continue
        cells = " | ".join(f"{r[m]['all']:.4f} / {r[m]['discovery']:.4f} ({r['seconds'][m]:.0f} s)"
                           for m in MODELS)
        out.append(f"| {r['shop']} ({r['data_end']}) | {r['customers']:,} ({r['unknown_as_tested']:,}) "
                   f"| {cells} |")
    return out


def chart(rows: list[dict]):
    """NDCG@10 of the three models per shop, all purchases and discovery side by side."""
    from matplotlib.figure import Figure

    rows = [r for r in rows if "skipped" not in r]
    fig = Figure(figsize=(10, 4))
    x = np.arange(len(rows))
    width = 0.8 / len(MODELS)
    for ax, task in zip(fig.subplots(1, 2), ("all", "discovery"), strict=True):
        for i, m in enumerate(MODELS):
            ax.bar(x + (i - 1) * width, [r[m][task] for r in rows], width, label=m)
        what = "all purchases" if task == "all" else task
        ax.set_title(f"for you, {what}: NDCG@10 in the {DAYS} days after D", fontsize=9)
        ax.set_xticks(x, [r["shop"].replace("online-retail-ii", "ORII") for r in rows], fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle("The served recommender, as tested or brought up to the data's end")
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shops", default=",".join(SHOPS))
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    p.add_argument("--plot", type=Path, default=None, help="also draw them, as a PNG")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = [run(shop) for shop in args.shops.split(",")]
    print("\n".join(table(rows)))
    print(f"[freshness] {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if args.plot:
        chart(rows).savefig(args.plot, dpi=110)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
