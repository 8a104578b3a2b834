"""What marketers segment customers on, from orders alone: RFM group, lifecycle stage,
attributes (country, tenure, order count, last purchase) and spend per category.

Everything is computed as of a date from the orders before it, so a segment can be
recomputed for any day and checked against what happened next.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import schema as s

# RFM groups on a grid of recency score (rows, 5 = most recent) by the mean of frequency
# and monetary scores (columns, 1..5), after the segment map marketers commonly use
# (for example Putler's "RFM analysis for successful customer segmentation"). Every named
# group appears on the grid; a customer is in exactly one.
RFM_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("New", "Potential loyalist", "Potential loyalist", "Champions", "Champions"),
    4: ("Promising", "Potential loyalist", "Potential loyalist", "Loyal", "Champions"),
    3: ("About to sleep", "Needs attention", "Needs attention", "Loyal", "Loyal"),
    2: ("Hibernating", "Hibernating", "At risk", "At risk", "Cannot lose them"),
    1: ("Lost", "Lost", "At risk", "Cannot lose them", "Cannot lose them"),
}
RFM_SEGMENTS = ("Champions", "Loyal", "Potential loyalist", "New", "Promising", "Needs attention",
                "About to sleep", "At risk", "Cannot lose them", "Hibernating", "Lost")
LIFECYCLE_STAGES = ("new", "active", "at risk", "lapsed", "churned")


@dataclass(frozen=True)
class LifecycleParams:
    """Day thresholds of the lifecycle stages.

    A customer whose first order is at most ``new_days`` old is ``new``; otherwise the days
    since the last order decide: up to ``active_days`` ``active``, up to ``at_risk_days``
    ``at risk``, up to ``lapsed_days`` ``lapsed``, beyond that ``churned``.
    """

    new_days: int = 90
    active_days: int = 90
    at_risk_days: int = 180
    lapsed_days: int = 365


def score_1_to_5(values: pd.Series) -> pd.Series:
    """Quintile score, 5 for the highest values. Ties share the score of their lowest rank,
    so two customers with the same number of orders never land in different groups and the
    many one-order customers all score 1."""
    pct = values.rank(method="min", pct=True)
    return np.clip(np.ceil(pct * 5), 1, 5).astype(int)


def rfm_segment(r: pd.Series, fm: pd.Series) -> pd.Series:
    """The :data:`RFM_GRID` group of each (recency score, frequency-monetary score) pair."""
    grid = np.array([RFM_GRID[score] for score in (1, 2, 3, 4, 5)], dtype=object)
    return pd.Series(grid[r.to_numpy() - 1, fm.to_numpy() - 1], index=r.index)


def lifecycle_stage(days_since_first: pd.Series, days_since_last: pd.Series,
                    params: LifecycleParams = LifecycleParams()) -> pd.Series:
    """:data:`LIFECYCLE_STAGES` of each customer (see :class:`LifecycleParams`)."""
    stage = np.select(
        [days_since_first <= params.new_days, days_since_last <= params.active_days,
         days_since_last <= params.at_risk_days, days_since_last <= params.lapsed_days],
        ["new", "active", "at risk", "lapsed"], "churned")
    return pd.Series(stage, index=days_since_first.index)


def customer_profiles(orders: pd.DataFrame, as_of: pd.Timestamp, customers: pd.DataFrame | None = None,
                      lifecycle: LifecycleParams = LifecycleParams()) -> pd.DataFrame:
    """One row per customer with a purchase before ``as_of``.

    Columns: ``country``, ``first_order_date``, ``last_order_date``, ``tenure_days`` (since
    the first order), ``recency_days`` (since the last), ``orders`` (distinct purchase
    orders), ``revenue`` (net of returns), ``average_order_value`` (the median order's sales,
    before returns: what a discount on the next order is a share of; the median, because one
    huge order that was then cancelled says nothing about the next), the scores ``r``, ``f``,
    ``m`` and ``fm`` (the mean of f and m, rounded half up), ``rfm_segment`` and ``lifecycle``.
    Returns do not count as orders; a customer with only returns has no profile.
    """
    return scored_profiles(profile_facts(orders, as_of, customers), lifecycle)


def profile_facts(orders: pd.DataFrame, as_of: pd.Timestamp, customers: pd.DataFrame | None = None
                  ) -> pd.DataFrame:
    """:func:`customer_profiles`' columns that read only the customer's own orders, up to
    ``recency_days``: a part of the customers' facts are those of the whole shop."""
    before = orders[orders[s.TIMESTAMP] < as_of]
    sales = before[~before[s.IS_RETURN]]
    g = sales.groupby(s.CUSTOMER_ID)
    out = pd.DataFrame({"first_order_date": g[s.TIMESTAMP].min(), "last_order_date": g[s.TIMESTAMP].max(),
                        "orders": g[s.ORDER_ID].nunique()})
    out["revenue"] = before.groupby(s.CUSTOMER_ID)[s.REVENUE].sum().reindex(out.index).round(2)
    # Order totals in cents: the median of two is then a half cent exactly, however the sum's
    # float error fell (it depends on how many rows pandas groups at once).
    per_order = sales.groupby([s.CUSTOMER_ID, s.ORDER_ID])[s.REVENUE].sum().round(2)
    out["average_order_value"] = per_order.groupby(level=0).median().round(2)
    out["tenure_days"] = (as_of - out["first_order_date"]).dt.days
    out["recency_days"] = (as_of - out["last_order_date"]).dt.days
    if customers is not None and s.COUNTRY in customers:
        country = customers.set_index(s.CUSTOMER_ID)[s.COUNTRY]
    else:  # the most frequent country of the customer's orders
        country = (sales.groupby([s.CUSTOMER_ID, s.COUNTRY]).size().rename("n").reset_index()
                   .sort_values([s.CUSTOMER_ID, "n"], ascending=[True, False])
                   .drop_duplicates(s.CUSTOMER_ID).set_index(s.CUSTOMER_ID)[s.COUNTRY])
    out.insert(0, "country", country.reindex(out.index).fillna(""))
    out.index.name = s.CUSTOMER_ID
    return out


def scored_profiles(facts: pd.DataFrame, lifecycle: LifecycleParams = LifecycleParams()) -> pd.DataFrame:
    """:func:`profile_facts` of every customer with the RFM scores and groups, quintiles among
    them all, and the lifecycle stage."""
    out = facts.copy()
    out["r"] = score_1_to_5(-out["recency_days"])
    out["f"] = score_1_to_5(out["orders"])
    out["m"] = score_1_to_5(out["revenue"])
    out["fm"] = (out["f"] + out["m"] + 1) // 2
    out["rfm_segment"] = rfm_segment(out["r"], out["fm"])
    out["lifecycle"] = lifecycle_stage(out["tenure_days"], out["recency_days"], lifecycle)
    return out


def category_revenue(orders: pd.DataFrame, items: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Net revenue of each customer (rows) in each item category (columns) before ``as_of``;
    items without a category count as ``other``."""
    before = orders[orders[s.TIMESTAMP] < as_of]
    category = items.set_index(s.ITEM_ID)[s.CATEGORY].replace("", "other")
    cats = before[s.ITEM_ID].map(category).fillna("other")
    return (before.groupby([before[s.CUSTOMER_ID], cats.rename(s.CATEGORY)])[s.REVENUE].sum()
            .unstack(fill_value=0.0).round(2))
