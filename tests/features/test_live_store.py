import sqlite3

import pandas as pd

from features import schema as s
from features.live_store import LiveStore


def _event(event_id, item="i1", user="u1", session=None, kind="view", ts="2026-11-20T10:00:00"):
    return {s.EVENT_ID: event_id, s.USER_ID: user, s.SESSION_ID: session, s.ITEM_ID: item,
            s.EVENT_TYPE: kind, s.TIMESTAMP: ts, s.PRICE: None, s.QUANTITY: None}


def test_a_retried_batch_stores_each_event_once(tmp_path):
    store = LiveStore(tmp_path / "live.sqlite")
    assert store.append_events([_event("e1"), _event("e2", item="i2")]) == 2
    assert store.append_events([_event("e2", item="i2"), _event("e3", item="i3")]) == 1
    assert len(store.events_frame()) == 3


def test_recent_events_are_the_customers_newest_first_else_the_sessions(tmp_path):
    store = LiveStore(tmp_path / "live.sqlite")
    store.append_events([_event("e1", "i1"), _event("e2", "i2", kind="add_to_cart"),
                         _event("e3", "i3", user=None, session="s9"), _event("e4", "i4", user="u2")])
    assert store.recent_events("u1") == [("i2", "add_to_cart"), ("i1", "view")]
    assert store.recent_events("u1", limit=1) == [("i2", "add_to_cart")]
    assert store.recent_events(None, "s9") == [("i3", "view")]
    assert store.recent_events(None, None) == []


def test_events_survive_a_restart_and_read_back_in_the_workspace_schema(tmp_path):
    LiveStore(tmp_path / "live.sqlite").append_events(
        [_event("e1", ts="2026-11-20T11:00:00+01:00"), _event("e2", ts=pd.Timestamp("2026-11-20 10:30"))])
    frame = LiveStore(tmp_path / "live.sqlite").events_frame()
    # Zone-aware timestamps are stored as naive UTC, like every workspace table.
    assert frame[s.TIMESTAMP].tolist() == [pd.Timestamp("2026-11-20 10:00"), pd.Timestamp("2026-11-20 10:30")]
    assert not frame[s.SIMULATED].any()


def test_rows_written_with_an_offset_by_an_older_version_still_read(tmp_path):
    store = LiveStore(tmp_path / "live.sqlite")
    store.append_events([_event("e1")])
    with sqlite3.connect(tmp_path / "live.sqlite") as conn:
        conn.execute("UPDATE events SET timestamp = '2026-11-20T12:00:00+02:00'")
    assert store.events_frame()[s.TIMESTAMP].tolist() == [pd.Timestamp("2026-11-20 10:00")]


def test_item_updates_are_read_in_order_after_a_sequence_number(tmp_path):
    store = LiveStore(tmp_path / "live.sqlite")
    assert store.last_item_update() == 0
    store.update_items([{s.ITEM_ID: "i1", s.IN_STOCK: False}, {s.ITEM_ID: "i2", s.PRICE: 2.5}])
    first = store.last_item_update()
    store.update_items([{s.ITEM_ID: "i1", s.IN_STOCK: True}])
    assert [(r[1], r[5]) for r in store.item_updates_after(0)] == [("i1", 0), ("i2", None), ("i1", 1)]
    assert [(r[1], r[5]) for r in store.item_updates_after(first)] == [("i1", 1)]


def test_signals_are_counted_across_connections(tmp_path):
    a, b = LiveStore(tmp_path / "live.sqlite"), LiveStore(tmp_path / "live.sqlite")
    assert b.signal_count("reload") == 0
    assert a.send_signal("reload") == 1 and a.send_signal("reload") == 2
    assert b.signal_count("reload") == 2 and b.signal_count("other") == 0
