"""What marketers use: segments, offers and the report, over the served champions.

:class:`Marketing` is built once per set of champion models (by the service at load, by
the command line per call), so a segment, an offer and a report always come from the
same scores ``POST /customer`` returns. ``shelfwise segments|offers|report`` run
``python -m serving.marketing.tools``:

    segments list | show NAME | save NAME --filter JSON | export NAME --format csv|parquet --out FILE
    offers plan --campaign NAME [--budget N] --out FILE | offers decide CUSTOMER_ID
    offers evaluate --policy FILE --since DATE [--out FILE]
    report --out DIR
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from features.experiments.ab import bucket
from features.messages import field_problems
from features.workspace import Settings, Workspace
from serving.marketing.bundles import bundles_in
from serving.marketing.offers import DecisionLog, OfferCatalogue, OfferPolicy, catalogue_path
from serving.marketing.segments import CustomerBase, SavedSegments, SegmentError, SegmentFilter
from serving.marketing.spreadsheet import defuse_formulas
from serving.runtime.models import BlendedRuntime
from serving.runtime.registry import MissingFamilyError, NoChampionError, download_champions
from serving.runtime.score_table import ScoredCustomers, customer_scores
from serving.runtime.shared_store import shared_store


def report_path(workspace: Workspace) -> Path:
    """Where the latest report (:mod:`serving.marketing.report`) is kept for the service."""
    return workspace.home / "report" / "index.html"


@dataclass
class Marketing:
    base: CustomerBase
    _policy: OfferPolicy | None  # None without churn and CLTV scores: offers weigh both
    saved: SavedSegments
    log: DecisionLog
    catalogue_file: Path
    versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        workspace: Workspace,
        scored: ScoredCustomers,
        recs: BlendedRuntime | None,
        versions: dict[str, str],
        items: pd.DataFrame | None,
        offers_file: Path | None = None,
    ) -> Marketing:
        """``items`` is the workspace's table, which the caller has read already (for the
        catalogue)."""
        base = CustomerBase(scored, items, recs)
        path = catalogue_path(workspace.home, offers_file)
        prices = items.set_index("item_id")["price"] if items is not None else None
        policy = (OfferPolicy(base, OfferCatalogue.read(path), prices, bundles_in(workspace, recs))
                  if {"churn", "cltv"} <= set(scored.scorer.families) else None)
        return cls(
            base,
            policy,
            SavedSegments(workspace.home / "segments"),
            DecisionLog(workspace.home / "offers", shared_store(workspace.shared_store_url)),
            path,
            dict(versions),
        )

    @property
    def policy(self) -> OfferPolicy:
        """The offer policy; :class:`~serving.runtime.registry.MissingFamilyError` without
        churn or CLTV scores, which every offer's value is made of."""
        if self._policy is None:
            self.base.scorer.require(("churn", "cltv"), "an offer")
        return self._policy

    def list_segments(self) -> pd.DataFrame:
        """Built-in and saved segments with their sizes now."""
        sizes = self.base.family_sizes()
        saved = [
            (r["family"], n, len(self.base.select(f)), r.get("computed_at"))
            for n in self.saved.names()
            for r, f in [self.saved.segment(n)]
        ]
        saved_frame = pd.DataFrame(saved, columns=["family", "segment", "customers", "computed_at"])
        saved_frame["share"] = (saved_frame["customers"] / max(len(self.base), 1)).round(4)
        return pd.concat([sizes, saved_frame], ignore_index=True)

    def decide(self, customer_id: str, campaign: str | None = None, source: str = "api",
               recommendation_id: str | None = None) -> dict:
        """The next best offer for one customer, logged with its inputs, model versions and
        the probability it was taken with (the catalogue's exploration rate; the draw is a
        hash of the customer and the scores' date, so asking again gives the same answer)."""
        offers = None if campaign is None else self.policy.catalogue.campaign(campaign).offers
        as_of = self.base.as_of.date().isoformat()
        decision = self.policy.decide(customer_id, offers, draw=bucket(f"offers:{as_of}", customer_id))
        decision.update(
            as_of=as_of,
            assumptions=self.policy.assumptions.model_dump(),
            model_versions=self.versions,
        )
        self.log.append([{"source": source, "campaign": None, "considered_for": campaign,
                          "recommendation_id": recommendation_id, **decision}])
        return decision

    @property
    def last_plan_path(self) -> Path:
        return self.log.path.parent / "last_plan.json"

    def last_plan(self) -> dict | None:
        """The summary of the newest campaign plan (the report shows it), if any."""
        path = self.last_plan_path
        return json.loads(path.read_text()) if path.exists() else None

    def plan(self, campaign: str, budget: float | None = None) -> tuple[pd.DataFrame, dict]:
        """A campaign's plan; every chosen decision goes to the log as a contact, and the
        summary becomes the last plan."""
        spec = self.policy.catalogue.campaign(campaign)
        contacted = self.log.contacts(spec.contact_window_days, exclude_campaign=campaign)
        plan, summary = self.policy.plan(campaign, budget, contacted)
        summary.update(catalogue=str(self.catalogue_file), model_versions=self.versions)
        self.log.append(
            [
                {
                    "source": "plan",
                    "campaign": campaign,
                    "customer_id": r.customer_id,
                    "offer": r.offer,
                    "expected_value": r.expected_value,
                    "cost": r.cost,
                    "expected_revenue": r.expected_revenue,
                    "inputs": self.policy.inputs_of(r.customer_id),
                    "as_of": summary["as_of"],
                    "model_versions": self.versions,
                }
                for r in plan.itertuples()
            ]
        )
        self.last_plan_path.parent.mkdir(parents=True, exist_ok=True)  # a plan may reach no one
        self.last_plan_path.write_text(json.dumps(summary, indent=2) + "\n")
        return plan, summary


def load(workspace: Workspace, tmp: Path, offers_file: Path | None = None) -> Marketing:
    """Download the champions into ``tmp`` and build :class:`Marketing` (the command line's way)."""
    artifacts = download_champions(workspace.tracking_uri, tmp, at_least_one=True)
    path = {f: a.path for f, a in artifacts.items()}
    versions = {f: a.label for f, a in artifacts.items()}
    scored, _ = customer_scores(workspace, path, versions)  # the service's tables, or written for it
    recs = BlendedRuntime(path["recs"]) if "recs" in path else None
    items = workspace.read_table_if_present("items")
    return Marketing.build(workspace, scored, recs, versions, items, offers_file)


def write_frame(frame: pd.DataFrame, out: Path, fmt: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        defuse_formulas(frame).to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)


def _day(text: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(datetime.strptime(text, "%Y-%m-%d"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="shelfwise", description="Segments, offers and the marketer report.")
    p.add_argument(
        "--offers",
        type=Path,
        help="offer catalogue (default: $SHELFWISE_HOME/offers.toml, else the bundled "
             "serving/marketing/offers.toml)",
    )
    sub = p.add_subparsers(dest="command", required=True)
    seg = sub.add_parser("segments", help="built-in and saved segments").add_subparsers(
        dest="action", required=True
    )
    seg.add_parser("list", help="every segment with its size now")
    show = seg.add_parser("show", help="a segment's definition, size and first members")
    show.add_argument("name")
    save = seg.add_parser("save", help="name a filter and keep it in the workspace")
    save.add_argument("name")
    save.add_argument(
        "--filter",
        required=True,
        metavar="JSON",
        help='conditions, e.g. \'{"rfm_segment": ["Champions"], "never_bought_category": ["garden"]}\'',
    )
    export = seg.add_parser("export", help="a segment's members and the scores behind them to a file")
    export.add_argument("name")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv")
    export.add_argument("--out", type=Path, required=True)
    offers = sub.add_parser("offers", help="next best offers").add_subparsers(dest="action", required=True)
    plan = offers.add_parser("plan", help="choose customers and offers for a campaign within its budget")
    plan.add_argument("--campaign", required=True)
    plan.add_argument("--budget", type=float, help="overrides the campaign's budget")
    plan.add_argument("--out", type=Path, required=True, help="the plan, .csv or .parquet")
    decide = offers.add_parser("decide", help="one customer's next best offer and why")
    decide.add_argument("customer_id")
    judge = offers.add_parser("evaluate", help="a candidate offer policy valued on the logged POST /offers "
                                               "decisions (inverse propensity and doubly robust)")
    judge.add_argument("--policy", type=Path, required=True, help="the candidate's offer catalogue (TOML)")
    judge.add_argument("--since", required=True, type=_day, help="decisions logged from this day, YYYY-MM-DD")
    judge.add_argument("--out", type=Path, help="also write each decision with the candidate's action (.csv)")
    report = sub.add_parser("report", help="the marketer report: one self-contained HTML page")
    report.add_argument("--out", type=Path, required=True, help="directory for index.html")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    ws = Workspace.from_settings(Settings())
    try:
        filt = None
        if args.command == "segments" and args.action == "save":
            try:
                filt = SegmentFilter.model_validate_json(args.filter)
            except ValidationError as exc:
                raise SegmentError(f"--filter: {field_problems(exc.errors(), 'filter')}") from None
        if (
            args.command == "segments"
            and args.action == "export"
            and args.out.suffix.lower() != f".{args.format}"
        ):
            raise SegmentError(f"--out {args.out}: use a .{args.format} file for --format {args.format}")
        with tempfile.TemporaryDirectory(prefix="shelfwise-marketing-") as tmp:
            m = load(ws, Path(tmp), args.offers)
        return _run(m, ws, args, filt)
    except (SegmentError, NoChampionError, MissingFamilyError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(m: Marketing, ws: Workspace, args: argparse.Namespace, filt: SegmentFilter | None) -> int:
    as_of = m.base.as_of.date()
    if args.command == "segments":
        if args.action == "list":
            listing = m.list_segments()
            print(f"{len(m.base):,} customers scored as of {as_of} ({', '.join(m.versions.values())})")
            print(listing.fillna("").to_string(index=False))
        elif args.action == "show":
            record, f = m.saved.segment(args.name)
            members = m.base.export(args.name, f)
            print(json.dumps({**record, "size": len(members), "as_of": str(as_of)}, indent=2, default=str))
            print(members.head(10).to_string(index=False))
        elif args.action == "save":
            record = m.saved.save(args.name, filt, m.base)
            print(f"saved segment {args.name!r}: {record['size']:,} customers as of {record['as_of']}")
        else:
            record, f = m.saved.segment(args.name)
            members = m.base.export(args.name, f)
            write_frame(members, args.out, args.format)
            if args.name in m.saved.names():  # its size and time as of this export
                m.saved.save(args.name, f, m.base)
            print(f"exported {len(members):,} customers of {args.name!r} as of {as_of} -> {args.out}")
    elif args.command == "offers":
        if args.action == "evaluate":
            from serving.marketing.offer_evaluation import evaluate_policy, summary_text

            result = evaluate_policy(m.policy, m.log.records(), ws.live_store(), args.policy, args.since)
            print(summary_text(result, args.policy))
            if args.out:
                write_frame(result.decisions, args.out, "csv")
                print(f"decisions -> {args.out}")
        elif args.action == "decide":
            if args.customer_id not in m.policy.values.index:
                raise SegmentError(f"customer_id {args.customer_id!r} has no scores as of {as_of}")
            print(json.dumps(m.decide(args.customer_id, source="cli"), indent=2, default=str))
        else:
            fmt = args.out.suffix.lower().lstrip(".")
            if fmt not in ("csv", "parquet"):
                raise SegmentError(f"--out {args.out}: write .csv or .parquet")
            plan, summary = m.plan(args.campaign, args.budget)
            write_frame(plan, args.out, fmt)
            print(_summary_text(summary) + f"\nplan -> {args.out}; decisions logged to {m.log.where}")
    else:
        from serving.marketing.report import write_report  # matplotlib: only when a report is asked for

        path = write_report(m, ws, args.out)
        print(f"report as of {as_of} -> {path} (the service shows the latest at /report)")
    return 0


def _summary_text(s: dict) -> str:
    mix = ", ".join(f"{o} {n:,}" for o, n in s["by_offer"].items()) or "none"
    return (
        f"campaign {s['campaign']} as of {s['as_of']}: budget {s['budget']:,.2f}\n"
        f"  customers reached {s['customers_reached']:,} (of {s['customers_with_a_paying_offer']:,} with an "
        f"offer that pays; {s['left_out_by_budget']:,} over budget, {s['left_out_by_contact_limit']:,} at "
        f"their contact limit)\n"
        f"  expected cost {s['expected_cost']:,.2f}, expected retained revenue "
        f"{s['expected_retained_revenue']:,.2f}, expected net value {s['expected_net_value']:,.2f}\n"
        f"  offers: {mix}\n"
        f"  assumptions: {', '.join(f'{k} {v}' for k, v in s['assumptions'].items())}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
