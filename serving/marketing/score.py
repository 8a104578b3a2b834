"""Batch scoring: every customer's churn and CLTV scores, into the workspace's score table
and, with ``--out``, a CSV or Parquet file.

``shelfwise score customers [--out FILE]`` runs ``python -m serving.marketing.score``: the
champions are downloaded from the registry and scored exactly as ``POST /customer`` does,
as of the day after the workspace's last order, into the table every service worker reads
(:mod:`serving.runtime.score_table`; already there for these champions and data, it is read).
With a recommender champion, the cross-sell bundles of the offer catalogue's sizes are kept
too (:mod:`serving.marketing.bundles`), so no worker computes them at its start.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

from features.customer_parts import PART_ROWS
from features.workspace import Settings, Workspace
from serving.marketing.bundles import cross_sell_bundles
from serving.marketing.offers import OfferCatalogue, catalogue_path
from serving.marketing.spreadsheet import defuse_formulas
from serving.runtime.models import BlendedRuntime
from serving.runtime.registry import NoChampionError, download_champions
from serving.runtime.score_table import customer_scores, table_key, table_path

COLUMNS = ("customer_id", "churn_probability", "risk_band", "predicted_cltv", "cltv_decile", "cltv_tier",
           "next_purchase_date", "days_since_last_order", "top_churn_driver", "top_cltv_driver")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="shelfwise score customers", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="also write them to this file, .csv or .parquet")
    p.add_argument("--refresh", action="store_true",
                   help="score again even if the table exists (counts the live events received since)")
    p.add_argument("--part-rows", type=int, default=PART_ROWS, metavar="N",
                   help="above N order lines and events, score a part of the customers at a time "
                        f"(default {PART_ROWS:,}): the memory of a part, not of the whole shop")
    args = p.parse_args(argv)
    if args.part_rows < 1:
        p.error(f"--part-rows must be at least 1, not {args.part_rows}")
    if args.out is not None and args.out.suffix.lower() not in (".csv", ".parquet"):
        print(f"error: {args.out}: write .csv or .parquet", file=sys.stderr)
        return 2
    ws = Workspace.from_settings(Settings())
    try:
        ws.require_table("orders")
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="shelfwise-score-") as tmp:
        # The table alone is written for what exists, as the service scores: the segments' profiles
        # (RFM, lifecycle) need no model. The file of --out has churn and CLTV columns: both needed.
        try:
            artifacts = download_champions(ws.tracking_uri, Path(tmp), families=("churn", "cltv"),
                                           at_least_one=args.out is None)
        except NoChampionError as exc:
            if args.out is not None:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            artifacts = {}
        for family in sorted({"churn", "cltv"} - artifacts.keys()):
            print(f"[score] no {family} champion: its scores are left out until `shelfwise train {family}` "
                  "makes one", flush=True)
        versions = {f: a.label for f, a in artifacts.items()}
        scored, was_read = customer_scores(ws, {f: a.path for f, a in artifacts.items()}, versions,
                                           refresh=args.refresh, part_rows=args.part_rows,
                                           say=lambda text: print(f"[score] {text}", flush=True))
        scorer = scored.scorer
        shared = f"the shared store, key {table_key(ws, versions)}" if ws.shared_store_url else None
        path = shared or table_path(ws, versions)
        _keep_bundles(ws, Path(tmp))
    print(f"{'read' if was_read else 'scored'} {len(scorer.frame):,} customers as of {scorer.as_of.date()} "
          f"-> {path} (the table the service reads)")
    if args.out is None:
        return 0
    frame = scorer.frame.copy()
    for family in ("churn", "cltv"):
        drivers = scorer.drivers[family]
        frame[f"top_{family}_driver"] = pd.Series(drivers.first(), index=drivers.rows).reindex(frame.index)
    frame = frame.rename_axis("customer_id").reset_index()[list(COLUMNS)]
    frame.insert(len(frame.columns), "as_of", scorer.as_of.date().isoformat())
    versions = f"churn {artifacts['churn'].label}, cltv {artifacts['cltv'].label}"
    frame.insert(len(frame.columns), "model_versions", versions)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix.lower() == ".csv":
        defuse_formulas(frame).to_csv(args.out, index=False)
    else:
        frame.to_parquet(args.out, index=False)
    print(f"scored {len(frame):,} customers as of {scorer.as_of.date()} -> {args.out} "
          f"(high risk: {(frame['risk_band'] == 'high').sum():,})")
    return 0


def _keep_bundles(ws: Workspace, tmp: Path) -> None:
    """The recommender champion's cross-sell bundles of each size the offer catalogue asks for."""
    try:
        sizes = sorted({o.bundle_size for o in OfferCatalogue.read(catalogue_path(ws.home)).offers.values()
                        if o.kind == "cross_sell"})
    except ValueError as exc:  # the service says the same when it starts
        print(f"[score] cross-sell bundles not kept: {exc}", flush=True)
        return
    if not sizes:
        return
    try:
        artifact = download_champions(ws.tracking_uri, tmp, families=("recs",))["recs"]
    except NoChampionError:
        return
    recs = BlendedRuntime(artifact.path)
    for size in sizes:
        bundles = cross_sell_bundles(ws, recs, size)
        print(f"[score] cross-sell bundles of {size} items for {len(bundles.indptr) - 1:,} customers "
              f"({artifact.label})", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
