"""The live store on Redis, for a service that runs on several machines.

Same interface and answers as :class:`features.live.sqlite_store.SQLiteLiveStore` (the SQLite
store one machine's workers share; both implement :class:`features.live.store.LiveStore`), so
the storefront and training use either; the tests run one suite against both. Chosen by ``SHELFWISE_LIVE_STORE_URL=redis://host:6379/0``.

Events are kept per shopper, so that forgetting a customer touches only their own keys:
one Lua script (atomic in Redis, bounded by that customer's events, never retried) instead
of rewriting one list of every event, which concurrent writers kept aborting. Storing a
batch of events is one script too, so a failure leaves either nothing or the whole event:
a retried event is never taken for a duplicate of one that was half stored.

Keys (all under ``prefix``):

- ``event_ids``: a set; an event whose id is already in it is skipped (client retries).
- ``event_seq``: a counter; each event's sequence number, so training reads them in order.
- ``ev:session:<id>`` / ``ev:user:<id>``: the events of a session (with or without a
  customer) or, for events without a session, of a customer, as ``"<seq> <json>"``, oldest
  first; ``ev:keys`` is the set of these lists, which training reads back.
- ``sessions:user:<id>``: the sessions a customer was seen in.
- ``recent:user:<id>`` / ``recent:session:<id>``: the newest ``KEEP_RECENT`` events of a
  shopper, newest first, so a request reads one short list.
- ``purchases``: a sorted set of purchase events scored by the time they were received.
- ``forgotten``: the ids of customers who asked to be forgotten.
- ``item_updates``: a list of catalogue updates as JSON; an update's sequence number is its
  position + 1.
- ``signal:<name>``: counters (the service's "reload" signal).
- ``exp:user:<id>`` / ``exp:session:<id>``: the answers shown to a customer, else to an
  anonymous session (``exposures``), as JSON rows, oldest first; ``exp:keys`` is the set of
  these lists.

A store written by an earlier version (one ``events`` list) is moved to this layout the
first time a worker opens it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable

import pandas as pd

from features import schema as s
from features.live.store import (
    EVENT_COLUMNS,
    EXPOSURE_COLUMNS,
    RECOMMENDATION_ID,
    Shopper,
    events_from_rows,
    exposures_from_rows,
    naive_utc,
)

KEEP_RECENT = 100  # per shopper; the service reads 20
MIGRATE_BATCH = 10_000

# ARGV: prefix, received-at time, KEEP_RECENT, mode ("new" or "migrate"), then six values per
# event: id, user ('' for none), session ('' for none), row JSON, recent-list JSON, purchase
# member ('' unless a purchase). "migrate" files events already counted in event_ids,
# recent lists and purchases (an earlier layout's) under their shopper only.
_APPEND = """
local p, now, keep, migrate = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == 'migrate'
local added = 0
for i = 5, #ARGV, 6 do
  local id, user, session = ARGV[i], ARGV[i+1], ARGV[i+2]
  local row, recent, purchase = ARGV[i+3], ARGV[i+4], ARGV[i+5]
  if migrate or redis.call('SADD', p .. 'event_ids', id) == 1 then
    local list
    if session ~= '' then
      list = p .. 'ev:session:' .. session
      if user ~= '' then redis.call('SADD', p .. 'sessions:user:' .. user, session) end
    else
      list = p .. 'ev:user:' .. user
    end
    redis.call('RPUSH', list, redis.call('INCR', p .. 'event_seq') .. ' ' .. row)
    redis.call('SADD', p .. 'ev:keys', list)
    if not migrate then
      for _, who in ipairs({{'user', user}, {'session', session}}) do
        if who[2] ~= '' then
          local key = p .. 'recent:' .. who[1] .. ':' .. who[2]
          redis.call('LPUSH', key, recent)
          redis.call('LTRIM', key, 0, keep - 1)
        end
      end
      if purchase ~= '' then redis.call('ZADD', p .. 'purchases', now, purchase) end
    end
    added = added + 1
  end
end
return added
"""

# ARGV: prefix, customer id. Returns the number of events deleted.
_FORGET = """
local p, uid = ARGV[1], ARGV[2]
redis.call('SADD', p .. 'forgotten', uid)
redis.call('DEL', p .. 'recent:user:' .. uid)
local lists = {p .. 'ev:user:' .. uid}
local shown = {p .. 'exp:user:' .. uid}
for _, session in ipairs(redis.call('SMEMBERS', p .. 'sessions:user:' .. uid)) do
  table.insert(lists, p .. 'ev:session:' .. session)
  table.insert(shown, p .. 'exp:session:' .. session)
  redis.call('DEL', p .. 'recent:session:' .. session)
end
for _, list in ipairs(shown) do
  redis.call('DEL', list)
  redis.call('SREM', p .. 'exp:keys', list)
end
local n = 0
for _, list in ipairs(lists) do
  for _, stored in ipairs(redis.call('LRANGE', list, 0, -1)) do
    local event = cjson.decode(string.sub(stored, string.find(stored, ' ', 1, true) + 1))
    redis.call('SREM', p .. 'event_ids', event['event_id'])
    redis.call('ZREM', p .. 'purchases', event['event_id'] .. '|' .. event['item_id'])
    n = n + 1
  end
  redis.call('DEL', list)
  redis.call('SREM', p .. 'ev:keys', list)
end
redis.call('DEL', p .. 'sessions:user:' .. uid)
return n
"""


# ARGV: the index set, then list keys that read empty: those still absent leave the set.
_FORGET_GONE = """
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[i]) == 0 then redis.call('SREM', ARGV[1], ARGV[i]) end
end
return 0
"""


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
        self._append = self._redis.register_script(_APPEND)
        self._forget = self._redis.register_script(_FORGET)
        self._forget_gone = self._redis.register_script(_FORGET_GONE)
        self._migrate_flat_events()

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _args(self, events: Iterable[dict]) -> list[str]:
        args = []
        for e in events:
            row = {c: e.get(c) for c in EVENT_COLUMNS}
            if e.get(RECOMMENDATION_ID) is not None:
                row[RECOMMENDATION_ID] = e[RECOMMENDATION_ID]
            row[s.TIMESTAMP] = naive_utc(e[s.TIMESTAMP]).isoformat()
            purchase = f"{e[s.EVENT_ID]}|{e[s.ITEM_ID]}" if e[s.EVENT_TYPE] == "purchase" else ""
            args += [e[s.EVENT_ID], e.get(s.USER_ID) or "", e.get(s.SESSION_ID) or "", json.dumps(row),
                     json.dumps([e[s.ITEM_ID], e[s.EVENT_TYPE]]), purchase]
        return args

    def append_events(self, events: Iterable[dict]) -> int:
        """Store events; an already stored ``event_id`` is skipped. Returns how many were new.
        One atomic step: a batch that fails is stored not at all, and its retry stores it."""
        args = self._args(events)
        if not args:
            return 0
        return int(self._append(args=[self.prefix, time.time(), KEEP_RECENT, "new", *args]))

    def _migrate_flat_events(self) -> None:
        """Move an earlier version's single ``events`` list to per-shopper lists (once: the
        worker whose RENAME succeeds does it)."""
        import redis

        flat, moving = self._key("events"), self._key("events", "migrating")
        try:
            self._redis.rename(flat, moving)
        except redis.ResponseError:  # no such key: nothing to move, or another worker has it
            return
        while rows := self._redis.lrange(moving, 0, MIGRATE_BATCH - 1):
            events = [json.loads(x) for x in rows]
            for e in events:
                e[s.TIMESTAMP] = pd.Timestamp(e[s.TIMESTAMP])
            self._append(args=[self.prefix, time.time(), KEEP_RECENT, "migrate", *self._args(events)])
            self._redis.ltrim(moving, len(rows), -1)

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
        round trip (see :meth:`features.live.store.LiveStore.shopper`)."""
        who, key = ("user", user_id) if user_id is not None else ("session", session_id)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.llen(self._key("item_updates"))
            pipe.sismember(self._key("forgotten"), user_id or "")  # ids are never empty
            if key is not None:
                pipe.lrange(self._key("recent", who, key), 0, limit - 1)
            updates, forgotten, *rows = pipe.execute()
        recent = tuple(tuple(json.loads(x)) for x in rows[0]) if rows else ()
        return Shopper(forgotten=bool(forgotten), recent=recent, item_update=int(updates))

    def _read_lists(self, keys: str) -> list[str]:
        """Every row of the lists named in the set ``keys``, a thousand lists per round trip;
        the names of lists that expired leave the set."""
        index = self._key(*keys.split(":"))
        lists = sorted(self._redis.smembers(index))
        stored, gone = [], []
        for start in range(0, len(lists), 1000):
            with self._redis.pipeline(transaction=False) as pipe:
                for key in lists[start:start + 1000]:
                    pipe.lrange(key, 0, -1)
                for key, rows in zip(lists[start:start + 1000], pipe.execute(), strict=True):
                    stored += rows
                    if not rows:
                        gone.append(key)
        if gone:  # unless one was written since: the check and the removal are one step
            self._forget_gone(args=[index, *gone])
        return stored

    def events_frame(self, recommendation_ids: bool = False) -> pd.DataFrame:
        """Every stored event in the canonical ``events`` schema (``simulated`` false), in
        the order they were stored; with ``recommendation_ids``, also the answer each came from."""
        stored = self._read_lists("ev:keys")
        seq_rows = sorted((int(seq), row) for seq, _, row in (x.partition(" ") for x in stored))
        rows = [json.loads(row) for _, row in seq_rows]
        columns = [*EVENT_COLUMNS, *([RECOMMENDATION_ID] if recommendation_ids else [])]
        return events_from_rows(pd.DataFrame(rows, columns=columns))

    def append_exposures(self, rows: Iterable[tuple], keep_seconds: float | None = None) -> int:
        """Store answers shown to shoppers (tuples in :data:`EXPOSURE_COLUMNS` order), in one
        round trip, under the customer (else the session) so a forget finds them. With
        ``keep_seconds``, a shopper's list expires that long after their newest exposure
        (Redis drops it; :meth:`exposures_frame` forgets its key)."""
        user, session = EXPOSURE_COLUMNS.index(s.USER_ID), EXPOSURE_COLUMNS.index(s.SESSION_ID)
        n = 0
        with self._redis.pipeline(transaction=False) as pipe:
            for row in rows:
                who = ("user", row[user]) if row[user] is not None else ("session", row[session])
                key = self._key("exp", *who)
                pipe.rpush(key, json.dumps(list(row)))
                if keep_seconds is not None:
                    pipe.expire(key, max(int(keep_seconds), 1))
                pipe.sadd(self._key("exp", "keys"), key)
                if row[user] is not None and row[session] is not None:  # a forget finds the session too
                    pipe.sadd(self._key("sessions", "user", row[user]), row[session])
                n += 1
            pipe.execute()
        return n

    def exposures_frame(self, since: float = 0.0) -> pd.DataFrame:
        """The exposures shown at or after ``since`` (seconds since the epoch), oldest first.
        Reads every exposure list: a report's cost, not a request's."""
        at = EXPOSURE_COLUMNS.index("at")
        rows = [r for r in map(json.loads, self._read_lists("exp:keys")) if r[at] >= since]
        return exposures_from_rows(sorted(rows, key=lambda r: r[at]))

    def update_items(self, items: Iterable[dict]) -> int:
        """Append catalogue updates (a missing or None field keeps the current value)."""
        rows = [json.dumps([i[s.ITEM_ID], i.get(s.TITLE), i.get(s.CATEGORY), i.get(s.PRICE),
                            None if i.get(s.IN_STOCK) is None else int(i[s.IN_STOCK])]) for i in items]
        if rows:
            self._redis.rpush(self._key("item_updates"), *rows)
        return len(rows)

    def compact_item_updates(self) -> int:
        """Not done on Redis (an update's sequence number is its list position): a start
        replays every update; returns 0."""
        return 0

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
        """Put the customer on the forgotten list and delete their events and exposures and
        those of the sessions they were seen in; returns the number of events deleted. One script over
        that customer's keys only: its time grows with their events, not with the store's."""
        return int(self._forget(args=[self.prefix, customer_id]))

    def is_forgotten(self, customer_id: str) -> bool:
        return bool(self._redis.sismember(self._key("forgotten"), customer_id))

    def forgotten_among(self, customer_ids: Iterable[str]) -> set[str]:
        ids = list(customer_ids)
        if not ids:
            return set()
        return {i for i, member in zip(ids, self._redis.smismember(self._key("forgotten"), ids), strict=True)
                if member}

    def forgotten_ids(self) -> set[str]:
        return set(self._redis.smembers(self._key("forgotten")))

    def purchases_since(self, received_after: float) -> pd.Series:
        """Purchase events per item received after a time (seconds since the epoch)."""
        members = self._redis.zrangebyscore(self._key("purchases"), f"({received_after}", "+inf")
        return pd.Series(Counter(m.rsplit("|", 1)[1] for m in members), dtype="float64")
