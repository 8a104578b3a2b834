"""The zoo: shelfwise end to end on shops of different shapes, in one table.

``make bench-zoo`` (``python -m benchmarks.zoo``) runs, for each shop, what a new shop would:
its own order export through ``shelfwise ingest --mapping``, ``shelfwise train all`` (no
``--as-of``: every family tests on the last window the data covers; ``--as-tested``: the
recommender is served as tested, not brought up to the end of the data, so the service is
measured on a window it has not seen), ``shelfwise serve``, and the "for you" list asked
for over HTTP for every test customer. It prints one table:
served NDCG@10 (all purchases, discovery) beside the best baseline on the same test window,
churn ROC-AUC beside recency and BG/NBD with the mean probability beside the observed
rate, CLTV normalized Gini beside last-period spend, training time and peak memory, and
the families that could not be trained, with why; ``--plot FILE`` draws the same figures
(:func:`chart`).

Shops (``--shops``, comma separated):

- ``online-retail-ii``: the bundled Online Retail II, whole (two years, 5.9k customers).
- ``online-retail-ii-7m``: its last seven months only (short history).
- ``cdnow-master``: CDNOW's whole 1997 cohort (23,570 customers, sparse repeats, no item
  ids: one item "CD"); read from ``$SHELFWISE_DATA`` (default ``../shared/data``), skipped
  with the reason when absent.
- ``grocery``, ``fashion`` and ``marketplace``: generated (:mod:`features.sources.synthetic`,
  seed 0); the marketplace's catalogue is above EASE's dense threshold, so its item-item
  models are the sparse ones of a large shop.

``--size tiny`` shrinks the generated shops (the test suite's zoo) and leaves the others out.
``--shops small`` runs the eight small shops of :data:`features.sources.synthetic.SMALL_SHOPS`
instead (any of them also by name).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.service import running_service
from features.sources.synthetic import (
    FASHION,
    GROCERY,
    MAPPING_TOML,
    MARKETPLACE,
    SMALL_SHOPS,
    ShopShape,
    generate_orders,
)

ROOT = Path(__file__).resolve().parent.parent
# The recs job's baselines (training/jobs/recs.py), as its runs log them ("<name>.<metric>").
BASELINES = ("popularity", "trending", "repurchase", "als", "bpr", "item_knn", "ease")
BUNDLED = ROOT / "data/online_retail_ii/online_retail_II_2009-2011_dedup.parquet"
SHOPS = ("online-retail-ii", "online-retail-ii-7m", "cdnow-master", "grocery", "fashion", "marketplace")
GENERATED = {"grocery": GROCERY, "fashion": FASHION, "marketplace": MARKETPLACE, **SMALL_SHOPS}
TINY = {"grocery": GROCERY.scaled(customers=250, items=300),
        "fashion": FASHION.scaled(customers=900, items=400)}
ORII_MAPPING = """# Online Retail II's columns as the shop exports them (UCI, CC BY 4.0).
table = "orders"

[columns]
order_id = "Invoice"
customer_id = "Customer ID"
item_id = "StockCode"
title = "Description"
quantity = "Quantity"
unit_price = "Price"
timestamp = "InvoiceDate"
country = "Country"
"""
CDNOW_MAPPING = """# CDNOW's purchase log (Hardie): one line per customer and day; no item ids.
table = "orders"
timestamp_format = "%Y%m%d"

[columns]
order_id = "order"
customer_id = "customer_id"
quantity = "number_of_cds"
unit_price = "unit_price"
timestamp = "date"

[defaults]
item_id = "CD"
title = "compact disc"
country = "United States"
"""


class Unavailable(RuntimeError):
    """A shop whose source data is not on this machine."""


def write_export(shop: str, size: str, dest: Path, shape: ShopShape | None = None) -> tuple[Path, Path]:
    """The shop's order export and mapping file in ``dest``, as the shop would hand them over
    (``shape``: a generated shop of that shape instead of a named one)."""
    dest.mkdir(parents=True, exist_ok=True)
    mapping = dest / "orders.toml"
    if shop.startswith("online-retail-ii"):
        lines = pd.read_parquet(BUNDLED)
        if shop.endswith("7m"):
            end = pd.to_datetime(lines["InvoiceDate"]).max()
            lines = lines[pd.to_datetime(lines["InvoiceDate"]) >= end - pd.DateOffset(months=7)]
        path = dest / "orders.parquet"
        lines.to_parquet(path, index=False)
        mapping.write_text(ORII_MAPPING)
    elif shop == "cdnow-master":
        data = Path(os.environ.get("SHELFWISE_DATA", ROOT.parent / "shared" / "data"))
        source = data / "cdnow/CDNOW_master.txt"
        if not source.exists():
            raise Unavailable(f"{source} is not on this machine (set SHELFWISE_DATA to the folder holding "
                              "cdnow/CDNOW_master.txt)")
        log = pd.read_csv(source, sep=r"\s+", header=None, skiprows=1, dtype=str,
                          names=["customer_id", "date", "number_of_cds", "dollar_value"])
        qty = log["number_of_cds"].astype(int)
        log = log.assign(order=log["customer_id"] + "-" + log["date"] + "-" + log.groupby(
            ["customer_id", "date"]).cumcount().astype(str),
            unit_price=(log["dollar_value"].astype(float) / qty.where(qty > 0)).round(4))
        path = dest / "orders.csv"
        log.to_csv(path, index=False)
        mapping.write_text(CDNOW_MAPPING)
    else:
        shape = shape or (TINY if size == "tiny" else GENERATED)[shop]
        path = dest / "orders.csv"
        generate_orders(shape, seed=0).to_csv(path, index=False)
        mapping.write_text(MAPPING_TOML)
    return path, mapping


def env(home: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"},
            "SHELFWISE_HOME": str(home), "OPENBLAS_NUM_THREADS": "1", "BENTOML_DO_NOT_TRACK": "true",
            "MLFLOW_DISABLE_TELEMETRY": "true", "SHELFWISE_RELOAD_SECONDS": "0", "PYTHONPATH": str(ROOT)}


def shelfwise(home: Path, *args: str, log: Path, module: str = "training.cli"
              ) -> tuple[int, float, float, str]:
    """Run one command (``python -m module args``, or ``python args`` without a module);
    ``(exit code, seconds, peak RSS in MB, its output)``."""
    t0 = time.perf_counter()
    command = [sys.executable, *(["-m", module] if module else []), *args]
    proc = subprocess.Popen(command, env=env(home), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    text = proc.stdout.read()
    # Reaped with wait4: the peak memory of this child alone, not of every child so far.
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    with open(log, "a") as out:
        out.write(f"$ shelfwise {' '.join(args)}\n{text}")
    return proc.returncode, time.perf_counter() - t0, usage.ru_maxrss / 1024, text


def champion_runs(home: Path) -> dict[str, dict]:
    """Each family's champion run: its metrics and tags (absent families left out)."""
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    from mlflow import MlflowClient

    from serving.runtime.registry import MODEL_NAMES

    client = MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    out = {}
    for family, name in MODEL_NAMES.items():
        try:
            version = client.get_model_version_by_alias(name, "champion")
        except Exception:  # no champion: the family was skipped
            continue
        run = client.get_run(version.run_id)
        out[family] = {"metrics": run.data.metrics, "tags": run.data.tags, "version": version.version}
    return out


def run_shop(shop: str, size: str, home: Path, say=print, shape: ShopShape | None = None) -> dict:
    """One shop end to end; the zoo table's row as a dict."""
    log = home / "zoo.log"
    home.mkdir(parents=True, exist_ok=True)
    row: dict = {"shop": shop}
    export, mapping = write_export(shop, size, home / "export", shape)
    code, secs, peak, text = shelfwise(home, "ingest", "--mapping", str(mapping), str(export), log=log)
    if code != 0:
        raise RuntimeError(f"{shop}: ingest failed ({code}): {text[-2000:]}")
    from features.workspace import Workspace

    orders = Workspace(home).read_table("orders")
    row.update(customers=int(orders["customer_id"].nunique()), items=int(orders["item_id"].nunique()),
               days=int((orders["timestamp"].max() - orders["timestamp"].min()).days), lines=len(orders))
    say(f"[zoo] {shop}: {row['lines']:,} order lines, {row['customers']:,} customers, "
        f"{row['items']:,} items, {row['days']} days; training every family")
    code, secs, peak, text = shelfwise(home, "train", "all", "--as-tested", log=log)
    row.update(train_exit=code, train_seconds=secs, train_peak_mb=peak)
    row["skipped"] = {line[1:line.index("]")]: line.split(" cannot be trained: ", 1)[-1].strip()
                      for line in text.splitlines() if line.startswith("[") and "] not trained: " in line}
    if code not in (0, 3):
        row["error"] = text.strip().splitlines()[-1] if text.strip() else f"exit {code}"
        return row
    runs = champion_runs(home)
    if "recs" in runs:
        m = runs["recs"]["metrics"]
        for task in ("all", "discovery"):
            key = f"{task}_ndcg_at_10"
            base = {name.split(".")[0]: v for name, v in m.items() if name.endswith(f".{key}")
                    and name.split(".")[0] in BASELINES}
            best = max(base, key=base.get) if base else None
            row[f"{task}_best_baseline"] = (best, base.get(best, float("nan")))
            row[f"{task}_trained"] = m.get(key, float("nan"))
        row["recs_as_of"] = runs["recs"]["tags"]["as_of"]
        row["recs_served"] = runs["recs"]["tags"].get("served", "")
    for family, keys in (("churn", ("roc_auc", "baseline_roc_auc", "btyd_roc_auc", "mean_probability",
                                    "churn_rate", "ece")),
                         ("cltv", ("normalized_gini", "baseline_normalized_gini", "btyd_normalized_gini"))):
        if family in runs:
            row[family] = {k: runs[family]["metrics"].get(k, float("nan")) for k in keys}
            row[f"{family}_window"] = runs[family]["tags"].get("window", "")
            row[f"{family}_served_by"] = runs[family]["tags"].get("served_by", "LightGBM")
    from serving.api.access import KeyStore, keys_path

    store = KeyStore(keys_path(home))
    key = store.create("storefront", "zoo")[1]
    marketer = store.create("marketer", "zoo-marketer")[1]
    admin = store.create("admin", "zoo-admin")[1]
    import httpx

    from benchmarks.served_lists import served_ndcg

    with running_service(env(home), log) as (_, url):
        row["status"] = httpx.get(f"{url}/v1/status", headers={"Authorization": f"Bearer {admin}"}).json()
        someone = str(orders["customer_id"].iloc[-1])
        row["customer_status"] = httpx.post(f"{url}/customer", json={"customer_id": someone}, headers={
            "Authorization": f"Bearer {marketer}"}).status_code
        answer = httpx.post(f"{url}/recommend", json={"user_id": "a-new-visitor", "k": 10},
                            headers={"Authorization": f"Bearer {key}"})
        row["recommend_status"] = answer.status_code
        row["recommend_answer"] = answer.json()
        if "recs" in runs:
            served = served_ndcg(url, key, orders, pd.Timestamp(row["recs_as_of"]), say=lambda m: None)
            row["served_all"], row["served_discovery"] = served["all purchases"][0], served["discovery"][0]
            row["served_customers"] = served["all purchases"][1]
    return row


def _f(v, fmt=".3f") -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, fmt)


def table(rows: list[dict]) -> list[str]:
    """The zoo table in Markdown."""
    out = ["| shop | customers / items / days | served all (best baseline) "
           "| served discovery (best baseline) | churn AUC (recency, BG/NBD) | churn mean / observed "
           "| CLTV Gini (last-period spend) | train all | not trained |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "unavailable" in r:
            out.append(f"| {r['shop']} |{' - |' * 7} source data absent: {r['unavailable']} |")
            continue
        cells = [r["shop"], f"{r['customers']:,} / {r['items']:,} / {r['days']}"]
        for task in ("all", "discovery"):
            if f"{task}_trained" in r:
                name, value = r[f"{task}_best_baseline"]
                choice = dict(kv.split(":") for kv in r["recs_served"].split(",") if ":" in kv)
                served = choice.get(task, "blended")
                by = f" [{served}]" if served != "blended" else ""
                cells.append(f"{_f(r.get(f'served_{task}'))}{by} ({name} {_f(value)})")
            else:
                cells.append("-")
        c = r.get("churn")
        by = f" [{r['churn_served_by']}]" if c and r["churn_served_by"] != "LightGBM" else ""
        cells.append(f"{_f(c['roc_auc'])}{by} ({_f(c['baseline_roc_auc'])}, {_f(c['btyd_roc_auc'])})"
                     if c else "-")
        cells.append(f"{_f(c['mean_probability'])} / {_f(c['churn_rate'])}" if c else "-")
        v = r.get("cltv")
        by = f" [{r['cltv_served_by']}]" if v and r["cltv_served_by"] != "LightGBM" else ""
        cells.append(f"{_f(v['normalized_gini'])}{by} ({_f(v['baseline_normalized_gini'])})" if v else "-")
        cells.append(f"{r['train_seconds']:.0f} s, {r['train_peak_mb']:,.0f} MB")
        cells.append("; ".join(f"{f}: {why}" for f, why in r["skipped"].items()) or "-")
        out.append("| " + " | ".join(cells) + " |")
    return out


def chart(rows: list[dict]):
    """The table's figures as grouped bars, one panel a family: what serves beside the
    baselines it is held to, per shop (a missing bar: the family was not trained there)."""
    from matplotlib.figure import Figure

    rows = [r for r in rows if "unavailable" not in r]
    shops = [r["shop"] for r in rows]
    panels = {
        "for you, all purchases: NDCG@10": {
            "served": [r.get("served_all") for r in rows],
            "best baseline": [r["all_best_baseline"][1] if "all_trained" in r else None for r in rows]},
        "for you, discovery: NDCG@10": {
            "served": [r.get("served_discovery") for r in rows],
            "best baseline": [r["discovery_best_baseline"][1] if "discovery_trained" in r else None
                              for r in rows]},
        "churn: ROC-AUC": {
            "served": [(r.get("churn") or {}).get("roc_auc") for r in rows],
            "recency alone": [(r.get("churn") or {}).get("baseline_roc_auc") for r in rows],
            "BG/NBD": [(r.get("churn") or {}).get("btyd_roc_auc") for r in rows]},
        "CLTV: normalized Gini": {
            "served": [(r.get("cltv") or {}).get("normalized_gini") for r in rows],
            "last-period spend": [(r.get("cltv") or {}).get("baseline_normalized_gini") for r in rows]},
    }
    fig = Figure(figsize=(11, 7))
    x = np.arange(len(shops))
    for ax, (title, bars) in zip(fig.subplots(2, 2).ravel(), panels.items(), strict=True):
        width = 0.8 / len(bars)
        for i, (name, values) in enumerate(bars.items()):
            heights = np.array([np.nan if v is None else v for v in values], float)
            ax.bar(x + (i - (len(bars) - 1) / 2) * width, heights, width, label=name)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(x, shops, rotation=20, ha="right", fontsize=8)
        ax.set_ylim(0, 1.15)  # room for the legend above the bars
        ax.legend(fontsize=7, loc="upper left", ncol=len(bars))
    fig.suptitle("The zoo: what serves on each shop's test window, beside its baselines")
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shops", default=",".join(SHOPS))
    p.add_argument("--size", choices=("full", "tiny"), default="full")
    p.add_argument("--keep", type=Path, default=None, help="keep the shops' workspaces under this folder")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    p.add_argument("--plot", type=Path, default=None, help="also draw them, as a PNG")
    p.add_argument("--from-json", type=Path, default=None, metavar="FILE",
                   help="run nothing: print and draw the rows a run wrote with --json")
    args = p.parse_args(argv)
    if args.from_json:
        rows = json.loads(args.from_json.read_text())
        print("\n".join(table(rows)))
        if args.plot:
            chart(rows).savefig(args.plot, dpi=100)
        return 0
    t0 = time.perf_counter()
    rows = []
    shops = [name for shop in args.shops.split(",") for name in (SMALL_SHOPS if shop == "small" else [shop])]
    with tempfile.TemporaryDirectory(prefix="shelfwise-zoo-") as tmp:
        root = args.keep or Path(tmp)
        for shop in shops:
            try:
                rows.append(run_shop(shop, args.size, root / shop, say=lambda m: print(m, flush=True)))
            except Unavailable as exc:
                print(f"[zoo] {shop}: skipped: {exc}", flush=True)
                rows.append({"shop": shop, "unavailable": str(exc)})
            print(f"[zoo] {shop} done ({time.perf_counter() - t0:.0f}s so far)", flush=True)
    print("\n".join(table(rows)))
    print(f"[zoo] {len(rows)} shops in {time.perf_counter() - t0:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))
    if args.plot:
        chart(rows).savefig(args.plot, dpi=100)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
