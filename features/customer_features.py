"""Customer features as of a cutoff, and the churn and CLTV labels that follow it.

Everything here is point-in-time: features at ``as_of`` read only rows strictly before
``as_of``; labels read only rows in ``[as_of, as_of + horizon)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import schema as s

# Name and version of the feature set; a model records it, and serving refuses a model
# whose feature set it cannot build (Feast's FeatureService idea).
FEATURE_SET = "customer_rfm_v1"
FEATURE_COLUMNS = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_order_value",
    "orders_last_90d",
    "revenue_last_90d",
    "return_rate",
    "distinct_items",
)
CUTOFF = "cutoff"
CHURNED = "churned"
FUTURE_REVENUE = "future_revenue"


def build_customer_features(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """RFM-style features of every customer with a purchase strictly before ``as_of``.

    Parameters
    ----------
    orders : DataFrame
        Canonical ``orders`` table.
    as_of : Timestamp
        Cutoff; rows at or after it are ignored.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``, columns :data:`FEATURE_COLUMNS`:

        - ``recency_days``: days from the last purchase to ``as_of``;
        - ``frequency``: number of distinct purchase orders;
        - ``monetary``: net revenue (sales minus returns);
        - ``tenure_days``: days from the first purchase to ``as_of``;
        - ``avg_order_value``: sales revenue / frequency;
        - ``orders_last_90d``, ``revenue_last_90d``: the same over the last 90 days;
        - ``return_rate``: returned value / sales value;
        - ``distinct_items``: number of distinct items bought.
    """
    past = orders[orders[s.TIMESTAMP] < as_of]
    sales = past[~past[s.IS_RETURN]]
    if sales.empty:
        return pd.DataFrame(columns=list(FEATURE_COLUMNS), index=pd.Index([], name=s.CUSTOMER_ID))
    g = sales.groupby(s.CUSTOMER_ID)
    day = pd.Timedelta(days=1)
    f = pd.DataFrame(
        {
            "recency_days": (as_of - g[s.TIMESTAMP].max()) / day,
            "frequency": g[s.ORDER_ID].nunique().astype(float),
            "tenure_days": (as_of - g[s.TIMESTAMP].min()) / day,
            "distinct_items": g[s.ITEM_ID].nunique().astype(float),
        }
    )
    sales_value = g[s.REVENUE].sum()
    returned = -past[past[s.IS_RETURN]].groupby(s.CUSTOMER_ID)[s.REVENUE].sum()
    returned = returned.reindex(f.index, fill_value=0.0)
    f["monetary"] = sales_value - returned
    f["avg_order_value"] = sales_value / f["frequency"]
    recent = sales[sales[s.TIMESTAMP] >= as_of - pd.Timedelta(days=90)].groupby(s.CUSTOMER_ID)
    f["orders_last_90d"] = recent[s.ORDER_ID].nunique().reindex(f.index, fill_value=0).astype(float)
    f["revenue_last_90d"] = recent[s.REVENUE].sum().reindex(f.index, fill_value=0.0)
    f["return_rate"] = np.where(sales_value > 0, returned / sales_value, 0.0)
    return f[list(FEATURE_COLUMNS)].sort_index()


def build_labels(
    orders: pd.DataFrame, customers: pd.Index, as_of: pd.Timestamp, horizon_days: int
) -> pd.DataFrame:
    """Churn and CLTV labels from the window ``[as_of, as_of + horizon_days)``.

    ``churned`` is 1 when the customer makes no purchase in the window (definition used
    throughout: among customers with a purchase before ``as_of``). ``future_revenue`` is
    net revenue in the window: sales minus returns, which can be negative.
    """
    end = as_of + pd.Timedelta(days=horizon_days)
    window = orders[(orders[s.TIMESTAMP] >= as_of) & (orders[s.TIMESTAMP] < end)]
    buyers = window.loc[~window[s.IS_RETURN], s.CUSTOMER_ID].unique()
    revenue = window.groupby(s.CUSTOMER_ID)[s.REVENUE].sum()
    return pd.DataFrame(
        {
            CHURNED: (~customers.isin(buyers)).astype(int),
            FUTURE_REVENUE: revenue.reindex(customers, fill_value=0.0).to_numpy(),
        },
        index=customers,
    )


def build_training_set(
    orders: pd.DataFrame, cutoffs: list[pd.Timestamp], horizon_days: int
) -> pd.DataFrame:
    """Features at each cutoff joined with the labels that follow it, stacked.

    Returns
    -------
    DataFrame
        One row per (customer, cutoff); columns ``cutoff``, :data:`FEATURE_COLUMNS`,
        ``churned`` and ``future_revenue``.
    """
    frames = []
    for cutoff in cutoffs:
        f = build_customer_features(orders, cutoff)
        f = f.join(build_labels(orders, f.index, cutoff, horizon_days))
        f.insert(0, CUTOFF, cutoff)
        frames.append(f)
    return pd.concat(frames).reset_index()


def monthly_cutoffs(as_of: pd.Timestamp, horizon_days: int, n: int) -> list[pd.Timestamp]:
    """``n`` cutoffs 30 days apart whose label windows all end on or before ``as_of``.

    The latest cutoff is ``as_of - horizon_days``, so a training set built on them never
    reads a row at or after ``as_of``.
    """
    last = as_of - pd.Timedelta(days=horizon_days)
    return [last - pd.Timedelta(days=30 * i) for i in reversed(range(n))]


def build_rfm_summary(orders: pd.DataFrame, as_of: pd.Timestamp,
                      time_unit_days: float = 7.0) -> pd.DataFrame:
    """The (x, t_x, T, m_x) summary that "buy till you die" models are fitted on.

    Purchases strictly before ``as_of`` are merged by day, as in Fader, Hardie & Lee (2005).
    The observation period covers whole days, so ages are counted to its last day,
    ``as_of - 1 day`` (a customer whose first purchase is on the period's first day of a
    39-week period has ``T = 38.86`` weeks, as in the paper's data).

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``: ``frequency`` (repeat purchase days, x), ``recency``
        (first to last purchase day, t_x), ``T`` (first purchase day to the end of the
        period) in units of ``time_unit_days``, and ``monetary_value`` (mean value of the
        repeat purchase days, m_x; 0 when there is none).
    """
    past = orders[(orders[s.TIMESTAMP] < as_of) & ~orders[s.IS_RETURN]]
    days = (past.assign(day=past[s.TIMESTAMP].dt.normalize())
            .groupby([s.CUSTOMER_ID, "day"], as_index=False)[s.REVENUE].sum())
    g = days.groupby(s.CUSTOMER_ID)
    first, last = g["day"].min(), g["day"].max()
    end = as_of.normalize() - pd.Timedelta(days=1)
    unit = pd.Timedelta(days=time_unit_days)
    summary = pd.DataFrame({
        "frequency": (g["day"].count() - 1).astype(float),
        "recency": (last - first) / unit,
        "T": (end - first) / unit,
    })
    repeat = days[days["day"] > days[s.CUSTOMER_ID].map(first)]
    summary["monetary_value"] = (repeat.groupby(s.CUSTOMER_ID)[s.REVENUE].mean()
                                 .reindex(summary.index, fill_value=0.0))
    return summary
