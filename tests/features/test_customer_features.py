import numpy as np
import pandas as pd
import pytest

from features import schema as s
from features.customer_features import (
    BROWSING_COLUMNS,
    FEATURE_SETS,
    LEVEL_FEATURE_SET,
    build_customer_features,
    build_labels,
    build_training_set,
    get_feature_set,
    monthly_cutoffs,
)
from tests.conftest import make_events

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


def test_purchase_history_features_match_hand_computed_values(orders):
    a = build_customer_features(orders, CUTOFF).loc["A"]
    # A ordered on 2011-01-01 (x x2, y x1) and 2011-02-19 (x x1): one 49-day gap.
    assert a["ipi_mean_days"] == 49
    assert np.isnan(a["ipi_std_days"])  # one gap has no spread
    assert a["recency_over_ipi"] == pytest.approx(10 / 49)
    assert a["avg_basket_lines"] == 1.5
    assert a["avg_basket_quantity"] == 2
    assert a["basket_diversity"] == pytest.approx(2 / 3)
    assert a["repeat_item_share"] == 0.5  # x in two orders, y in one
    assert a["orders_last_30d"] == 1
    assert a["is_home_country"] == 1


def test_a_lookback_feature_set_reads_only_recent_purchases_but_keeps_every_customer(orders, monkeypatch):
    from dataclasses import replace

    # 210 days before 2011-03-01 is 2010-08-02: B's only order (2010-06-01) is older.
    f = build_customer_features(orders, CUTOFF, feature_set=LEVEL_FEATURE_SET)
    full = build_customer_features(orders, CUTOFF)
    assert list(f.index) == ["A", "B"]
    pd.testing.assert_series_equal(f.loc["A"], full.loc["A"])
    b = f.loc["B"]
    assert b["recency_days"] == 273  # recency still reads every purchase
    assert (b["frequency"], b["monetary"], b["distinct_items"], b["orders_last_90d"]) == (0, 0, 0, 0)
    assert np.isnan(b["tenure_days"]) and np.isnan(b["avg_order_value"]) and np.isnan(b["avg_basket_lines"])

    # 50 days back (2011-01-10): A's first order and so its only gap fall outside.
    monkeypatch.setitem(FEATURE_SETS, "short", replace(get_feature_set(LEVEL_FEATURE_SET), name="short",
                                                      lookback_days=50))
    a = build_customer_features(orders, CUTOFF, feature_set="short").loc["A"]
    assert (a["recency_days"], a["frequency"], a["tenure_days"]) == (10, 1, 10)
    assert a["monetary"] == 0 and a["return_rate"] == 1  # the 10.0 order, returned the next day
    assert (a["distinct_items"], a["repeat_item_share"]) == (1, 0)
    assert np.isnan(a["ipi_mean_days"])


@pytest.mark.parametrize("coded", [False, True], ids=["strings", "categoricals"])
def test_browsing_features_match_hand_computed_values(orders, events, coded):
    if coded:  # as `Workspace.read_events` and a part of a large shop give them
        events = events.astype({c: "category" for c in (s.USER_ID, s.SESSION_ID, s.ITEM_ID, s.EVENT_TYPE)})
    f = build_customer_features(orders, CUTOFF, events)
    a, b = f.loc["A"], f.loc["B"]
    assert (a["views_7d"], a["carts_7d"], a["sessions_7d"]) == (3, 2, 2)
    assert a["days_since_last_visit"] == pytest.approx(1 + 14 / 24 + 58 / 1440)  # 2011-02-27 09:02
    assert a["cart_abandonment_90d"] == 1.0  # two carts, no order within the hour after either
    assert (b["views_7d"], b["views_30d"], b["views_90d"], b["sessions_90d"]) == (0, 0, 1, 1)
    assert b["days_since_last_visit"] == 44.5
    assert np.isnan(b["cart_abandonment_90d"])


def test_a_cart_followed_by_an_order_within_the_hour_is_not_abandoned(orders):
    events = make_events([("A", "s1", "x", "add_to_cart", "2011-02-19 00:00"),  # order 2 at midnight
                          ("A", "s2", "y", "add_to_cart", "2011-02-20 10:00")])
    f = build_customer_features(orders, CUTOFF, events)
    assert f.loc["A", "cart_abandonment_90d"] == 0.5


def test_without_an_event_log_browsing_features_are_unknown_not_zero(orders):
    f = build_customer_features(orders, CUTOFF)
    assert f[list(BROWSING_COLUMNS)].isna().all().all()


def test_feature_sets_are_named_and_unknown_ones_refused(orders):
    v1 = build_customer_features(orders, CUTOFF, feature_set="customer_rfm_v1")
    assert tuple(v1.columns) == FEATURE_SETS["customer_rfm_v1"].columns
    with pytest.raises(KeyError, match="unknown feature set 'customer_v9'; this code builds"):
        get_feature_set("customer_v9")


def test_rows_after_the_cutoff_never_change_features(orders, events):
    before = build_customer_features(orders, CUTOFF, events)
    future = orders[s.TIMESTAMP] >= CUTOFF
    altered = orders.copy()
    altered.loc[future, s.QUANTITY] = 999
    altered.loc[future, s.REVENUE] = 1e6
    altered.loc[future, s.TIMESTAMP] = CUTOFF  # even moved right onto the cutoff
    later = events[s.TIMESTAMP] >= CUTOFF
    moved = events.copy()
    moved.loc[later, s.EVENT_TYPE] = "add_to_cart"
    moved.loc[later, s.TIMESTAMP] = CUTOFF
    pd.testing.assert_frame_equal(build_customer_features(altered, CUTOFF, moved), before)
    pd.testing.assert_frame_equal(build_customer_features(orders[~future], CUTOFF, events[~later]), before)


def test_labels_change_only_with_rows_inside_the_label_window(orders):
    horizon = 30
    end = CUTOFF + pd.Timedelta(days=horizon)
    base = build_training_set(orders, [CUTOFF], horizon)
    # Rows after the label window do not matter at all.
    after = orders[s.TIMESTAMP] >= end
    pd.testing.assert_frame_equal(build_training_set(orders[~after], [CUTOFF], horizon), base)
    # A row inside the window changes the labels and nothing else.
    inside = orders[(orders[s.TIMESTAMP] >= CUTOFF) & (orders[s.TIMESTAMP] < end)]
    changed = build_training_set(orders.drop(inside.index), [CUTOFF], horizon)
    pd.testing.assert_frame_equal(changed.drop(columns=["churned", "future_revenue"]),
                                  base.drop(columns=["churned", "future_revenue"]))
    assert changed.set_index(s.CUSTOMER_ID).loc["A", "churned"] == 1
    assert base.set_index(s.CUSTOMER_ID).loc["A", "churned"] == 0


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
