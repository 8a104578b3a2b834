"""Customer features built a part of the customers at a time are those built whole."""

import numpy as np
import pandas as pd
import pytest

from features import schema as s
from features.cluster import customer_part
from features.customer_features import (
    EVENT_COLUMNS,
    History,
    baskets,
    build_customer_features,
    build_training_set,
    monthly_cutoffs,
)
from features.customer_parts import build_in_parts, home_countries, part_count
from features.interactions import InteractionWeights, build_interactions
from features.snapshots import inputs_digest, model_customers, sampled_ids
from features.sources.simulate import simulate_events
from features.workspace import Workspace
from tests.conftest import make_small_shop

AS_OF = pd.Timestamp("2011-05-01")
CUTOFFS = monthly_cutoffs(AS_OF, 60, 4)


def _event(event_id, user, item="i1", at="2011-04-20 10:00"):
    return {"event_id": event_id, "user_id": user, "session_id": f"s-{user}", "item_id": item,
            "event_type": "view", "timestamp": at}


@pytest.fixture
def ws(tmp_path):
    orders = make_small_shop()
    # The first of three parts of the customers buys from France, the rest of the shop from Germany.
    orders["country"] = np.where(customer_part(orders["customer_id"], 3) == 0, "France", "Germany")
    events = simulate_events(orders)
    events["timestamp"] = events["timestamp"].astype(orders["timestamp"].dtype)
    ws = Workspace(tmp_path / "ws")
    ws.write_table("orders", orders, "fixture")
    ws.write_table("events", events, "fixture")
    # Live events: one already imported (read once), one new for a customer, one anonymous.
    first = ws.read_table("events").iloc[0]
    ws.live_store().append_events([
        {**_event(first["event_id"], first["user_id"]), "item_id": first["item_id"],
         "session_id": first["session_id"], "timestamp": str(first["timestamp"])},
        _event("live-1", "c3"), _event("live-2", None)])
    return ws


@pytest.mark.parametrize("limit", [None, 50])  # every customer learnt from, or a sample of them
def test_parts_give_the_features_training_set_and_digest_of_the_whole(ws, tmp_path, limit):
    orders, events = ws.read_table("orders"), ws.read_events(EVENT_COLUMNS)
    whole = build_customer_features(History(orders, events), AS_OF)
    model_orders, model_events, sampled_from = model_customers(orders, events, limit)
    assert (sampled_from is not None) == (limit is not None)
    training = build_training_set(History(model_orders, model_events), CUTOFFS, 60)
    kept = sampled_ids(orders["customer_id"].unique(), limit)
    home, homes = home_countries(baskets(orders), AS_OF, CUTOFFS, kept)
    # The home country is every customer's: the first part alone would take France for it.
    part = customer_part(orders["customer_id"], 3)
    assert home == "Germany" and (orders.loc[part == 0, "country"] == "France").all()
    said = []

    built = build_in_parts(ws.table_batches("orders", rows=300), ws.event_batches(EVENT_COLUMNS, rows=700), 3,
                           tmp_path / "parts", AS_OF, home, CUTOFFS, 60, "customer_v2", kept, homes,
                           InteractionWeights(), progress=lambda *a: said.append(a))

    pd.testing.assert_frame_equal(built.customers, whole)
    matrix, users, items = build_interactions(orders, AS_OF, events, InteractionWeights())
    assert (built.interactions[0] != matrix).nnz == 0 and built.interactions[0].dtype == matrix.dtype
    assert (built.interactions[1].ids == users.ids).all() and (built.interactions[2].ids == items.ids).all()
    pd.testing.assert_frame_equal(built.training, training)
    assert built.digest == inputs_digest(model_orders, model_events)
    assert [a[:2] for a in said] == [(1, 3), (2, 3), (3, 3)]
    assert sum(a[2] for a in said) == len(whole) and sum(a[3] for a in said) == len(training)


def test_a_shop_without_events_is_built_in_parts_as_whole(ws, tmp_path):
    orders = ws.read_table("orders")
    home, homes = home_countries(baskets(orders), AS_OF, CUTOFFS, None)
    built = build_in_parts(ws.table_batches("orders", rows=500), None, 2, tmp_path / "parts", AS_OF, home,
                           CUTOFFS, 60, "customer_v2", None, homes)
    pd.testing.assert_frame_equal(built.customers, build_customer_features(orders, AS_OF))
    pd.testing.assert_frame_equal(built.training, build_training_set(orders, CUTOFFS, 60))
    assert built.digest == inputs_digest(orders, None) and built.interactions is None
    assert built.customers["views_30d"].isna().all()  # no log: unknown, not 0


def test_event_batches_are_the_events_read_whole(ws):
    whole = ws.read_events(EVENT_COLUMNS)
    batches = list(ws.event_batches(EVENT_COLUMNS, rows=250))
    assert len(batches) == -(-len(ws.read_table("events")) // 250) + 1  # the live events last

    def rows(frame):
        users = frame[s.USER_ID].astype(object).fillna("")
        return sorted(zip(users, frame[s.ITEM_ID].astype(str), frame[s.TIMESTAMP], strict=True))
    assert rows(pd.concat(batches)) == rows(whole)
    assert all(b[s.TIMESTAMP].dtype == whole[s.TIMESTAMP].dtype for b in batches)


def test_parts_are_sized_by_rows():
    assert part_count(0) == part_count(10) == 1
    assert part_count(30, part_rows=10) == 3 and part_count(31, part_rows=10) == 4
    ids = pd.Series(["a", "b", "c", "a"])  # a categorical's part is its value's
    assert (customer_part(ids.astype("category"), 5) == customer_part(ids, 5)).all()


def test_events_read_since_a_time_are_the_whole_log_from_that_time(ws):
    since = pd.Timestamp("2011-04-20")
    whole = ws.read_events(EVENT_COLUMNS)
    recent = ws.read_events(EVENT_COLUMNS, since=since)
    expected = whole[whole[s.TIMESTAMP] >= since]
    assert 0 < len(recent) == len(expected) < len(whole)
    assert "live-1" in set(ws.read_events(since=since)[s.EVENT_ID])  # live events too
    assert sorted(recent[s.TIMESTAMP]) == sorted(expected[s.TIMESTAMP])


def test_events_read_for_a_sample_of_customers_are_theirs_in_the_whole_log(ws):
    # Training reads a large base's sample this way: its snapshot's digest must not change.
    orders, whole = ws.read_table("orders"), ws.read_events(EVENT_COLUMNS)
    kept = sampled_ids(orders["customer_id"].unique(), 20)
    theirs = ws.read_events(EVENT_COLUMNS, users=kept)
    assert 0 < len(theirs) < len(whole) and set(theirs[s.USER_ID]) <= set(kept)
    sample = model_customers(orders, whole, 20)
    assert inputs_digest(*sample[:2]) == inputs_digest(*model_customers(orders, theirs, 20)[:2])
    c3 = ws.read_events(users=["c3"])
    assert "live-1" in set(c3[s.EVENT_ID])  # live events too
    assert set(c3[s.USER_ID]) == {"c3"}


def test_a_part_whose_customers_never_browsed_counts_no_visits_not_unknown(tmp_path):
    orders = make_small_shop()
    events = simulate_events(orders)
    events = events[customer_part(events["user_id"].replace("", "anonymous"), 3) == 0]  # one part's shoppers
    events["timestamp"] = events["timestamp"].astype(orders["timestamp"].dtype)
    ws = Workspace(tmp_path / "ws")
    ws.write_table("orders", orders, "fixture")
    ws.write_table("events", events, "fixture")
    orders, events = ws.read_table("orders"), ws.read_events(EVENT_COLUMNS)
    home, homes = home_countries(baskets(orders), AS_OF, CUTOFFS, None)
    built = build_in_parts(ws.table_batches("orders"), ws.event_batches(EVENT_COLUMNS), 3, tmp_path / "parts",
                           AS_OF, home, CUTOFFS, 60, "customer_v2", None, homes)
    whole = build_customer_features(orders, AS_OF, events)
    pd.testing.assert_frame_equal(built.customers, whole)
    assert (whole["views_90d"] == 0).any() and whole["views_90d"].notna().all()
