"""``shelfwise offers evaluate``: a candidate offer policy valued on the decisions the served
policy logged, before it ships (:mod:`features.experiments.off_policy`).

The candidate is an offer catalogue (new offers, costs, rates or eligibility) read by the
same :class:`~serving.marketing.offers.OfferPolicy`; its greedy decision for each logged
customer is compared with what the served policy did. A decision's reward is the revenue
of the purchases posted with its ``recommendation_id`` (an offer redeemed at checkout).
Only ``POST /offers`` decisions logged with a propensity, under the scores now served (the
same as-of date), are used; the others are counted and left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.experiments.attribution import revenue
from features.experiments.off_policy import Estimate, evaluate
from features.live.store import RECOMMENDATION_ID, LiveStore, naive_utc
from serving.marketing.offers import OfferCatalogue, OfferPolicy


@dataclass
class Evaluation:
    decisions: pd.DataFrame  # one row per logged decision used: action, propensity, reward, candidate
    estimates: dict[str, Estimate]
    left_out: dict[str, int]  # reason -> decisions
    unseen_actions: dict[str, int]  # candidate actions the log never took -> decisions


def logged_decisions(records: list[dict], as_of: str, since) -> tuple[pd.DataFrame, dict[str, int]]:
    """The usable ``POST /offers`` decisions logged since ``since``, and how many were left
    out, by reason."""
    since = naive_utc(since)
    left_out: dict[str, int] = {}
    rows = []
    for r in records:
        if r.get("source") != "api" or r.get("campaign"):
            continue
        if naive_utc(r["logged_at"]) < since:
            continue
        reason = ("logged without a propensity (before exploration)" if "propensity" not in r
                  else "logged without a recommendation_id" if not r.get(RECOMMENDATION_ID)
                  else f"decided with scores as of {r.get('as_of')}, not {as_of}" if r.get("as_of") != as_of
                  else None)
        if reason:
            left_out[reason] = left_out.get(reason, 0) + 1
            continue
        rows.append({"customer_id": r["customer_id"], "action": r["offer"], "propensity": r["propensity"],
                     RECOMMENDATION_ID: r[RECOMMENDATION_ID], "logged_at": r["logged_at"]})
    columns = ["customer_id", "action", "propensity", RECOMMENDATION_ID, "logged_at"]
    return pd.DataFrame(rows, columns=columns), left_out


def rewards(store: LiveStore, ids: pd.Series) -> pd.Series:
    """Revenue of the purchases posted with each decision's id (0 for none)."""
    events = store.events_frame(recommendation_ids=True)
    bought = events[(events["event_type"] == "purchase") & events[RECOMMENDATION_ID].isin(set(ids))]
    return ids.map(revenue(bought).groupby(bought[RECOMMENDATION_ID]).sum()).fillna(0.0)


def evaluate_policy(served: OfferPolicy, records: list[dict], store: LiveStore, candidate_file: Path,
                    since) -> Evaluation:
    """IPS and doubly robust values of the candidate catalogue's policy, and the served one's."""
    candidate = OfferPolicy(served.base, OfferCatalogue.read(candidate_file), served.prices,
                            served.bundles_of)
    logged, left_out = logged_decisions(records, served.base.as_of.date().isoformat(), since)
    unknown = ~logged["customer_id"].isin(candidate.values.index)
    if unknown.any():
        left_out["customer no longer scored"] = int(unknown.sum())
        logged = logged[~unknown]
    if logged.empty:
        raise ValueError(f"no POST /offers decision logged since {naive_utc(since).date()} can be used"
                         + (f" ({', '.join(f'{n:,} {why}' for why, n in left_out.items())})" if left_out else
                            ": the service logs one per call"))
    logged = logged.reset_index(drop=True)
    logged["reward"] = rewards(store, logged[RECOMMENDATION_ID]).to_numpy()
    logged["candidate"] = [candidate.greedy(c)[0] for c in logged["customer_id"]]
    seen = set(logged["action"])
    unseen = logged.loc[~logged["candidate"].isin(seen), "candidate"].value_counts().to_dict()
    return Evaluation(logged, evaluate(logged, logged["candidate"]), left_out, unseen)


def summary_text(e: Evaluation, candidate_file: Path) -> str:
    same = int((e.decisions["candidate"] == e.decisions["action"]).sum())
    lines = [f"{len(e.decisions):,} logged POST /offers decisions; the candidate ({candidate_file}) takes "
             f"the logged action in {same:,} of them",
             f"{'policy':<34}{'revenue per decision':>22}{'95% interval':>24}"]
    names = {"logged": "served (on the log)", "ips": "candidate, inverse propensity",
             "dr": "candidate, doubly robust"}
    for key in ("logged", "ips", "dr"):
        est = e.estimates[key]
        lines.append(f"{names[key]:<34}{est.value:>22.3f}{f'{est.low:.3f} to {est.high:.3f}':>24}")
    for why, n in e.left_out.items():
        lines.append(f"left out: {n:,} decisions {why}")
    if e.unseen_actions:
        lines.append("the candidate takes actions the log never took, which no estimate can value (raise "
                     "the exploration rate or log longer): "
                     + ", ".join(f"{a} ({n:,})" for a, n in e.unseen_actions.items()))
    return "\n".join(lines)
