"""The experiment loop on the demo's workspace: an A/B test of the champion recommender
against a deliberately weak challenger (popularity), driven by the shopper simulator
(:mod:`benchmarks.shoppers`), read with ``shelfwise experiments report``.

``make bench-experiments`` (after ``make pipeline``) starts its own service on the
workspace, prints the A/B report and writes its table and chart to
``$SHELFWISE_HOME/bench-experiments``; docs/results.md quotes it.
"""

from __future__ import annotations

import json
from pathlib import Path

from features.artifacts import write_checksums
from features.workspace import Workspace


def register_challenger(home: Path, served_by: str = "popularity") -> str:
    """Register the champion recommender's files again, with its "for you" lists served by the
    baseline ``served_by`` instead of the ranker: a challenger that is known to be weaker.
    Returns the new version."""
    from training import registry

    ws = Workspace(home)
    client = registry.connect(ws)
    with registry.scratch_dir() as tmp:
        path, champion = registry.champion_dir(client, "recs", Path(tmp))
        meta = json.loads((path / "meta.json").read_text())
        meta["served"] = {**(meta.get("served") or {}), "all": served_by, "discovery": served_by}
        (path / "meta.json").write_text(json.dumps(meta, indent=2))
        (path / "registered_model_meta").unlink(missing_ok=True)  # MLflow's, written at each registration
        write_checksums(path)
        _, version = registry.log_and_register(
            client,
            ws,
            "recs",
            path,
            params={"served_by": served_by},
            metrics={},
            tags={"copy_of": f"shelfwise-recs/{champion}", "served_by": served_by},
            run_name=f"version {champion}'s lists served by {served_by} (a weak challenger)",
        )
    return version


def main(argv: list[str] | None = None) -> int:
    import argparse
    import os
    import time

    import numpy as np
    import pandas as pd

    from benchmarks import zoo
    from benchmarks.service import running_service
    from benchmarks.shoppers import expected_reward, held_out, order_values, simulate, simulate_offers
    from features.experiments.ab import exposures_needed
    from serving.api.access import KeyStore, keys_path
    from serving.marketing.offers import DEFAULT_CATALOGUE

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--as-of", default="2011-09-01", help="the models' cutoff: shoppers react to what they bought after"
    )
    p.add_argument(
        "--baseline", type=float, default=0.1, help="conversion per exposure the test is planned on"
    )
    p.add_argument("--mde", type=float, default=0.2, help="relative lift the test must detect")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    home = Path(os.environ["SHELFWISE_HOME"])
    out = home / "bench-experiments"
    out.mkdir(parents=True, exist_ok=True)
    ws = Workspace(home)
    keys = KeyStore(keys_path(home))
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    made = {
        role: keys.create(role, f"bench-experiments-{role}-{stamp}") for role in ("storefront", "marketer")
    }

    def shelfwise(*a: str) -> str:
        code, _, _, text = zoo.shelfwise(home, *a, log=out / "commands.log")
        print(text, end="", flush=True)
        if code:
            raise RuntimeError(f"`shelfwise {' '.join(a)}` exited {code}")
        return text

    orders = ws.read_table("orders")
    as_of = pd.Timestamp(args.as_of)
    truth, values = held_out(orders, as_of, 90), order_values(orders, as_of)
    customers = sorted(set(truth) & set(orders.loc[orders["timestamp"] < as_of, "customer_id"].dropna()))
    try:
        with running_service(zoo.env(home), out / "service.log", timeout=300) as (_, url):
            version = register_challenger(home, "popularity")
            name = f"bench-{stamp}"
            shelfwise(
                "experiments",
                "start",
                name,
                "--challenger",
                version,
                "--share",
                "0.5",
                "--baseline",
                str(args.baseline),
                "--mde",
                str(args.mde),
            )
            time.sleep(10)  # both workers load the challenger (status shows it)
            needed = exposures_needed(args.baseline, args.mde)
            started = time.monotonic()
            seen = simulate(
                url, made["storefront"][1], customers, truth, visits=int(2.3 * needed), seed=args.seed
            )
            print(f"simulated {seen['visits'].sum():,} visits in {time.monotonic() - started:.0f} s:\n{seen}")
            time.sleep(1)
            shelfwise("experiments", "report", name, "--out", str(out))
            shelfwise("experiments", "stop", name)

            logged = simulate_offers(
                url,
                (made["marketer"][1], made["storefront"][1]),
                sorted(values.index),
                truth,
                values,
                item_id=str(orders["item_id"].mode().iloc[0]),
                seed=args.seed,
            )
            print(
                f"{len(logged):,} offer decisions, {logged['explored'].mean():.1%} explored, "
                f"mean revenue {logged['revenue'].mean():.2f}"
            )
            time.sleep(1)
            candidate = out / "candidate.toml"
            candidate.write_text(
                DEFAULT_CATALOGUE.read_text().replace(
                    "cost_share_of_order = 0.15", "cost_share_of_order = 0.05"
                )
            )
            said = shelfwise(
                "offers",
                "evaluate",
                "--policy",
                str(candidate),
                "--since",
                time.strftime("%Y-%m-%d", time.gmtime()),
                "--out",
                str(out / "decisions.csv"),
            )
            decisions = pd.read_csv(out / "decisions.csv")
            truth_value = np.mean(
                [
                    expected_reward(a, str(c), truth, values)
                    for a, c in zip(decisions["candidate"], decisions["customer_id"], strict=True)
                ]
            )
            served_value = np.mean(
                [
                    expected_reward(a, str(c), truth, values)
                    for a, c in zip(decisions["action"], decisions["customer_id"], strict=True)
                ]
            )
            print(
                f"under the simulator's response model: the candidate earns {truth_value:.3f} per decision, "
                f"the served policy {served_value:.3f}"
            )
            (out / "offers-evaluate.txt").write_text(
                said + f"simulator: candidate {truth_value:.3f}, served {served_value:.3f}\n"
            )
    finally:
        for record, _ in made.values():
            keys.revoke(record.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
