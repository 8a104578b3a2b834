import json

import pandas as pd
import pytest

from features.experiments.attribution import attribute, summary
from features.live.store import EXPOSURE_COLUMNS

DAY = 86400.0
T0 = pd.Timestamp("2026-11-01").timestamp()


def _exposures(*rows):
    return pd.DataFrame([(rec, endpoint, variant, "v1", user, session, json.dumps(items), T0 + day * DAY, 2.0, 200)
                         for rec, endpoint, variant, user, session, items, day in rows],
                        columns=list(EXPOSURE_COLUMNS))


def _events(*rows):
    columns = ["event_id", "user_id", "session_id", "item_id", "event_type", "timestamp", "price", "quantity",
               "recommendation_id"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["timestamp"] = pd.Timestamp("2026-11-01") + pd.to_timedelta(frame["timestamp"].astype(float), unit="D")
    return frame


SHOWN = _exposures(
    ("r1", "/recommend", "champion", "u1", "s1", ["a", "b"], 0),
    ("r2", "/recommend", "champion", "u1", "s1", ["b", "c"], 1),
    ("r3", "/recommend", "challenger", None, "s7", ["a"], 0),
    ("r4", "/trending", "champion", "u2", None, ["d"], 0),
    ("r5", "/offers", "champion", "u3", None, ["10% off"], 0),
)


def test_events_posted_with_an_answers_id_are_credited_to_it():
    events = _events(("e1", "u1", "s1", "a", "view", 0.1, None, None, "r1"),
                     ("e2", "u1", "s1", "a", "add_to_cart", 0.2, None, None, "r1"),
                     ("e3", "u3", None, "z", "purchase", 2, 30.0, 2.0, "r5"),
                     ("e4", "u1", "s1", "a", "view", 0.3, None, None, "unknown-id"))
    got = attribute(SHOWN, events)
    assert got[["event_id", "recommendation_id", "rule"]].values.tolist() == [
        ["e1", "r1", "direct"], ["e2", "r1", "direct"], ["e3", "r5", "direct"]]


def test_a_purchase_without_an_id_goes_to_the_newest_exposure_of_that_item_to_that_shopper_within_the_window():
    events = _events(("p1", "u1", None, "b", "purchase", 1.5, 5.0, 1.0, None),   # r1 and r2 showed b: r2 newer
                     ("p2", "u1", None, "a", "purchase", 6.9, 5.0, 1.0, None),   # r1 showed a 6.9 days before
                     ("p3", "u1", None, "a", "purchase", 7.5, 5.0, 1.0, None),   # too late
                     ("p4", None, "s7", "a", "purchase", 0.5, 5.0, 1.0, None),   # anonymous session s7: r3
                     ("p5", "u9", "s1", "c", "purchase", 1.5, 5.0, 1.0, None),   # another id, session s1: r2
                     ("p6", "u2", None, "d", "purchase", -0.5, 5.0, 1.0, None),  # before it was shown
                     ("p7", "u2", None, "x", "purchase", 0.5, 5.0, 1.0, None),   # never shown
                     ("v1", "u1", None, "a", "view", 0.5, None, None, None))     # views need an id
    got = attribute(SHOWN, events).set_index("event_id")
    assert got["recommendation_id"].to_dict() == {"p1": "r2", "p2": "r1", "p4": "r3", "p5": "r2"}
    assert set(got["rule"]) == {"last_touch"}
    assert attribute(SHOWN, events, window_days=1).set_index("event_id")["recommendation_id"].to_dict() == {
        "p1": "r2", "p4": "r3", "p5": "r2"}


def test_the_summary_counts_clicks_conversions_and_revenue_per_endpoint_and_variant():
    events = _events(("e1", "u1", "s1", "a", "view", 0.1, None, None, "r1"),
                     ("e2", "u1", "s1", "b", "view", 0.1, None, None, "r1"),
                     ("e3", "u1", "s1", "b", "purchase", 1.5, 4.0, 3.0, None),
                     ("e4", None, "s7", "a", "purchase", 0.5, None, None, "r3"),
                     ("e5", "u3", None, "z", "purchase", 2, 30.0, None, "r5"))
    got = summary(SHOWN, attribute(SHOWN, events)).set_index(["endpoint", "variant"])
    champion = got.loc[("/recommend", "champion")]
    assert champion[["exposures", "clicks", "purchases"]].tolist() == [2, 2, 1]
    assert champion["click_through"] == pytest.approx(0.5)  # r1 clicked twice, r2 not at all
    assert champion["conversion"] == pytest.approx(0.5)
    assert champion["revenue"] == pytest.approx(12.0)  # 4.0 x 3
    assert champion["revenue_per_1000"] == pytest.approx(6000.0)
    challenger = got.loc[("/recommend", "challenger")]
    assert challenger[["purchases", "revenue", "conversion"]].tolist() == [1, 0.0, 1.0]  # no price: no revenue
    assert got.loc[("/offers", "champion"), "revenue"] == pytest.approx(30.0)  # quantity 1 when not given
    assert got.loc[("/trending", "champion"), ["exposures", "purchases"]].tolist() == [1, 0]


def test_no_exposures_give_an_empty_table():
    assert summary(SHOWN.iloc[:0], attribute(SHOWN.iloc[:0], _events())).empty
