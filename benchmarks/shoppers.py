"""A seeded shopper simulator that sends traffic to a running service and clicks and buys
what it is shown, so that the experiment loop (exposures, attribution, A/B tests, offer
evaluation) can be proved end to end.

Each simulated visit is a known customer asking for "for you" (``POST /recommend``); the
shopper looks down the list and clicks an item with a probability that is higher when it is
among the items they really bought in the held-out weeks after the models' cutoff, and
lower further down the list (a position bias of 1 / log2(position + 2), as in DCG); a
click turns into a purchase with a probability that is again higher for an item they
really bought. Clicks and purchases are posted with the answer's ``recommendation_id``. So
a recommender that ranks what customers really buy earns more: exactly what an A/B test
between a good and a weak recommender must detect. The probabilities are assumptions (one
place, :class:`Behaviour`), not estimates.

A visit's random draws depend only on the seed and the visit's number, so a run is the same
whatever the number of threads.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Behaviour:
    """How a simulated shopper reacts to a shown item (before the position bias)."""

    click_bought_later: float = 0.5  # an item they buy in the held-out window
    click_other: float = 0.03
    buy_after_click_bought_later: float = 0.7
    buy_after_click_other: float = 0.05


def held_out(orders: pd.DataFrame, as_of: pd.Timestamp, days: int = 90) -> dict[str, frozenset[str]]:
    """The items each customer bought in the ``days`` after ``as_of`` (the truth shoppers react to)."""
    window = orders[
        (orders["timestamp"] >= as_of)
        & (orders["timestamp"] < as_of + pd.Timedelta(days=days))
        & (orders["quantity"] > 0)
        & orders["customer_id"].notna()
    ]
    return {str(c): frozenset(g.astype(str)) for c, g in window.groupby("customer_id")["item_id"]}


def _visit(
    client: httpx.Client,
    n: int,
    seed: int,
    customers: list[str],
    truth: dict[str, frozenset[str]],
    behaviour: Behaviour,
    k: int,
) -> dict:
    rng = np.random.default_rng([seed, n])
    customer = customers[int(rng.integers(len(customers)))]
    r = client.post("/recommend", json={"user_id": customer, "k": k})
    r.raise_for_status()
    body = r.json()
    bought, events, revenue = truth.get(customer, frozenset()), [], 0.0
    for position, item in enumerate(body["items"]):
        real = item["item_id"] in bought
        bias = 1 / math.log2(position + 2)
        if rng.random() >= (behaviour.click_bought_later if real else behaviour.click_other) * bias:
            continue
        event = {
            "user_id": customer,
            "item_id": item["item_id"],
            "recommendation_id": body["recommendation_id"],
        }
        events.append({**event, "event_type": "view"})
        buy = behaviour.buy_after_click_bought_later if real else behaviour.buy_after_click_other
        if rng.random() < buy:
            price = item["price"] if item["price"] is not None else 1.0
            events.append({**event, "event_type": "purchase", "price": price, "quantity": 1})
            revenue += price
    if events:
        client.post("/events", json={"events": events}).raise_for_status()
    return {
        "variant": body["variant"],
        "clicks": sum(e["event_type"] == "view" for e in events),
        "purchases": sum(e["event_type"] == "purchase" for e in events),
        "revenue": revenue,
    }


def simulate(
    url: str,
    key: str,
    customers: list[str],
    truth: dict[str, frozenset[str]],
    visits: int,
    seed: int = 0,
    behaviour: Behaviour = Behaviour(),
    k: int = 10,
    threads: int = 4,
) -> pd.DataFrame:
    """Run ``visits`` visits against the service at ``url``; per variant the shoppers'
    visits, clicks, purchases (converted visits) and revenue as the simulator saw them."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        with ThreadPoolExecutor(threads) as pool:
            done = list(
                pool.map(lambda n: _visit(client, n, seed, customers, truth, behaviour, k), range(visits))
            )
    out = pd.DataFrame(done)
    table = out.groupby("variant").agg(
        visits=("variant", "size"),
        clicks=("clicks", "sum"),
        purchases=("purchases", "sum"),
        revenue=("revenue", "sum"),
    )
    table["converted"] = out.assign(c=out["purchases"] > 0).groupby("variant")["c"].sum()
    table["conversion"] = table["converted"] / table["visits"]
    return table


@dataclass(frozen=True)
class OfferResponse:
    """How a simulated customer answers an offer: they buy with a base probability that is
    higher when they really bought again in the held-out window, times the offer's pull, and
    spend their usual order (their average order value before the cutoff)."""

    base_bought_later: float = 0.3
    base_other: float = 0.05
    pull: tuple[tuple[str, float], ...] = (
        ("no offer", 1.0),
        ("retention_discount", 1.8),
        ("loyalty_reward", 1.3),
        ("win_back", 2.5),
        ("free_shipping", 1.5),
        ("cross_sell_bundle", 1.2),
    )

    def probability(self, offer: str, bought_later: bool) -> float:
        base = self.base_bought_later if bought_later else self.base_other
        return min(base * dict(self.pull).get(offer, 1.0), 1.0)


def order_values(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Each customer's average order value before ``as_of`` (what a simulated purchase spends)."""
    before = orders[(orders["timestamp"] < as_of) & orders["customer_id"].notna()]
    spend = before["revenue"].groupby([before["customer_id"], before["order_id"]]).sum()
    return spend.groupby(level=0).mean().clip(lower=0.0)


def expected_reward(
    offer: str,
    customer: str,
    truth: dict[str, frozenset[str]],
    values: pd.Series,
    response: OfferResponse = OfferResponse(),
) -> float:
    """What an offer earns from a customer on average under :class:`OfferResponse`."""
    return response.probability(offer, customer in truth) * float(values.get(customer, 0.0))


def simulate_offers(
    url: str,
    keys: tuple[str, str],
    customers: list[str],
    truth: dict[str, frozenset[str]],
    values: pd.Series,
    item_id: str,
    seed: int = 0,
    response: OfferResponse = OfferResponse(),
    threads: int = 4,
) -> pd.DataFrame:
    """Ask ``POST /offers`` once for each customer and answer as :class:`OfferResponse` says,
    posting a purchase (of ``item_id``, at the customer's order value) with the offer's
    ``recommendation_id`` when they buy. ``keys``: a marketer's key (offers) and a storefront's
    (events). Returns one row per decision: the offer, its propensity, whether it was
    explored and what it earned (customers the service has no scores for are skipped)."""
    marketer, storefront = ({"Authorization": f"Bearer {k}"} for k in keys)

    def one(n: int) -> dict | None:
        rng = np.random.default_rng([seed, n, 1])
        customer = customers[n]
        answer = client.post("/offers", json={"customer_id": customer}, headers=marketer)
        if answer.status_code == 404:  # no scores (for example only returns before the cutoff)
            return None
        body = answer.raise_for_status().json()
        revenue = 0.0
        if rng.random() < response.probability(body["offer"], customer in truth):
            revenue = round(float(values.get(customer, 0.0)), 2)
            bought = {
                "user_id": customer,
                "item_id": item_id,
                "event_type": "purchase",
                "price": revenue,
                "quantity": 1,
                "recommendation_id": body["recommendation_id"],
            }
            client.post("/events", json={"events": [bought]}, headers=storefront).raise_for_status()
        return {
            "customer_id": customer,
            "offer": body["offer"],
            "propensity": body["propensity"],
            "explored": body["explored"],
            "revenue": revenue,
        }

    with httpx.Client(base_url=url, timeout=30) as client:
        with ThreadPoolExecutor(threads) as pool:
            return pd.DataFrame([r for r in pool.map(one, range(len(customers))) if r is not None])
