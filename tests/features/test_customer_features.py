import pandas as pd
import pytest

from features import schema as s
from features.customer_features import (
    build_customer_features,
    build_labels,
    build_training_set,
    monthly_cutoffs,
)

CUTOFF = pd.Timestamp("2011-03-01")


def test_features_match_hand_computed_values(orders):
    f = build_customer_features(orders, CUTOFF)

    assert list(f.index) == ["A", "B"]  # C has not bought yet
    a = f.loc["A"]
    assert a["recency_days"] == 10  # last purchase 2011-02-19
    assert a["frequency"] == 2
    assert a["tenure_days"] == 59
    assert a["monetary"] == pytest.approx(20 + 5 + 10 - 10)
    assert a["avg_order_value"] == pytest.approx(35 / 2)
    assert a["return_rate"] == pytest.approx(10 / 35)
    assert a["orders_last_90d"] == 2
    assert a["distinct_items"] == 2
    assert f.loc["B", "orders_last_90d"] == 0


def test_rows_after_the_cutoff_never_change_features(orders):
    before = build_customer_features(orders, CUTOFF)
    future = orders[s.TIMESTAMP] >= CUTOFF
    altered = orders.copy()
    altered.loc[future, s.QUANTITY] = 999
    altered.loc[future, s.REVENUE] = 1e6
    pd.testing.assert_frame_equal(build_customer_features(altered, CUTOFF), before)
    pd.testing.assert_frame_equal(build_customer_features(orders[~future], CUTOFF), before)


def test_labels_come_only_from_the_window_after_the_cutoff(orders):
    labels = build_labels(orders, pd.Index(["A", "B"]), CUTOFF, horizon_days=30)
    assert labels.loc["A", "churned"] == 0 and labels.loc["A", "future_revenue"] == 6.0
    assert labels.loc["B", "churned"] == 1 and labels.loc["B", "future_revenue"] == 0.0
    # A's order of 2011-03-15 falls outside a 10-day window.
    assert build_labels(orders, pd.Index(["A"]), CUTOFF, horizon_days=10).loc["A", "churned"] == 1


def test_training_cutoffs_keep_every_label_window_before_as_of():
    as_of = pd.Timestamp("2011-09-01")
    cutoffs = monthly_cutoffs(as_of, horizon_days=90, n=3)
    assert cutoffs == [pd.Timestamp("2011-04-04"), pd.Timestamp("2011-05-04"), pd.Timestamp("2011-06-03")]
    assert max(cutoffs) + pd.Timedelta(days=90) <= as_of


def test_training_set_stacks_one_row_per_customer_and_cutoff(orders):
    ts = build_training_set(orders, [pd.Timestamp("2011-02-01"), CUTOFF], horizon_days=30)
    assert ts.groupby("cutoff")[s.CUSTOMER_ID].apply(list).to_dict() == {
        pd.Timestamp("2011-02-01"): ["A", "B"], CUTOFF: ["A", "B"]}
