import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from serving.marketing.segments import (
    BUILT_IN,
    CustomerBase,
    LikelyBuyers,
    SavedSegments,
    SegmentError,
    SegmentFilter,
    UnknownSegmentError,
)
from serving.runtime.score_table import ScoredCustomers


@pytest.fixture
def base(marketing_shop):
    orders, customers, items, scorer, recs = marketing_shop
    return CustomerBase(ScoredCustomers.compute(scorer, orders, customers, items), items, recs)


def members(base, **conditions) -> list[str]:
    return base.select(SegmentFilter(**conditions)).index.tolist()


def test_built_in_families_have_hand_computed_members(base):
    # Profiles: A Champions/active, B New/new, C Loyal/at risk, D At risk/lapsed, E Lost/churned.
    assert members(base, rfm_segment=["Champions"]) == ["A"]
    assert members(base, rfm_segment=["At risk", "Lost"]) == ["D", "E"]
    assert members(base, lifecycle=["new"]) == ["B"]
    assert members(base, risk_band=["high"]) == ["C", "D", "E"]
    # CLTV 1000, 100, 500, 50, 0: A is the top 20%, A and C the top 40%.
    assert members(base, cltv_top_percent=20) == ["A"]
    assert members(base, cltv_top_percent=40) == ["A", "C"]
    sizes = base.family_sizes().set_index("segment")["customers"]
    assert sizes["rfm-champions"] == 1 and sizes["churn-risk-high"] == 3 and sizes["lifecycle-churned"] == 1
    assert len(sizes) == len(BUILT_IN)


def test_ad_hoc_conditions_combine_with_and(base):
    # Garden buyers: B (seed) and C (seed).
    assert members(base, bought_category=["garden"]) == ["B", "C"]
    assert members(base, rfm_segment=["Champions"], never_bought_category=["garden"]) == ["A"]
    assert members(base, country=["France"]) == ["B", "E"]
    assert members(base, orders_min=3, risk_band=["high"]) == ["C", "D"]
    assert members(base, last_order_after="2011-07-01") == ["A", "B", "C"]
    assert members(base, churn_probability_min=0.9) == ["D", "E"]


def test_likely_buyers_rank_customers_by_the_item_model_score(base):
    # Affinity for seed = mug 0.5 + bag 0.2 of what each bought: A 0.7, C 0.5, E 0.5, D 0.2, B 0.
    top2 = base.select(SegmentFilter(likely_buyers_of=LikelyBuyers(item_id="seed", top=2)))
    assert top2.index.tolist() == ["A", "C"] and top2["affinity"].round(2).tolist() == [0.7, 0.5]
    new_buyers = SegmentFilter(likely_buyers_of=LikelyBuyers(category="garden", include_past_buyers=False))
    assert base.select(new_buyers).index.tolist() == ["A", "E", "D"]


def test_asking_again_for_the_same_likely_buyers_unpacks_no_customer_again(base, monkeypatch):
    query = SegmentFilter(likely_buyers_of=LikelyBuyers(item_id="seed", top=2))
    first = base.select(query)
    unpacked = []
    rows = base.recs.history.rows
    monkeypatch.setattr(base.recs.history, "rows", lambda r: unpacked.append(len(r)) or rows(r))

    again = base.select(query)  # the next page of a marketer's query, or its export

    assert unpacked == [] and again.equals(first)
    base.select(SegmentFilter(likely_buyers_of=LikelyBuyers(item_id="seed", include_past_buyers=False)))
    assert unpacked == [len(base.recs.history.users)]  # another question is computed


def test_bad_filters_say_what_is_wrong(base):
    with pytest.raises(SegmentError, match=r"country: no customer is in \['Narnia'\]"):
        members(base, country=["Narnia"])
    with pytest.raises(SegmentError, match=r"unknown categories \['furniture'\]; the catalogue has"):
        members(base, never_bought_category=["furniture"])
    with pytest.raises(SegmentError, match="'nope' is not an item the recommender knows"):
        base.select(SegmentFilter(likely_buyers_of=LikelyBuyers(item_id="nope")))
    with pytest.raises(ValidationError, match="colour"):
        SegmentFilter.model_validate({"colour": ["red"]})
    with pytest.raises(ValidationError, match="Champions"):
        SegmentFilter.model_validate({"rfm_segment": ["Champs"]})
    with pytest.raises(ValidationError, match="exactly one of item_id or category"):
        LikelyBuyers(item_id="seed", category="garden")


def test_export_has_the_id_the_segment_and_only_the_scores_asked_about(base):
    out = base.export("garden-free-champions",
                      SegmentFilter(rfm_segment=["Champions"], never_bought_category=["garden"]))
    assert out.columns.tolist() == ["customer_id", "segment", "rfm_segment", "r", "f", "m", "spend_garden"]
    assert out.to_dict(orient="records") == [{"customer_id": "A", "segment": "garden-free-champions",
                                              "rfm_segment": "Champions", "r": 4, "f": 5, "m": 5,
                                              "spend_garden": 0.0}]
    risky = base.export("risky", SegmentFilter(churn_probability_min=0.9))
    assert risky.columns.tolist() == ["customer_id", "segment", "churn_probability"]
    # Conditions given as null are no conditions (found by the API fuzz run: it was a 500).
    nulls = base.export("all", SegmentFilter.model_validate({"likely_buyers_of": None, "country": None}))
    assert nulls.columns.tolist() == ["customer_id", "segment"] and len(nulls) == len(base.select(SegmentFilter()))


def test_saved_segments_keep_definition_size_and_time(base, tmp_path):
    saved = SavedSegments(tmp_path / "segments")
    record = saved.save("french", SegmentFilter(country=["France"]), base)
    assert record["size"] == 2 and record["as_of"] == "2011-12-01" and record["computed_at"]
    again = SavedSegments(tmp_path / "segments")
    assert again.names() == ["french"] and again.filter("french") == SegmentFilter(country=["France"])
    assert json.loads((tmp_path / "segments/french.json").read_text())["definition"] == {"country": ["France"]}
    with pytest.raises(SegmentError, match="is a built-in segment"):
        saved.save("rfm-champions", SegmentFilter(), base)
    with pytest.raises(SegmentError, match="use 1-64 lower-case letters"):
        saved.save("../etc", SegmentFilter(), base)
    with pytest.raises(UnknownSegmentError, match="no segment named 'nope'"):
        saved.get("nope")


def test_a_category_named_twice_in_a_filter_is_one_condition_and_one_column(base):
    twice = SegmentFilter(bought_category=["garden", "garden"], never_bought_category=["garden"])
    out = base.export("twice", twice)
    assert out.columns.tolist().count("spend_garden") == 1


def test_a_segment_name_with_a_trailing_newline_is_refused(base, tmp_path):
    saved = SavedSegments(tmp_path / "segments")
    with pytest.raises(SegmentError, match="use 1-64 lower-case letters"):
        saved.save("french\n", SegmentFilter(country=["France"]), base)
    with pytest.raises(UnknownSegmentError):
        saved.get("french\n")


def test_without_a_churn_model_rfm_segments_work_and_churn_segments_name_the_missing_model(marketing_shop):
    from serving.marketing.tools import Marketing
    from serving.runtime.registry import MissingFamilyError

    orders, customers, items, scorer, recs = marketing_shop
    scorer.families = ("cltv",)  # as a shop whose churn model could not be trained yet
    base = CustomerBase(ScoredCustomers.compute(scorer, orders, customers, items), items, recs)
    assert members(base, rfm_segment=["Champions"]) == ["A"]
    assert members(base, cltv_top_percent=20) == ["A"]
    with pytest.raises(MissingFamilyError, match=r"churn model.*`shelfwise train churn --as-of"):
        members(base, risk_band=["high"])
    with pytest.raises(MissingFamilyError, match="churn"):
        members(base, churn_probability_min=0.5)
    sizes = base.family_sizes()
    assert "rfm-champions" in set(sizes["segment"]) and not sizes["segment"].str.startswith("churn-").any()
    m = Marketing(base, None, SavedSegments(Path("/nonexistent")), None, Path("offers.toml"))
    with pytest.raises(MissingFamilyError, match="an offer needs the churn model"):
        m.policy  # noqa: B018
