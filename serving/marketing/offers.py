"""Next best offer: which offer, if any, each customer should get, and a campaign's plan.

The offer catalogue is a TOML file (:data:`DEFAULT_CATALOGUE`, or the workspace's
``offers.toml``). For every customer, :class:`OfferPolicy` values each offer the customer
is eligible for as expected margin minus cost, from the served churn probability and
predicted CLTV, the customer's average order value and the recommender's
frequently-bought-together rules, and picks the best; when nothing pays, the decision is
"no offer". The formulas are in the catalogue's comments and in every decision's reason.

A campaign spends a budget greedily by value per cost (the classic approximation for a
knapsack; Dantzig 1957), at most one offer per customer, skipping customers contacted by
other campaigns more than the campaign allows. Every decision is appended to the
workspace's decision log with its inputs, so outcomes can be evaluated later.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from features.experiments.off_policy import epsilon_greedy
from features.messages import field_problems
from serving.marketing.bundles import Bundles
from serving.marketing.segments import CustomerBase, SegmentError, SegmentFilter
from serving.runtime.shared_store import SharedStore

DEFAULT_CATALOGUE = Path(__file__).with_name("offers.toml")
NO_OFFER = "no offer"


class Assumptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    margin: float = Field(0.35, gt=0, le=1, description="Gross margin on revenue.")
    bundle_quantity: float = Field(6, gt=0, description="Units of each bundle item a customer takes.")


class Offer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["retention", "win_back", "uplift", "cross_sell"]
    description: str = ""
    cost_fixed: float = Field(0.0, ge=0)
    cost_share_of_order: float = Field(0.0, ge=0, le=1)
    save_rate: float | None = Field(None, ge=0, le=1)
    reactivation_rate: float | None = Field(None, ge=0, le=1)
    uplift: float | None = Field(None, ge=0)
    take_rate: float | None = Field(None, ge=0, le=1)
    bundle_size: int = Field(3, ge=1, le=20)
    eligible: SegmentFilter = SegmentFilter()

    @model_validator(mode="after")
    def _rate_of_kind(self) -> Offer:
        need = {
            "retention": "save_rate",
            "win_back": "reactivation_rate",
            "uplift": "uplift",
            "cross_sell": "take_rate",
        }[self.kind]
        if getattr(self, need) is None:
            raise ValueError(f"an offer of kind {self.kind!r} needs {need}")
        return self


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exploration: float = Field(
        0.05, ge=0, le=0.5,
        description="Share of POST /offers decisions taken at random among the customer's eligible offers "
                    "and 'no offer', so that other policies can be judged on the log (offers evaluate).")


class Campaign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    offers: list[str] = Field(min_length=1)
    budget: float = Field(gt=0)
    max_contacts: int = Field(1, ge=1, description="Contacts per customer across campaigns in the window.")
    contact_window_days: int = Field(30, ge=1)


class OfferCatalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assumptions: Assumptions = Assumptions()
    policy: Policy = Policy()
    offers: dict[str, Offer] = Field(min_length=1)
    campaigns: dict[str, Campaign] = {}
    _source: str = PrivateAttr("")  # the file it was read from, for messages

    @model_validator(mode="after")
    def _known_offers(self) -> OfferCatalogue:
        for name, campaign in self.campaigns.items():
            unknown = sorted(set(campaign.offers) - set(self.offers))
            if unknown:
                raise ValueError(
                    f"campaign {name!r} names offers {unknown} that the catalogue does not define"
                )
        return self

    @classmethod
    def read(cls, path: Path) -> OfferCatalogue:
        """Parse and validate; errors name the file and the field."""
        try:
            catalogue = cls.model_validate(tomllib.loads(path.read_text()))
        except FileNotFoundError:
            raise ValueError(f"{path}: no such file; an offer catalogue is a TOML file (the default one: "
                             "serving/marketing/offers.toml)") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML: {exc}") from None
        except ValidationError as exc:
            raise ValueError(f"{path}: {field_problems(exc.errors(), 'catalogue')}") from None
        catalogue._source = str(path)
        return catalogue

    def campaign(self, name: str) -> Campaign:
        """The campaign called ``name``; a :class:`SegmentError` (a client error) naming the
        catalogue's campaigns if there is none."""
        if name not in self.campaigns:
            raise SegmentError(
                f"campaign {name!r} is not in the offer catalogue {self._source} ({sorted(self.campaigns)})"
            )
        return self.campaigns[name]


def catalogue_path(home: Path, override: Path | None = None) -> Path:
    """The catalogue to use: ``override``, else the workspace's ``offers.toml``, else the default."""
    if override is not None:
        return override
    own = home / "offers.toml"
    return own if own.exists() else DEFAULT_CATALOGUE


class OfferPolicy:
    """Every customer's value for every offer, computed once from the served scores.

    Parameters
    ----------
    base :
        The customers with their scores, profiles and (optionally) the recommender.
    catalogue :
        Offers, assumptions and campaigns.
    prices :
        Item price by item id, for cross-sell bundles.
    bundles :
        Every customer's bundle of a size (:func:`serving.marketing.bundles.bundles_in`: kept
        in the workspace); None: computed here.
    """

    def __init__(self, base: CustomerBase, catalogue: OfferCatalogue, prices: pd.Series | None = None,
                 bundles: Callable[[int], Bundles] | None = None):
        self.base, self.catalogue = base, catalogue
        self.bundles_of = bundles or (lambda size: Bundles.compute(base.recs, size))
        self.assumptions = catalogue.assumptions
        t = base.table
        self.inputs = pd.DataFrame(
            {
                "churn_probability": t["churn_probability"],
                "predicted_cltv": t["predicted_cltv"].clip(lower=0),
                "average_order_value": t["average_order_value"],
                "rfm_segment": t["rfm_segment"],
                "lifecycle": t["lifecycle"],
                "risk_band": t["risk_band"],
            }
        )
        self.prices = prices if prices is not None else pd.Series(dtype=float)
        self._bundles: dict[int, Bundles] = {}  # by size
        values, revenue, costs = {}, {}, {}
        for name, offer in catalogue.offers.items():
            eligible = base.select(offer.eligible).index
            v, r, c = self._value(offer, eligible)
            values[name], revenue[name], costs[name] = v, r, c
        self.values = pd.DataFrame(values).reindex(t.index)  # NaN: not eligible
        self.revenue = pd.DataFrame(revenue).reindex(t.index)
        self.costs = pd.DataFrame(costs).reindex(t.index)

    def _value(self, offer: Offer, ids: pd.Index) -> tuple[pd.Series, pd.Series, pd.Series]:
        """Expected net value, expected revenue and cost of an offer for eligible customers."""
        x = self.inputs.loc[ids]
        cost = offer.cost_fixed + offer.cost_share_of_order * x["average_order_value"]
        if offer.kind == "retention":
            revenue = x["churn_probability"] * x["predicted_cltv"] * offer.save_rate
        elif offer.kind == "win_back":
            revenue = offer.reactivation_rate * x["average_order_value"]
        elif offer.kind == "uplift":
            revenue = offer.uplift * x["average_order_value"]
        else:
            revenue = offer.take_rate * self._bundle_revenue(ids, offer.bundle_size)
        value = revenue * self.assumptions.margin - cost
        keep = revenue.notna()
        return value[keep].round(2), revenue[keep].round(2), cost[keep].round(2)

    def _bundle_revenue(self, ids: pd.Index, size: int) -> pd.Series:
        """Revenue of each customer's cross-sell bundle (:meth:`BlendedRuntime.cross_sell`);
        NaN for customers without one."""
        recs = self.base.recs
        revenue = pd.Series(np.nan, index=ids, dtype=float)
        if recs is None:
            return revenue
        rows = recs.history.users.indices(ids.to_numpy())
        known = np.flatnonzero(rows >= 0)
        indptr, items = self._sized(size).rows(rows[known])
        col_price = self.prices.reindex(recs.item_ids).fillna(0.0).to_numpy(float)
        owner = np.repeat(np.arange(len(known)), np.diff(indptr))
        total = np.bincount(owner, weights=col_price[items], minlength=len(known))
        has = np.diff(indptr) > 0
        revenue.iloc[known[has]] = total[has] * self.assumptions.bundle_quantity
        return revenue

    def bundle(self, customer_id: str, name: str) -> list[str]:
        """The items of the customer's bundle for cross-sell offer ``name`` (empty: none)."""
        recs = self.base.recs
        row = -1 if recs is None else int(recs.history.users.indices(np.array([customer_id]))[0])
        if row < 0:
            return []
        bundles = self._sized(self.catalogue.offers[name].bundle_size)
        return [recs.item_ids[i] for i in bundles.items[bundles.indptr[row]:bundles.indptr[row + 1]]]

    def _sized(self, size: int) -> Bundles:
        if size not in self._bundles:
            self._bundles[size] = self.bundles_of(size)
        return self._bundles[size]

    # -- one customer ------------------------------------------------------------------------
    def inputs_of(self, customer_id: str) -> dict:
        """What a decision for the customer was based on, as plain JSON values (for the log)."""
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in self.inputs.loc[customer_id].items()}

    def _ranked(self, customer_id: str, offers: list[str] | None) -> pd.Series:
        """The customer's eligible offers among ``offers`` (default: all), best value first."""
        names = offers or list(self.values.columns)
        return self.values.loc[customer_id, names].dropna().sort_values(ascending=False, kind="stable")

    def greedy(self, customer_id: str, offers: list[str] | None = None) -> tuple[str, list[str]]:
        """The best paying offer for the customer among ``offers`` (or "no offer"), and every
        action open to them: their eligible offers and "no offer"."""
        return _greedy(self._ranked(customer_id, offers))

    def decide(self, customer_id: str, offers: list[str] | None = None, draw: float | None = None) -> dict:
        """The best offer for one customer among ``offers`` (default: all), with the reason
        in words and numbers, the alternatives and the inputs.

        With a uniform ``draw`` in [0, 1) the catalogue's exploration rate applies
        (:func:`features.experiments.off_policy.epsilon_greedy`): the decision may be another
        open action, taken at random, and says so; its ``propensity`` is the probability
        with which it was taken, which ``offers evaluate`` needs."""
        if customer_id not in self.values.index:
            raise KeyError(customer_id)
        row = self._ranked(customer_id, offers)
        best, actions = _greedy(row)
        epsilon = self.catalogue.policy.exploration if draw is not None else 0.0
        chosen, propensity, explored = epsilon_greedy(best, actions, epsilon, draw or 0.0)
        decision = self._decision(customer_id, row, chosen, best)
        if explored and chosen != best:
            decision["reason"] = (f"explored: taken at random among {len(actions)} open actions (exploration "
                                  f"rate {epsilon:g}) instead of {best}; {decision['reason']}")
        return {**decision, "propensity": round(propensity, 6), "explored": explored}

    def _decision(self, customer_id: str, row: pd.Series, chosen: str, best: str) -> dict:
        """The decision for ``chosen`` (the ``best`` action, or one explored) from the
        customer's ranked offers ``row``."""
        inputs = self.inputs_of(customer_id)
        alternatives = [{"offer": n, "expected_value": float(v)} for n, v in row.items()]
        if chosen == NO_OFFER:
            why = (
                "eligible for none of the offers"
                if row.empty
                else f"no offer pays: the best, {row.index[0]}, is worth {row.iloc[0]:.2f} after its cost"
                if chosen == best
                else "no offer"
            )
            return {
                "customer_id": customer_id,
                "offer": NO_OFFER,
                "expected_value": 0.0,
                "expected_revenue": 0.0,
                "cost": 0.0,
                "reason": why,
                "alternatives": alternatives,
                "inputs": inputs,
            }
        if chosen != row.index[0]:  # explored: this offer first, whatever it pays
            row = pd.concat([row[[chosen]], row.drop(chosen)])
        return {
            "customer_id": customer_id,
            "offer": chosen,
            "description": self.catalogue.offers[chosen].description,
            "expected_value": float(row.iloc[0]),
            "expected_revenue": float(self.revenue.at[customer_id, chosen]),
            "cost": float(self.costs.at[customer_id, chosen]),
            "reason": self.reason(customer_id, chosen, row),
            "alternatives": alternatives,
            "inputs": inputs,
            "bundle": (self.bundle(customer_id, chosen) if self.catalogue.offers[chosen].kind == "cross_sell"
                       else None),
        }

    def reason(self, customer_id: str, name: str, ranked: pd.Series | None = None) -> str:
        offer, x, m = self.catalogue.offers[name], self.inputs.loc[customer_id], self.assumptions.margin
        revenue, cost = self.revenue.at[customer_id, name], self.costs.at[customer_id, name]
        value = self.values.at[customer_id, name]
        if offer.kind == "retention":
            how = (
                f"P(churn) {x['churn_probability']:.2f} x predicted CLTV {x['predicted_cltv']:.2f} "
                f"x save rate {offer.save_rate:.2f}"
            )
        elif offer.kind == "win_back":
            aov = x["average_order_value"]
            how = f"reactivation rate {offer.reactivation_rate:.2f} x average order {aov:.2f}"
        elif offer.kind == "uplift":
            how = f"uplift {offer.uplift:.2f} x average order {x['average_order_value']:.2f}"
        else:
            how = (
                f"take rate {offer.take_rate:.2f} x bundle of {len(self.bundle(customer_id, name))} "
                f"items ({revenue / offer.take_rate:.2f})"
            )
        text = (
            f"{name}: {how} = {revenue:.2f} expected revenue x margin {m:.2f} - cost {cost:.2f} "
            f"= {value:.2f} expected net value"
        )
        if ranked is not None and len(ranked) > 1:
            text += f"; next best {ranked.index[1]} ({ranked.iloc[1]:.2f})"
        return text

    # -- a campaign ---------------------------------------------------------------------------
    def plan(
        self, campaign_name: str, budget: float | None = None, contacted: pd.Series | None = None
    ) -> tuple[pd.DataFrame, dict]:
        """Choose customers and offers for a campaign within its budget.

        ``contacted`` counts each customer's contacts by other campaigns in the campaign's
        window; customers at the limit are left out. Returns the plan (one row per chosen
        customer, best value per cost first) and its summary.
        """
        campaign = self.catalogue.campaign(campaign_name)
        budget = campaign.budget if budget is None else budget
        values = self.values[campaign.offers]
        best = values.fillna(-np.inf).idxmax(axis=1).where(values.notna().any(axis=1))
        chosen = pd.DataFrame({"offer": best}).dropna()
        chosen["expected_value"] = [values.at[c, o] for c, o in chosen["offer"].items()]
        chosen = chosen[chosen["expected_value"] > 0]
        at_limit = 0
        if contacted is not None and len(contacted):
            over = contacted.reindex(chosen.index).fillna(0) >= campaign.max_contacts
            at_limit = int(over.sum())
            chosen = chosen[~over]
        chosen["cost"] = [self.costs.at[c, o] for c, o in chosen["offer"].items()]
        chosen["expected_revenue"] = [self.revenue.at[c, o] for c, o in chosen["offer"].items()]
        chosen["value_per_cost"] = chosen["expected_value"] / chosen["cost"].clip(lower=0.01)
        chosen = chosen.sort_values(["value_per_cost", "expected_value"], ascending=False, kind="stable")
        # Greedy: take each in order if it still fits (a cheaper one later may fit when this does not).
        spent, take = 0.0, []
        for cost in chosen["cost"].to_numpy():
            fits = spent + cost <= budget + 1e-9
            take.append(fits)
            spent += cost if fits else 0.0
        plan = chosen[np.array(take, dtype=bool)].rename_axis("customer_id").reset_index()
        plan["reason"] = [self.reason(c, o) for c, o in zip(plan["customer_id"], plan["offer"], strict=True)]
        for col in ("expected_value", "cost", "expected_revenue", "value_per_cost"):
            plan[col] = plan[col].round(2)
        summary = {
            "campaign": campaign_name,
            "budget": budget,
            "customers_reached": len(plan),
            "customers_with_a_paying_offer": len(chosen) + at_limit,
            "left_out_by_contact_limit": at_limit,
            "left_out_by_budget": len(chosen) - len(plan),
            "expected_cost": round(float(plan["cost"].sum()), 2),
            "expected_retained_revenue": round(float(plan["expected_revenue"].sum()), 2),
            "expected_net_value": round(float(plan["expected_value"].sum()), 2),
            "by_offer": {o: int(n) for o, n in plan["offer"].value_counts().items()},
            "as_of": self.base.as_of.date().isoformat(),
            "assumptions": self.assumptions.model_dump(),
        }
        return plan, summary


def _greedy(ranked: pd.Series) -> tuple[str, list[str]]:
    """The best of a customer's ranked offers if it pays, else "no offer"; and every action open."""
    return (ranked.index[0] if len(ranked) and ranked.iloc[0] > 0 else NO_OFFER), [*ranked.index, NO_OFFER]


class DecisionLog:
    """Append-only JSON lines in ``<workspace>/offers/decisions.jsonl``, or rows of the shared
    store when there is one (:mod:`serving.runtime.shared_store`: replicas on other machines
    then count each other's contacts).

    One line per decision, written with a single ``O_APPEND`` write, so worker processes
    can share the file. Campaign lines count as contacts for the contact limits.
    """

    def __init__(self, directory: Path, shared: SharedStore | None = None):
        self.path = directory / "decisions.jsonl"
        self.shared = shared

    @property
    def where(self) -> str:
        return "the shared store" if self.shared is not None else str(self.path)

    def append(self, records: list[dict]) -> None:
        if not records:
            return
        now = datetime.now(UTC).isoformat(timespec="seconds")
        if self.shared is not None:
            self.shared.append_decisions([{"logged_at": now, **r} for r in records])
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps({"logged_at": now, **r}, default=str) + "\n" for r in records).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def records(self) -> list[dict]:
        """Every decision logged, oldest first."""
        if self.shared is not None:
            return self.shared.decisions()
        if not self.path.exists():
            return []
        with open(self.path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def contacts(self, window_days: int, exclude_campaign: str | None = None) -> pd.Series:
        """Campaigns that contacted each customer in the last ``window_days`` (a campaign
        planned twice counts once, and not against itself)."""
        since = datetime.now(UTC) - timedelta(days=window_days)
        if self.shared is not None:
            return self.shared.campaign_contacts(since, exclude_campaign, NO_OFFER)
        if not self.path.exists():
            return pd.Series(dtype=int)
        campaigns: dict[str, set[str]] = {}
        with open(self.path) as f:
            for line in f:
                r = json.loads(line)
                if not r.get("campaign") or r["campaign"] == exclude_campaign or r.get("offer") == NO_OFFER:
                    continue
                if datetime.fromisoformat(r["logged_at"]) >= since:
                    campaigns.setdefault(r["customer_id"], set()).add(r["campaign"])
        return pd.Series({c: len(s) for c, s in campaigns.items()}, dtype=int)
