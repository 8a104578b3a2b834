"""What only the Redis live store has to get right: real redis-server, concurrent writers."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pandas as pd
import pytest

from features import schema as s
from features.live.redis_store import RedisLiveStore


def _event(event_id: str, user: str | None, session: str | None = None, kind: str = "view") -> dict:
    return {s.EVENT_ID: event_id, s.USER_ID: user, s.SESSION_ID: session, s.ITEM_ID: "i1", s.EVENT_TYPE: kind,
            s.TIMESTAMP: pd.Timestamp("2011-09-01 10:00")}


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex}:"


def test_forgetting_under_concurrent_event_traffic_answers_at_once(redis_url, prefix):
    store = RedisLiveStore(redis_url, prefix=prefix)
    store.append_events([_event(f"mine-{n}", "forget-me", f"s{n % 5}") for n in range(300)])
    stop, posted = threading.Event(), []

    def traffic(worker: int) -> None:
        writer, n = RedisLiveStore(redis_url, prefix=prefix), 0
        while not stop.is_set():
            writer.append_events([_event(f"w{worker}-{n}-{k}", f"shopper-{k}", f"w{worker}-{k}") for k in range(20)])
            n += 1
        posted.append(n * 20)

    writers = [threading.Thread(target=traffic, args=(w,)) for w in range(4)]
    for w in writers:
        w.start()
    try:
        time.sleep(0.5)
        took, result = [], []
        forget = threading.Thread(target=lambda: (t := time.monotonic(), result.append(store.forget_customer(
            "forget-me")), took.append(time.monotonic() - t)))
        forget.start()
        forget.join(timeout=10)  # the optimistic rewrite of every event retried for ever here
        assert not forget.is_alive(), "forget_customer did not return in 10 s under traffic"
        time.sleep(0.3)
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert result == [300] and took[0] < 1.0, took
    events = store.events_frame()
    assert not events[s.USER_ID].eq("forget-me").any()
    assert len(events) == sum(posted)  # every other shopper's event is still there
    assert events[s.EVENT_ID].is_unique


def test_an_event_whose_store_failed_half_way_is_stored_when_the_client_retries(redis_url, prefix, monkeypatch):
    import redis

    store = RedisLiveStore(redis_url, prefix=prefix)
    calls = {"n": 0}

    def fail_second_round_trip(original):
        def call(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                raise redis.ConnectionError("connection lost")
            return original(*args, **kwargs)
        return call

    monkeypatch.setattr(redis.client.Pipeline, "execute", fail_second_round_trip(redis.client.Pipeline.execute))
    monkeypatch.setattr(redis.Redis, "evalsha", fail_second_round_trip(redis.Redis.evalsha))
    for _ in range(3):  # a client retries until the batch is acknowledged
        try:
            store.append_events([_event("retried", "u1", kind="purchase")])
            break
        except redis.ConnectionError:
            continue
    monkeypatch.undo()

    assert store.events_frame()[s.EVENT_ID].tolist() == ["retried"]
    assert store.recent_events("u1") == [("i1", "purchase")]
    assert store.purchases_since(0).to_dict() == {"i1": 1.0}


def test_a_store_written_by_the_earlier_single_list_layout_is_moved_and_forgets(redis_url, prefix):
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    old = [_event("o1", "u1", "s1"), _event("o2", None, "s1"), _event("o3", "u2")]
    for e in old:
        client.sadd(f"{prefix}event_ids", e[s.EVENT_ID])
        client.rpush(f"{prefix}events", json.dumps({**e, s.TIMESTAMP: e[s.TIMESTAMP].isoformat(),
                                                    s.PRICE: None, s.QUANTITY: None}))

    store = RedisLiveStore(redis_url, prefix=prefix)

    assert not client.exists(f"{prefix}events")
    assert store.events_frame()[s.EVENT_ID].tolist() == ["o1", "o2", "o3"]
    assert store.append_events([old[0]]) == 0  # still known: a retry is not stored twice
    assert store.forget_customer("u1") == 2
    assert store.events_frame()[s.EVENT_ID].tolist() == ["o3"]
