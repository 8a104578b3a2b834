"""The live store on Redis, for a service that runs on several machines.

Same methods and answers as :class:`features.live_store.LiveStore` (the SQLite store one
machine's workers share), so the storefront and training use either; the tests run one
suite against both. Chosen by ``SHELFWISE_LIVE_STORE_URL=redis://host:6379/0``.

Keys (all under ``prefix``):

- ``event_ids``: a set; an event whose id is already in it is skipped (client retries).
- ``events``: a list of every event as JSON, oldest first, which training reads back.
- ``recent:user:<id>`` / ``recent:session:<id>``: the newest ``KEEP_RECENT`` events of a
  shopper, newest first, so a request reads one short list.
- ``purchases``: a sorted set of purchase events scored by the time they were received.
- ``item_updates``: a list of catalogue updates as JSON; an update's sequence number is its
  position + 1.
- ``signal:<name>``: counters (the service's "reload" signal).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable

import pandas as pd

from features import schema as s
from features.live_store import EVENT_COLUMNS, Shopper, _naive_utc, events_from_rows

KEEP_RECENT = 100  # per shopper; the service reads 20


class RedisLiveStore:
    """Events and item updates in Redis, shared by every worker of every machine."""

    def __init__(self, url: str, prefix: str = "shelfwise:"):
        import redis  # only deployments that choose Redis need the client

        self.url, self.prefix = url, prefix
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        try:  # fail at start, naming the URL, rather than on the first event
            self._redis.ping()
        except redis.ConnectionError as exc:
            raise ConnectionError(f"live store {url} unreachable: {exc}") from None

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def append_events(self, events: Iterable[dict]) -> int:
        """Store events; an already stored ``event_id`` is skipped. Returns how many were new."""
        now = time.time()
        events = list(events)
        with self._redis.pipeline() as pipe:  # MULTI: each SADD says whether its id is new
            for e in events:
                pipe.sadd(self._key("event_ids"), e[s.EVENT_ID])
            new = [e for e, added in zip(events, pipe.execute(), strict=True) if added]
        with self._redis.pipeline() as pipe:
            for e in new:
                row = {c: e.get(c) for c in EVENT_COLUMNS}
                row[s.TIMESTAMP] = _naive_utc(e[s.TIMESTAMP]).isoformat()
                pipe.rpush(self._key("events"), json.dumps(row))
                recent = json.dumps([e[s.ITEM_ID], e[s.EVENT_TYPE]])
                for who, key in (("user", e.get(s.USER_ID)), ("session", e.get(s.SESSION_ID))):
                    if key is not None:
                        pipe.lpush(self._key("recent", who, key), recent)
                        pipe.ltrim(self._key("recent", who, key), 0, KEEP_RECENT - 1)
                if e[s.EVENT_TYPE] == "purchase":
                    pipe.zadd(self._key("purchases"), {f"{e[s.EVENT_ID]}|{e[s.ITEM_ID]}": now})
            pipe.execute()
        return len(new)

    def recent_events(self, user_id: str | None = None, session_id: str | None = None,
                      limit: int = 50) -> list[tuple[str, str]]:
        """The newest ``limit`` events of a customer (``user_id`` when given) or else an
        anonymous session, newest first, as ``(item_id, event_type)``."""
        who, key = ("user", user_id) if user_id is not None else ("session", session_id)
        if key is None:
            return []
        return [tuple(json.loads(x)) for x in self._redis.lrange(self._key("recent", who, key), 0, limit - 1)]

    def shopper(self, user_id: str | None = None, session_id: str | None = None,
                limit: int = 50) -> Shopper:
        """Forgotten or not, the newest ``limit`` events and the newest item update, in one
        round trip (see :meth:`features.live_store.LiveStore.shopper`)."""
        who, key = ("user", user_id) if user_id is not None else ("session", session_id)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.llen(self._key("item_updates"))
            pipe.sismember(self._key("forgotten"), user_id or "")  # ids are never empty
            if key is not None:
                pipe.lrange(self._key("recent", who, key), 0, limit - 1)
            updates, forgotten, *rows = pipe.execute()
        recent = tuple(tuple(json.loads(x)) for x in rows[0]) if rows else ()
        return Shopper(forgotten=bool(forgotten), recent=recent, item_update=int(updates))

    def events_frame(self) -> pd.DataFrame:
        """Every stored event in the canonical ``events`` schema (``simulated`` false)."""
        rows = [json.loads(x) for x in self._redis.lrange(self._key("events"), 0, -1)]
        return events_from_rows(pd.DataFrame(rows, columns=list(EVENT_COLUMNS)))

    def update_items(self, items: Iterable[dict]) -> int:
        """Append catalogue updates (a missing or None field keeps the current value)."""
        rows = [json.dumps([i[s.ITEM_ID], i.get(s.TITLE), i.get(s.CATEGORY), i.get(s.PRICE),
                            None if i.get(s.IN_STOCK) is None else int(i[s.IN_STOCK])]) for i in items]
        if rows:
            self._redis.rpush(self._key("item_updates"), *rows)
        return len(rows)

    def last_item_update(self) -> int:
        return int(self._redis.llen(self._key("item_updates")))

    def item_updates_after(self, seq: int) -> list[tuple]:
        """Updates newer than ``seq``, oldest first, as ``(seq, *ITEM_COLUMNS)``."""
        rows = self._redis.lrange(self._key("item_updates"), seq, -1)
        return [(seq + n + 1, *json.loads(x)) for n, x in enumerate(rows)]

    def send_signal(self, name: str) -> int:
        return int(self._redis.incr(self._key("signal", name)))

    def signal_count(self, name: str) -> int:
        return int(self._redis.get(self._key("signal", name)) or 0)

    def forget_customer(self, customer_id: str) -> int:
        """Put the customer on the forgotten list and delete their events and those of the
        sessions they were seen in; returns the number of events deleted."""
        from redis.exceptions import WatchError

        self._redis.sadd(self._key("forgotten"), customer_id)
        self._redis.delete(self._key("recent", "user", customer_id))
        key = self._key("events")
        while True:  # optimistic: redo if another writer appended meanwhile
            with self._redis.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.lrange(key, 0, -1)
                    rows = [json.loads(x) for x in raw]
                    sessions = {r[s.SESSION_ID] for r in rows
                                if r[s.USER_ID] == customer_id and r[s.SESSION_ID] is not None}
                    is_gone = [r[s.USER_ID] == customer_id or r[s.SESSION_ID] in sessions for r in rows]
                    gone = [r for r, g in zip(rows, is_gone, strict=True) if g]
                    if not gone:
                        pipe.unwatch()
                        break
                    pipe.multi()
                    pipe.delete(key)
                    kept = [x for x, g in zip(raw, is_gone, strict=True) if not g]  # stored text as is
                    if kept:
                        pipe.rpush(key, *kept)
                    pipe.srem(self._key("event_ids"), *[r[s.EVENT_ID] for r in gone])
                    pipe.zrem(self._key("purchases"), *[f"{r[s.EVENT_ID]}|{r[s.ITEM_ID]}" for r in gone])
                    if sessions:
                        pipe.delete(*[self._key("recent", "session", x) for x in sessions])
                    pipe.execute()
                    break
                except WatchError:
                    continue
        return len(gone)

    def is_forgotten(self, customer_id: str) -> bool:
        return bool(self._redis.sismember(self._key("forgotten"), customer_id))

    def forgotten_ids(self) -> set[str]:
        return set(self._redis.smembers(self._key("forgotten")))

    def purchases_since(self, received_after: float) -> pd.Series:
        """Purchase events per item received after a time (seconds since the epoch)."""
        members = self._redis.zrangebyscore(self._key("purchases"), f"({received_after}", "+inf")
        return pd.Series(Counter(m.rsplit("|", 1)[1] for m in members), dtype="float64")
