import numpy as np
import pandas as pd

from features.cohorts import cohort_retention
from tests.conftest import make_orders


def test_retention_counts_each_cohort_by_months_since_its_first_purchase():
    orders = make_orders([
        # January cohort: P buys in Jan, Feb and Apr; Q only in Jan (twice: counted once).
        ("1", "P", "x", 1, 1.0, "2011-01-05"),
        ("2", "Q", "x", 1, 1.0, "2011-01-20"),
        ("3", "Q", "y", 1, 1.0, "2011-01-28"),
        ("4", "P", "x", 1, 1.0, "2011-02-10"),
        ("C5", "Q", "x", -1, 1.0, "2011-02-11"),  # a return is not a purchase
        ("6", "P", "x", 1, 1.0, "2011-04-01"),
        # February cohort: R buys in Feb and Mar.
        ("7", "R", "x", 1, 1.0, "2011-02-15"),
        ("8", "R", "x", 1, 1.0, "2011-03-15"),
    ])
    r = cohort_retention(orders)

    assert [str(c) for c in r.index] == ["2011-01", "2011-02"]
    assert r["customers"].tolist() == [2, 1]
    assert r.loc[pd.Period("2011-01", "M"), [0, 1, 2, 3]].tolist() == [1.0, 0.5, 0.0, 0.5]
    feb = r.loc[pd.Period("2011-02", "M"), [0, 1, 2, 3]].tolist()
    assert feb[:3] == [1.0, 1.0, 0.0]
    assert np.isnan(feb[3])  # May is after the end of the data: unknown, not lost


def test_retention_uses_only_orders_before_as_of():
    orders = make_orders([
        ("1", "P", "x", 1, 1.0, "2011-01-05"),
        ("2", "P", "x", 1, 1.0, "2011-02-10"),
        ("3", "R", "x", 1, 1.0, "2011-03-15"),
    ])
    r = cohort_retention(orders, as_of=pd.Timestamp("2011-02-01"))

    assert [str(c) for c in r.index] == ["2011-01"]
    assert r.columns.tolist() == ["customers", 0]
