"""Cohort retention: of the customers who first bought in a period, who bought again later.

The classic acquisition-cohort table (rows: the period of a customer's first purchase;
columns: periods since then; cells: the share of the cohort with an order in that period),
read by marketers as "how quickly do new customers drop off" and by data scientists as a
check on the churn labels.
"""

from __future__ import annotations

import pandas as pd

from features import schema as s


def cohort_retention(orders: pd.DataFrame, as_of: pd.Timestamp | None = None,
                     freq: str = "M") -> pd.DataFrame:
    """Share of each first-purchase cohort with an order ``n`` periods after its first.

    Parameters
    ----------
    orders : DataFrame
        Canonical order lines; returns and lines without a customer are ignored.
    as_of : Timestamp, optional
        Only orders strictly before it count (all orders by default). The last period is then
        partial, as at any real date.
    freq : str
        A pandas period frequency: ``"M"`` (months, default), ``"Q"``, ``"W"``.

    Returns
    -------
    DataFrame
        Index: cohort period; columns ``0, 1, ...`` (periods since the first purchase; column 0
        is 1.0 by construction); a ``customers`` column with the cohort's size first. Cells past
        the end of the data are NaN, not 0, so an unobserved month is not read as a lost one.
    """
    sales = orders[~orders[s.IS_RETURN] & orders[s.CUSTOMER_ID].notna()]
    if as_of is not None:
        sales = sales[sales[s.TIMESTAMP] < as_of]
    periods = sales[s.TIMESTAMP].dt.to_period(freq)
    if periods.empty:
        return pd.DataFrame(columns=["customers"])
    active = pd.DataFrame({"customer": sales[s.CUSTOMER_ID].to_numpy(),
                           "period": periods.array.asi8}).drop_duplicates()  # period ordinals
    active["cohort"] = active.groupby("customer")["period"].transform("min")
    active["age"] = active["period"] - active["cohort"]
    counts = active.pivot_table(index="cohort", columns="age", values="customer", aggfunc="count")
    counts = counts.reindex(columns=range(int(active["age"].max()) + 1)).fillna(0.0)
    # Periods after the end of the data are unknown, not zero.
    observed = active["period"].max() - counts.index.to_numpy()[:, None]
    out = counts.where(counts.columns.to_numpy()[None, :] <= observed).div(counts[0], axis=0)
    out.insert(0, "customers", counts[0].astype(int))
    out.index = pd.PeriodIndex.from_ordinals(out.index, freq=periods.dt.freq)
    out.index.name, out.columns.name = "cohort", None
    return out
