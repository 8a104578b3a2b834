import json
import sqlite3
import time

import pandas as pd
import pytest

from features import schema as s
from features.live.sqlite_store import SQLiteLiveStore
from features.live.store import Shopper


def _event(event_id, item="i1", user="u1", session=None, kind="view", ts="2026-11-20T10:00:00"):
    return {s.EVENT_ID: event_id, s.USER_ID: user, s.SESSION_ID: session, s.ITEM_ID: item,
            s.EVENT_TYPE: kind, s.TIMESTAMP: ts, s.PRICE: None, s.QUANTITY: None}


def test_a_retried_batch_stores_each_event_once(open_store):
    store = open_store()
    assert store.append_events([_event("e1"), _event("e2", item="i2")]) == 2
    assert store.append_events([_event("e2", item="i2"), _event("e3", item="i3")]) == 1
    assert len(store.events_frame()) == 3


def test_recent_events_are_the_customers_newest_first_else_the_sessions(open_store):
    store = open_store()
    store.append_events([_event("e1", "i1"), _event("e2", "i2", kind="add_to_cart"),
                         _event("e3", "i3", user=None, session="s9"), _event("e4", "i4", user="u2")])
    assert store.recent_events("u1") == [("i2", "add_to_cart"), ("i1", "view")]
    assert store.recent_events("u1", limit=1) == [("i2", "add_to_cart")]
    assert store.recent_events(None, "s9") == [("i3", "view")]
    assert store.recent_events(None, None) == []


def test_a_shoppers_snapshot_is_their_recent_events_forgotten_flag_and_newest_item_update(open_store):
    store = open_store()
    assert store.shopper("u1", None, 20) == Shopper(forgotten=False, recent=(), item_update=0)
    assert store.shopper(None, None, 20).recent == ()
    store.append_events([_event("e1", "i1"), _event("e2", "i2", kind="add_to_cart"),
                         _event("e3", "i3", user=None, session="s9")])
    store.update_items([{s.ITEM_ID: "i1", s.IN_STOCK: False}, {s.ITEM_ID: "i2", s.PRICE: 2.5}])
    # The same rows recent_events reads, newest first, limited alike.
    assert store.shopper("u1", "s9", 20) == Shopper(
        forgotten=False, recent=(("i2", "add_to_cart"), ("i1", "view")), item_update=2)
    assert store.shopper("u1", None, 1).recent == (("i2", "add_to_cart"),)
    assert store.shopper(None, "s9", 20).recent == (("i3", "view"),)
    store.forget_customer("u1")
    assert store.shopper("u1", None, 20) == Shopper(forgotten=True, recent=(), item_update=2)
    assert not store.shopper(None, "s9", 20).forgotten


def test_events_survive_a_restart_and_read_back_in_the_workspace_schema(open_store):
    open_store().append_events(
        [_event("e1", ts="2026-11-20T11:00:00+01:00"), _event("e2", ts=pd.Timestamp("2026-11-20 10:30"))])
    frame = open_store().events_frame()
    # Zone-aware timestamps are stored as naive UTC, like every workspace table.
    assert frame[s.TIMESTAMP].tolist() == [pd.Timestamp("2026-11-20 10:00"), pd.Timestamp("2026-11-20 10:30")]
    assert not frame[s.SIMULATED].any()


def test_rows_written_with_an_offset_by_an_older_version_still_read(tmp_path):
    store = SQLiteLiveStore(tmp_path / "live.sqlite")
    store.append_events([_event("e1")])
    with sqlite3.connect(tmp_path / "live.sqlite") as conn:
        conn.execute("UPDATE events SET timestamp = '2026-11-20T12:00:00+02:00'")
    assert store.events_frame()[s.TIMESTAMP].tolist() == [pd.Timestamp("2026-11-20 10:00")]


def test_an_event_with_a_date_pandas_cannot_hold_is_left_out_with_a_warning(open_store, caplog):
    store = open_store()
    store.append_events([_event("e1"), _event("e2", ts="2503-07-23T13:12:07")])
    frame = store.events_frame()
    assert frame[s.EVENT_ID].tolist() == ["e1"]
    assert "1 stored events" in caplog.text and "e2" in caplog.text
    assert str(frame[s.TIMESTAMP].dtype) == "datetime64[ns]"


def test_item_updates_are_read_in_order_after_a_sequence_number(open_store):
    store = open_store()
    assert store.last_item_update() == 0
    store.update_items([{s.ITEM_ID: "i1", s.IN_STOCK: False}, {s.ITEM_ID: "i2", s.PRICE: 2.5}])
    first = store.last_item_update()
    store.update_items([{s.ITEM_ID: "i1", s.IN_STOCK: True}])
    assert [(r[1], r[5]) for r in store.item_updates_after(0)] == [("i1", 0), ("i2", None), ("i1", 1)]
    assert [(r[1], r[5]) for r in store.item_updates_after(first)] == [("i1", 1)]


def test_signals_are_counted_across_connections(open_store):
    a, b = open_store(), open_store()
    assert b.signal_count("reload") == 0
    assert a.send_signal("reload") == 1 and a.send_signal("reload") == 2
    assert b.signal_count("reload") == 2 and b.signal_count("other") == 0


def test_live_purchases_are_counted_per_item_by_the_time_they_arrived(open_store):
    store = open_store()
    store.append_events([_event("p1", "i1", kind="purchase"), _event("p2", "i1", kind="purchase"),
                         _event("p3", "i2", kind="purchase"), _event("v1", "i3")])
    assert store.purchases_since(0).to_dict() == {"i1": 2.0, "i2": 1.0}
    assert store.purchases_since(time.time() + 60).empty


def test_the_workspace_opens_redis_when_a_url_is_set(redis_url, tmp_path):
    from features.live.redis_store import RedisLiveStore
    from features.workspace import Workspace

    assert isinstance(Workspace(tmp_path).live_store(), SQLiteLiveStore)
    ws = Workspace(tmp_path, live_store_url=redis_url)
    assert isinstance(ws.live_store(), RedisLiveStore)
    ws.live_store().append_events([_event("w1")])
    assert "w1" in set(ws.read_events()[s.EVENT_ID])


def test_an_unreachable_redis_is_named_when_the_store_opens():
    from features.live.redis_store import RedisLiveStore

    with pytest.raises(ConnectionError, match="redis://127.0.0.1:1/0 unreachable"):
        RedisLiveStore("redis://127.0.0.1:1/0")


def _open_at_once(path, barrier):
    barrier.wait()
    SQLiteLiveStore(path).append_events([])


def test_workers_opening_a_new_store_at_the_same_moment_all_start(tmp_path):
    # The service's workers open the store together on a fresh workspace; switching a new file
    # to WAL made some of them fail with "database is locked" and the service exit at start.
    import multiprocessing as mp

    failed = 0
    for trial in range(15):
        barrier = mp.Barrier(6)
        workers = [mp.Process(target=_open_at_once, args=(tmp_path / f"live{trial}.sqlite", barrier))
                   for _ in range(6)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=60)
        failed += sum(w.exitcode != 0 for w in workers)

    assert failed == 0


def test_a_forgotten_customer_loses_their_events_and_their_sessions_events(open_store):
    store = open_store()
    store.append_events([_event("e1", "i1", user="u1", session="s1"), _event("e2", "i2", user=None, session="s1"),
                         _event("e3", "i3", user="u1", kind="purchase"), _event("e4", "i4", user="u2"),
                         _event("e5", "i5", user=None, session="s2")])
    assert store.forget_customer("u1") == 3  # e1, e3 and e2 (same session as e1)
    assert store.is_forgotten("u1") and not store.is_forgotten("u2")
    assert store.forgotten_ids() == {"u1"}
    assert sorted(store.events_frame()[s.EVENT_ID]) == ["e4", "e5"]
    assert store.recent_events("u1") == [] and store.recent_events(None, "s1") == []
    assert store.purchases_since(0).empty
    # Forgetting twice is harmless, and a forgotten event id may be stored again later.
    assert store.forget_customer("u1") == 0
    assert store.append_events([_event("e1", "i1", user="u3")]) == 1


def test_the_workspace_reads_imported_and_live_events_once_each(tmp_path):
    from features.workspace import Workspace

    ws = Workspace(tmp_path)
    store = ws.live_store()
    store.append_events([_event("e1"), _event("e2", item="i2")])
    ws.write_table("events", store.events_frame(), "imported by a training run")
    store.append_events([_event("e3", item="i3")])
    assert sorted(ws.read_events()[s.EVENT_ID]) == ["e1", "e2", "e3"]


def test_a_forgotten_customers_events_leave_no_bytes_in_the_sqlite_files(tmp_path):
    store = SQLiteLiveStore(tmp_path / "live.sqlite")
    store.append_events([_event(f"evt-forgotten-{n}", "i1", user="c1", session="sess-to-erase")
                         for n in range(50)] + [_event("kept", "i1", user="u2")])
    store.append_exposures([_shown(f"shown-forgotten-{n}", "c1", "sess-to-erase", ["item-shown-to-c1"], 1.0)
                            for n in range(50)] + [_shown("shown-kept", "u2", None, ["i1"], 1.0)])

    assert store.forget_customer("c1") == 50

    # The id stays on the forgotten list; what they did and were shown is gone from the
    # databases (events, and exposures in their own file) and their logs.
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("live*.sqlite*"))
    assert {p.name for p in tmp_path.glob("live*.sqlite")} == {"live.sqlite", "live-exposures.sqlite"}
    assert b"sess-to-erase" not in raw and b"evt-forgotten" not in raw and b"kept" in raw
    assert b"shown-forgotten" not in raw and b"item-shown-to-c1" not in raw and b"shown-kept" in raw


def test_feature_builders_read_events_as_codes_with_live_ids_kept(tmp_path):
    from features.customer_features import EVENT_COLUMNS
    from features.workspace import Workspace

    ws = Workspace(tmp_path)
    store = ws.live_store()
    store.append_events([_event("e1"), _event("e2", item="i2")])
    ws.write_table("events", store.events_frame(), "imported by a training run")
    store.append_events([_event("e3", item="i3", user="u9"), _event("e1"),  # e1 again: counted once
                         _event("e4", item="i3", user=None, session="s-anonymous")])

    events = ws.read_events(EVENT_COLUMNS)

    assert list(events.columns) == EVENT_COLUMNS
    assert isinstance(events[s.ITEM_ID].dtype, pd.CategoricalDtype)
    assert events[s.ITEM_ID].astype(str).tolist() == ["i1", "i2", "i3", "i3"]  # a new live item, not NaN
    assert events[s.USER_ID].tolist()[2] == "u9"
    assert pd.isna(events[s.USER_ID].tolist()[3]) and pd.isna(ws.read_events()[s.USER_ID].tolist()[3])


def _shown(rec, user, session, items, at, endpoint="/recommend"):
    return (rec, endpoint, "champion", "shelfwise-recs/1", user, session, json.dumps(items), at, 1.5, 200)


def test_exposures_read_back_from_a_time_and_events_keep_the_answer_they_came_from(open_store):
    store = open_store()
    store.append_exposures([_shown("r1", "u1", None, ["i1", "i2"], 100.0),
                            _shown("r2", None, "s9", ["i3"], 200.0, endpoint="/trending")])
    got = open_store().exposures_frame(since=150.0)
    assert got.to_dict("records") == [{"recommendation_id": "r2", "endpoint": "/trending", "variant": "champion",
                                       "model_version": "shelfwise-recs/1", "user_id": None, "session_id": "s9",
                                       "items": '["i3"]', "at": 200.0, "ms": 1.5, "status": 200}]
    assert open_store().exposures_frame()["recommendation_id"].tolist() == ["r1", "r2"]
    store.append_events([{**_event("e1", "i1"), "recommendation_id": "r1"}, _event("e2", "i2")])
    frame = store.events_frame(recommendation_ids=True)
    assert frame["recommendation_id"].tolist() == ["r1", None]
    assert "recommendation_id" not in store.events_frame()  # training reads the workspace schema


def test_the_forgotten_among_many_ids_are_found_by_id(open_store):
    store = open_store()
    for customer in ("u3", "u700"):
        store.forget_customer(customer)
    asked = [f"u{n}" for n in range(1200)]  # more than one statement's parameters
    assert store.forgotten_among(asked) == {"u3", "u700"}
    assert store.forgotten_among([]) == set() and store.forgotten_among(["x"]) == set()


def test_a_large_batch_of_exposures_is_stored_whole_and_in_order(open_store):
    store = open_store()
    batch = [_shown(f"r{n}", f"u{n % 7}", None, [f"i{n}"], float(n)) for n in range(1283)]  # 1,024+256+2+1
    assert store.append_exposures(batch) == 1283
    got = open_store().exposures_frame()
    assert got["recommendation_id"].tolist() == [f"r{n}" for n in range(1283)]
    assert got["items"].iloc[-1] == '["i1282"]' and got["at"].iloc[-1] == 1282.0


def test_a_forgotten_customer_loses_the_answers_shown_to_them_and_their_sessions(open_store):
    store = open_store()
    store.append_exposures([_shown("r1", "u1", "s1", ["i1"], 1.0), _shown("r2", None, "s1", ["i2"], 2.0),
                            _shown("r3", "u2", None, ["i3"], 3.0), _shown("r4", None, "s2", ["i4"], 4.0)])
    store.forget_customer("u1")
    assert open_store().exposures_frame()["recommendation_id"].tolist() == ["r3", "r4"]


def test_a_store_written_before_answers_had_ids_opens_and_keeps_its_events(tmp_path):
    path = tmp_path / "live.sqlite"
    with sqlite3.connect(path) as conn:  # the events table as the first versions wrote it
        conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, "
                     "user_id TEXT, session_id TEXT, item_id TEXT NOT NULL, event_type TEXT NOT NULL, "
                     "timestamp TEXT NOT NULL, price REAL, quantity REAL, received_at REAL NOT NULL)")
        conn.execute("INSERT INTO events (event_id, user_id, item_id, event_type, timestamp, received_at) "
                     "VALUES ('old', 'u1', 'i1', 'view', '2026-11-20T10:00:00', 0)")
    store = SQLiteLiveStore(path)
    store.append_events([{**_event("new"), "recommendation_id": "r1"}])
    assert store.events_frame(recommendation_ids=True)["recommendation_id"].tolist() == [None, "r1"]


def test_exposures_past_their_keep_time_are_dropped(open_store, monkeypatch):
    import features.live.sqlite_store as sqlite_store

    store = open_store()
    now = time.time()
    store.append_exposures([_shown("old", "u1", None, ["i1"], now - 100 * 86400),
                            _shown("new", "u2", None, ["i2"], now)], keep_seconds=90 * 86400)
    store.append_exposures([_shown("newer", "u3", None, ["i3"], now)], keep_seconds=90 * 86400)
    got = open_store().exposures_frame()["recommendation_id"].tolist()
    if isinstance(store, sqlite_store.SQLiteLiveStore):  # rows older than the keep time go
        assert got == ["new", "newer"]
    else:  # a shopper's list lives that long after their newest exposure
        assert sorted(got) == ["new", "newer", "old"]
        assert 0 < store._redis.ttl(store._key("exp", "user", "u1")) <= 90 * 86400
        store._redis.delete(store._key("exp", "user", "u1"))  # as when it expires
        assert sorted(open_store().exposures_frame()["recommendation_id"]) == ["new", "newer"]
        assert store._key("exp", "user", "u1") not in store._redis.smembers(store._key("exp", "keys"))
