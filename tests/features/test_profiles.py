import pandas as pd

from features.categories import categorize
from features.profiles import RFM_GRID, RFM_SEGMENTS, category_revenue, customer_profiles, score_1_to_5
from tests.conftest import make_orders

AS_OF = pd.Timestamp("2011-12-01")


def shop() -> pd.DataFrame:
    """Five customers whose recency, order count and revenue each rank differently."""
    return make_orders([
        # A: five orders of 100, the last 11 days before as_of, and one after it (ignored)
        ("a1", "A", "mug", 10, 10.0, "2011-01-10"), ("a2", "A", "mug", 10, 10.0, "2011-03-10"),
        ("a3", "A", "bag", 10, 10.0, "2011-06-10"), ("a4", "A", "bag", 10, 10.0, "2011-09-10"),
        ("a5", "A", "mug", 10, 10.0, "2011-11-20"), ("a6", "A", "mug", 10, 10.0, "2011-12-05"),
        # B: one order of 10, three days ago: the most recent, the fewest orders, the least spend
        ("b1", "B", "seed", 1, 10.0, "2011-11-28"),
        # C: four orders of 100, the last 153 days ago
        ("c1", "C", "mug", 10, 10.0, "2010-12-01"), ("c2", "C", "mug", 10, 10.0, "2011-02-01"),
        ("c3", "C", "mug", 10, 10.0, "2011-05-01"), ("c4", "C", "seed", 10, 10.0, "2011-07-01"),
        # D: three orders of 100, the last 275 days ago
        ("d1", "D", "bag", 10, 10.0, "2010-09-01"), ("d2", "D", "bag", 10, 10.0, "2010-12-01"),
        ("d3", "D", "bag", 10, 10.0, "2011-03-01"),
        # E: two orders of 150 and a return of 50 (not an order): 250 net, the last 426 days ago
        ("e1", "E", "mug", 15, 10.0, "2010-06-01"), ("e2", "E", "mug", 15, 10.0, "2010-10-01"),
        ("Ce3", "E", "mug", -5, 10.0, "2010-10-20"),
        # F: buys only after as_of: no profile
        ("f1", "F", "mug", 1, 10.0, "2011-12-02"),
    ])


def test_rfm_scores_groups_and_lifecycle_by_hand():
    p = customer_profiles(shop(), AS_OF)
    assert list(p.index) == ["A", "B", "C", "D", "E"]
    assert p["orders"].tolist() == [5, 1, 4, 3, 2]
    assert p["revenue"].tolist() == [500.0, 10.0, 400.0, 300.0, 250.0]
    assert p["average_order_value"].tolist() == [100.0, 10.0, 100.0, 100.0, 150.0]  # median order; E: 150 and 150
    assert p["recency_days"].tolist() == [11, 3, 153, 275, 426]
    # Five distinct values: the scores are the ranks.
    assert p["r"].tolist() == [4, 5, 3, 2, 1]
    assert p["f"].tolist() == [5, 1, 4, 3, 2]
    assert p["m"].tolist() == [5, 1, 4, 3, 2]
    # R4 FM5, R5 FM1, R3 FM4, R2 FM3, R1 FM2 on the grid:
    assert p["rfm_segment"].tolist() == ["Champions", "New", "Loyal", "At risk", "Lost"]
    assert p["lifecycle"].tolist() == ["active", "new", "at risk", "lapsed", "churned"]
    assert p.loc["A", "tenure_days"] == 325 and p.loc["A", "country"] == "United Kingdom"


def test_the_median_order_is_taken_on_order_totals_in_cents():
    # 24 lines that sum to 477.61 plus a float error; with the order of 27.20 the median is a
    # half cent, which must round as the two orders' totals do.
    prices = [6.17, 17.07, 4.75, 23.31, 18.98, 31.53, 12.33, 3.53, 9.51, 9.49, 13.60, 8.49, 7.47, 5.09,
              10.63, 29.92, 12.47, 17.77, 9.49, 8.33, 11.19, 2.58, 8.36, 33.61]
    quantities = [2, 1, 1, 1, 2, 1, 2, 1, 1, 1, 2, 2, 4, 4, 1, 1, 2, 2, 2, 1, 3, 2, 1, 1]
    lines = [("o1", "A", "mug", 2, 13.60, "2011-01-10")]
    lines += [("o2", "A", f"i{n}", q, price, "2011-02-10")
              for n, (q, price) in enumerate(zip(quantities, prices, strict=True))]
    totals = [("o1", "A", "mug", 1, 27.20, "2011-01-10"), ("o2", "A", "bag", 1, 477.61, "2011-02-10")]
    aov = [customer_profiles(make_orders(rows), AS_OF).loc["A", "average_order_value"] for rows in (lines, totals)]
    assert aov[0] == aov[1]


def test_fm_rounds_half_up_and_ties_share_a_score():
    assert score_1_to_5(pd.Series([1, 1, 1, 1, 9])).tolist() == [1, 1, 1, 1, 5]
    p = customer_profiles(shop(), AS_OF)
    assert ((p["f"] + p["m"] + 1) // 2).equals(p["fm"])


def test_the_grid_names_every_group_once_or_more_and_nothing_else():
    on_grid = {name for row in RFM_GRID.values() for name in row}
    assert on_grid == set(RFM_SEGMENTS) and len(RFM_SEGMENTS) == 11


def test_category_revenue_is_net_spend_per_category_before_as_of():
    items = pd.DataFrame({"item_id": ["mug", "bag", "seed"], "category": ["kitchen", "bags", ""]})
    spend = category_revenue(shop(), items, AS_OF)
    assert spend.loc["E"].to_dict() == {"bags": 0.0, "kitchen": 250.0, "other": 0.0}
    assert spend.loc["A", "kitchen"] == 300.0 and spend.loc["A", "bags"] == 200.0  # a6 is after as_of
    assert "F" not in spend.index


def test_categories_from_titles_first_rule_wins():
    titles = pd.Series(["CHRISTMAS CANDLE", "JUMBO BAG RED", "GARDENERS KNEELING PAD", "REGENCY TEACUP",
                        "POSTAGE", None])
    assert categorize(titles).tolist() == ["christmas", "bags", "garden", "kitchen", "other", "other"]
