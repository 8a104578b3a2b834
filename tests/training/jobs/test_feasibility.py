"""What the data allows: horizons, labels and ranker windows that follow a shop's history."""

import numpy as np
import pandas as pd
import pytest

from tests.conftest import make_orders
from training.jobs.feasibility import (
    MIN_LABEL_ROWS,
    CannotTrain,
    Plan,
    check_labels,
    check_recs,
    data_end,
    plan_customer_model,
)
from training.ranker import MIN_WINDOW_CUSTOMERS, RankerParams, plan_windows


def shop(days: int, customers: int = 120, every: int = 20) -> pd.DataFrame:
    """Each customer buys item (c % 7) every ``every`` days over ``days`` days from 2011-01-01."""
    rows = [(f"{c}-{d}", f"c{c}", f"i{c % 7}", 1, 2.0, pd.Timestamp("2011-01-01") + pd.Timedelta(days=d + c % every))
            for c in range(customers) for d in range(0, days - every, every)]
    return make_orders(rows)


def test_a_short_history_gets_the_longest_horizon_it_allows_and_says_so():
    orders = shop(213)  # seven months
    plans = plan_customer_model("cltv", orders, None, None, 12)
    first = plans[0]
    assert first.horizon_days < 180 and len(first.cutoffs) >= 3
    assert first.as_of == data_end(orders) - pd.Timedelta(days=first.horizon_days)
    assert "180-day default needs more history" in first.note
    # Two years: the default, tested on the last 180 days, as before.
    long = plan_customer_model("cltv", shop(730), None, None, 12)[0]
    assert long.horizon_days == 180 and long.note == ""


def test_no_horizon_fits_a_tiny_history_and_the_error_gives_the_numbers_and_what_to_try():
    orders = shop(60)
    with pytest.raises(CannotTrain, match=r"spans \d+ days .* holds \d+ customers; a 30-day label window.*Try a later --as-of"):
        plan_customer_model("churn", orders, None, None, 12)
    with pytest.raises(CannotTrain, match="shorter --horizon-days"):
        plan_customer_model("churn", orders, None, 90, 12)


def test_a_shop_where_nobody_churns_is_refused_with_counts_and_a_shorter_horizon_to_try():
    plan = Plan(pd.Timestamp("2011-06-01"), 90, [pd.Timestamp("2011-01-01"), pd.Timestamp("2011-03-02")])
    with pytest.raises(CannotTrain, match=r"of 500 training rows .* 0 churned .* 500 bought again.*shorter "
                                          r"--horizon-days than 90"):
        check_labels("churn", pd.Series([0] * 500), plan)
    check_labels("churn", pd.Series([0] * 480 + [1] * MIN_LABEL_ROWS), plan)  # enough of each


def test_recommenders_need_enough_customers():
    with pytest.raises(CannotTrain, match="holds 10 customers; at least 50"):
        check_recs(shop(300, customers=10), pd.Timestamp("2011-10-01"))


def test_ranker_windows_follow_the_history():
    params = RankerParams()
    long, _ = plan_windows(shop(730), pd.Timestamp("2012-10-01"), params)
    assert (long.n_windows, long.window_days) == (3, 92)
    short, counts = plan_windows(shop(213), pd.Timestamp("2011-05-01"), params)  # four months before as_of
    assert short.n_windows >= 2 and short.window_days < 92
    assert min(counts) >= MIN_WINDOW_CUSTOMERS
    # Each window has at least its length of history before it.
    assert short.window_cutoffs(pd.Timestamp("2011-05-01"))[0] - pd.Timedelta(days=short.window_days) \
        >= pd.Timestamp("2011-01-01")
    thin, counts = plan_windows(shop(730, customers=30), pd.Timestamp("2012-10-01"), params)
    assert thin.n_windows == 1 and counts == []


def test_a_log_without_item_ids_cannot_train_recommendations():
    orders = shop(300)
    orders["item_id"] = "CD"  # CDNOW's log: customers, dates and amounts only
    with pytest.raises(CannotTrain, match=r"name 1 item\(s\); recommendations need at least 2.*item_id"):
        check_recs(orders, pd.Timestamp("2011-10-01"))
    orders["item_id"] = np.where(np.arange(len(orders)) % 2, "beans", "ground")  # a two-product shop: lists of two
    check_recs(orders, pd.Timestamp("2011-10-01"))


def test_a_short_history_tests_recommenders_on_a_shorter_window_that_leaves_the_ranker_two():
    from training.jobs.recs import plan_recs

    def shop_of_30_items(days):
        orders = shop(days)
        return orders.assign(item_id="i" + (orders["customer_id"].str[1:].astype(int) % 30).astype(str))

    four_months = shop_of_30_items(140)  # orders on 120 days
    end = data_end(four_months)
    said = []
    as_of, params, counts = plan_recs(four_months, None, RankerParams(), said.append)
    assert as_of == end - pd.Timedelta(days=30) and params.n_windows >= 2 and min(counts) >= MIN_WINDOW_CUSTOMERS
    assert said == ["[recs] test window: the last 30 days; the 90-day default leaves too little history "
                    "before it for the ranker"]
    two_years = shop_of_30_items(730)
    as_of, _, _ = plan_recs(two_years, None, RankerParams(), said.append)
    assert as_of == data_end(two_years) - pd.Timedelta(days=90) and len(said) == 1


def test_a_history_too_short_or_thin_for_a_ranker_keeps_a_validation_window_for_the_baselines():
    from training.jobs.recs import plan_recs

    def shop_of_30_items(days, customers=120, every=20):
        orders = shop(days, customers, every)
        return orders.assign(item_id="i" + (orders["customer_id"].str[1:].astype(int) % 30).astype(str))

    four_months = shop_of_30_items(140)
    end = data_end(four_months)
    said = []
    # The 90-day default as --as-of: 30 days before it, too few for two ranker windows.
    as_of, params, counts = plan_recs(four_months, end - pd.Timedelta(days=90), RankerParams(), said.append)
    assert (as_of, params.n_windows, params.window_days, counts) == (end - pd.Timedelta(days=90), 3, 7, [])
    assert said[0].startswith(f"[recs] no ranker: the history before {as_of.date()} spans 30 days")
    assert said[0].endswith(f"unless another beats it on 3 windows of 7 days before {as_of.date()})")
    # Ten days: one window of half of them, shorter than 7 days.
    as_of, params, _ = plan_recs(four_months, end - pd.Timedelta(days=110), RankerParams(), said.append)
    assert (params.n_windows, params.window_days) == (1, 5)
    assert said[-1].endswith(f"on the last 5 days before {as_of.date()})")
    # Without --as-of, two months: no step leaves 56 days before it, so the shortest test
    # leaves the baselines the most history.
    two_months = shop_of_30_items(80)
    as_of, params, _ = plan_recs(two_months, None, RankerParams(), said.append)
    assert as_of == data_end(two_months) - pd.Timedelta(days=30) and (params.n_windows, params.window_days) == (3, 7)
    assert said[-1].endswith("; tested on the last 30 days")
    # Two years of 60 customers buying every 200 days: no window holds 50, so there is no
    # ranker, and the 90-day test stays.
    thin = shop_of_30_items(730, customers=60, every=200)
    as_of, params, _ = plan_recs(thin, None, RankerParams(), said.append)
    assert as_of == data_end(thin) - pd.Timedelta(days=90) and (params.n_windows, params.window_days) == (3, 92)
    # Too few customers at every step: the shortest step's numbers.
    tiny = shop_of_30_items(80, customers=45)
    shortest = (data_end(tiny) - pd.Timedelta(days=30)).date()
    with pytest.raises(CannotTrain, match=f"history before {shortest} spans .* holds 45 customers; at least 50"):
        plan_recs(tiny, None, RankerParams())
