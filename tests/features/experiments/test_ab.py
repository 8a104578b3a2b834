import json

import numpy as np
import pandas as pd
import pytest

from features.experiments import ab
from features.live.store import EXPOSURE_COLUMNS

TEST = ab.Experiment(name="ranker-v2", family="recs", champion="1", challenger="2", share=0.2, started_at=100.0,
                     exposures_per_arm=3, baseline_conversion=0.05, mde=0.1, alpha=0.05, power=0.8)


def test_shoppers_are_split_by_the_share_the_same_way_every_time_and_anew_per_experiment():
    ids = [f"c{i}" for i in range(20_000)]
    arms = [ab.variant(TEST, i) for i in ids]
    assert arms == [ab.variant(TEST, i) for i in ids]
    assert arms.count(ab.CHALLENGER) / len(ids) == pytest.approx(0.2, abs=0.01)
    other = ab.Experiment.from_dict({**TEST.to_dict(), "name": "ranker-v3"})
    moved = sum(a != ab.variant(other, i) for a, i in zip(arms, ids, strict=True))
    assert moved > 0.25 * len(ids)  # another test draws its own arms (about 2 x 0.2 x 0.8)
    assert ab.variant(None, "c1") == ab.variant(TEST, None) == ab.CHAMPION


def test_the_planned_exposures_detect_the_lift_as_often_as_the_power_says_and_no_lift_at_alpha():
    n = ab.exposures_needed(0.05, 0.2, alpha=0.05, power=0.8)
    rng = np.random.default_rng(0)
    runs = 4000

    def rejected(p_b):
        a, b = rng.binomial(n, 0.05, runs), rng.binomial(n, p_b, runs)
        return np.mean([ab.compare(x, n, y, n).p_value < 0.05 for x, y in zip(a, b, strict=True)])

    assert rejected(0.06) == pytest.approx(0.8, abs=0.03)
    assert rejected(0.05) == pytest.approx(0.05, abs=0.015)
    assert ab.exposures_needed(0.05, 0.1) > ab.exposures_needed(0.05, 0.2) > ab.exposures_needed(0.2, 0.2)
    with pytest.raises(ValueError, match="nothing to detect"):
        ab.exposures_needed(0.0, 0.1)


def test_wilson_intervals_cover_the_proportion_and_stay_inside_zero_and_one():
    assert ab.wilson(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    low, high = ab.wilson(50, 1000)
    assert low < 0.05 < high and high - low == pytest.approx(0.0272, abs=1e-3)


def test_the_verdict_waits_for_the_planned_exposures_then_names_the_winner():
    strong = ab.compare(10, 1000, 40, 1000)
    assert strong.lift == pytest.approx(3.0) and strong.p_value < 0.001 and strong.lift_low > 0
    assert ab.verdict(TEST, 2, 1000, strong).startswith("keep running: 2 of the 3")
    assert ab.winner(TEST, 2, 1000, strong) is None
    assert ab.verdict(TEST, 1000, 1000, strong).startswith("challenger wins")
    assert ab.winner(TEST, 1000, 1000, ab.compare(40, 1000, 10, 1000)) == ab.CHAMPION
    assert ab.winner(TEST, 1000, 1000, ab.compare(10, 1000, 11, 1000)) is None


def test_arms_count_conversions_clicks_revenue_and_the_guardrails_of_the_tests_answers_only():
    rows = [("a1", "/recommend", "champion", 101.0, 2.0, 200), ("a2", "/recommend", "champion", 102.0, 4.0, 200),
            ("a3", "/trending", "champion", 103.0, 6.0, 200), ("b1", "/recommend", "challenger", 101.0, 3.0, 200),
            ("b2", "/recommend", "challenger", 102.0, 30.0, 500), ("x0", "/recommend", "champion", 50.0, 1.0, 200),
            ("o1", "/offers", "champion", 101.0, 1.0, 200)]
    exposures = pd.DataFrame([(rid, endpoint, arm, "v", "u", None, json.dumps(["i"]), at, ms, status)
                              for rid, endpoint, arm, at, ms, status in rows], columns=list(EXPOSURE_COLUMNS))
    credited = pd.DataFrame({"recommendation_id": ["a1", "a1", "a3", "b1", "x0"],
                             "event_type": ["view", "purchase", "purchase", "view", "purchase"],
                             "price": [2.0, 5.0, None, None, 9.0], "quantity": [1.0, 2.0, None, None, 1.0]})
    got = ab.arms(TEST, exposures, credited)
    champion, challenger = got.loc["champion"], got.loc["challenger"]
    # x0 was shown before the test started, o1 is an offer: neither counts.
    assert champion[["exposures", "conversions"]].tolist() == [3, 2]
    assert champion["click_through"] == pytest.approx(1 / 3)
    assert champion["revenue_per_1000"] == pytest.approx(1000 * 10.0 / 3)  # a1: 5 x 2; a3 has no price
    assert challenger[["exposures", "conversions", "click_through"]].tolist() == [1, 0, 1.0]
    assert challenger["error_rate"] == pytest.approx(0.5) and challenger["p99_ms"] > 29
    assert champion["conversion_low"] < champion["conversion"] < champion["conversion_high"]
