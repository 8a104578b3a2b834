"""The live store on SQLite: one file in the workspace (``live.sqlite``) shared by one
machine's service workers.

WAL mode lets every worker process append and read concurrently: an event accepted by one
worker is visible to the next query of any other, and it survives a restart. Training reads
the events back (:meth:`SQLiteLiveStore.events_frame`, merged by
:meth:`features.workspace.Workspace.read_events`), so the next run learns from them.
"""

from __future__ import annotations

import functools
import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE, user_id TEXT, session_id TEXT, item_id TEXT NOT NULL,
    event_type TEXT NOT NULL, timestamp TEXT NOT NULL, price REAL, quantity REAL,
    received_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_user ON events (user_id, seq);
CREATE INDEX IF NOT EXISTS events_by_session ON events (session_id, seq);
CREATE TABLE IF NOT EXISTS item_updates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id TEXT NOT NULL, title TEXT, category TEXT, price REAL, in_stock INTEGER,
    received_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS signals (name TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS forgotten (customer_id TEXT PRIMARY KEY, at REAL NOT NULL);
"""
# Exposures are written for every answer shown, so they live in a file of their own (attached
# as "x"): its write-ahead log grows and is checkpointed without the readers of events, which
# every request makes, looking through it. The table has no index: an index on the shopper
# put a write at a random page into every row's insert and tripled its cost
# (docs/benchmarks.md, "Exposure logging"), while rows arrive in time order, which reports
# and the hourly prune read in order, and a forget scans them.
_EXPOSURES = """
CREATE TABLE IF NOT EXISTS x.exposures (
    recommendation_id TEXT NOT NULL, endpoint TEXT NOT NULL, variant TEXT NOT NULL,
    model_version TEXT, user_id TEXT, session_id TEXT, items TEXT NOT NULL, at REAL NOT NULL, ms REAL,
    status INTEGER NOT NULL DEFAULT 200);
"""
_CHUNK = 512  # rows per INSERT at most: 5,120 parameters, within SQLite's 32,766
PRUNE_SECONDS = 3600.0  # how often a connection drops exposures past their keep time


@functools.cache
def _insert_exposures(rows: int) -> str:
    one = f"({', '.join('?' * len(EXPOSURE_COLUMNS))})"
    return f"INSERT INTO x.exposures ({', '.join(EXPOSURE_COLUMNS)}) VALUES {', '.join([one] * rows)}"


# Columns added after a store's first version: added to an older file when it is opened.
_ADDED_COLUMNS = {"events": {RECOMMENDATION_ID: "TEXT"}}


def _use_wal(conn: sqlite3.Connection, schema: str = "main", wait_seconds: float = 10.0) -> None:
    """Switch the file to write-ahead logging (readers never wait for the writer).

    The mode is stored in the file, so this changes something only for a new file. Switching
    needs a moment alone with it and SQLite answers "database is locked" at once, without
    waiting, when another process is switching too: the service's workers all open a new
    store at the same moment on a fresh workspace. So wait and retry.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            if conn.execute(f"PRAGMA {schema}.journal_mode").fetchone()[0] != "wal":
                conn.execute(f"PRAGMA {schema}.journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


# LiveStore.shopper's query, by the column that names the shopper: one row, their events as
# a JSON array (half the time of a join). SQLite 3.40 cannot order an aggregate, so each
# event carries its sequence number and the caller sorts.
_SHOPPER = {column: "SELECT (SELECT COALESCE(MAX(seq), 0) FROM item_updates), "
                    "EXISTS (SELECT 1 FROM forgotten WHERE customer_id = ?), "
                    "(SELECT json_group_array(json_array(seq, item_id, event_type)) FROM (SELECT seq, "
                    f"item_id, event_type FROM events WHERE {column} = ? ORDER BY seq DESC LIMIT ?))"
            for column in (s.USER_ID, s.SESSION_ID)}


class SQLiteLiveStore:
    """Append-only events and item updates in one SQLite file shared by processes.

    A connection per thread: SQLite connections may not cross threads, and the service
    answers from a thread pool.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.exposures_path = self.path.with_name(f"{self.path.stem}-exposures{self.path.suffix}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as c:
            c.executescript(_SCHEMA + _EXPOSURES)
            for table, columns in _ADDED_COLUMNS.items():
                have = {row[1] for row in c.execute(f"PRAGMA table_info({table})")}
                for name, kind in columns.items():
                    if name not in have:
                        try:
                            c.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                        except sqlite3.OperationalError as exc:  # another worker added it first
                            if "duplicate column" not in str(exc):
                                raise

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            conn.execute("ATTACH DATABASE ? AS x", (str(self.exposures_path),))
            for schema in ("main", "x"):
                _use_wal(conn, schema)
                # NORMAL keeps every commit durable against a process crash (WAL), not against
                # power loss mid-checkpoint; FULL would fsync each event.
                conn.execute(f"PRAGMA {schema}.synchronous=NORMAL")
                # Deleted rows (a forgotten customer's events) are overwritten, not left in free pages.
                conn.execute(f"PRAGMA {schema}.secure_delete=ON")
            self._local.conn = conn
        return conn

    def append_events(self, events: Iterable[dict]) -> int:
        """Store events (dicts keyed by :data:`EVENT_COLUMNS`); an already stored
        ``event_id`` is skipped, so a client may retry a batch. Returns how many were new."""
        now = time.time()
        rows = [(e[s.EVENT_ID], e.get(s.USER_ID), e.get(s.SESSION_ID), e[s.ITEM_ID], e[s.EVENT_TYPE],
                 naive_utc(e[s.TIMESTAMP]).isoformat(), e.get(s.PRICE), e.get(s.QUANTITY), now,
                 e.get(RECOMMENDATION_ID)) for e in events]
        conn = self._conn()
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO events (event_id, user_id, session_id, item_id, event_type, "
                "timestamp, price, quantity, received_at, recommendation_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            return conn.total_changes - before

    def recent_events(self, user_id: str | None = None, session_id: str | None = None,
                      limit: int = 50) -> list[tuple[str, str]]:
        """The newest ``limit`` events of a customer (``user_id`` when given) or else an
        anonymous session, newest first, as ``(item_id, event_type)``."""
        column, key = (s.USER_ID, user_id) if user_id is not None else (s.SESSION_ID, session_id)
        if key is None:
            return []
        return self._conn().execute(
            f"SELECT item_id, event_type FROM events WHERE {column} = ? "
            "ORDER BY seq DESC LIMIT ?", (key, limit)).fetchall()

    def shopper(self, user_id: str | None = None, session_id: str | None = None,
                limit: int = 50) -> Shopper:
        """What a storefront answer reads from the live store, in one query: whether the
        customer is forgotten, their (else the session's) newest ``limit`` events as
        :meth:`recent_events` gives them, and :meth:`last_item_update`."""
        column, key = (s.USER_ID, user_id) if user_id is not None else (s.SESSION_ID, session_id)
        item_update, forgotten, events = self._conn().execute(
            _SHOPPER[column], (user_id, key, limit)).fetchone()
        recent = () if events == "[]" else tuple((item, kind) for _, item, kind in sorted(json.loads(events),
                                                                                           reverse=True))
        return Shopper(forgotten=bool(forgotten), recent=recent, item_update=item_update)

    def events_frame(self, recommendation_ids: bool = False) -> pd.DataFrame:
        """Every stored event in the canonical ``events`` schema (``simulated`` false); with
        ``recommendation_ids``, also the answer each came from."""
        columns = [*EVENT_COLUMNS, *([RECOMMENDATION_ID] if recommendation_ids else [])]
        return events_from_rows(pd.read_sql_query(
            f"SELECT {', '.join(columns)} FROM events ORDER BY seq", self._conn()))

    def append_exposures(self, rows: Iterable[tuple], keep_seconds: float | None = None) -> int:
        """Store answers shown to shoppers (tuples in :data:`EXPOSURE_COLUMNS` order), in one
        transaction; returns how many. With ``keep_seconds``, at most once an hour per
        connection, the exposures older than that are deleted in the same transaction."""
        rows = list(rows)
        conn = self._conn()
        now = time.time()
        prune = keep_seconds is not None and now - getattr(self._local, "pruned", 0.0) > PRUNE_SECONDS
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            # Rows in statements of many rows (sizes halving from 512, so each statement is
            # prepared once) rather than executemany, which lets go of the GIL and takes it
            # back at every row: the writer shares the worker's interpreter, and each take
            # waits for the requests' thread to let go.
            done, size = 0, _CHUNK
            while done < len(rows):
                while size > len(rows) - done:
                    size //= 2
                values = list(itertools.chain.from_iterable(rows[done:done + size]))
                conn.execute(_insert_exposures(size), values)
                done += size
            if prune:
                conn.execute("DELETE FROM x.exposures WHERE at < ?", (now - keep_seconds,))
                self._local.pruned = now
        return len(rows)

    def exposures_frame(self, since: float = 0.0) -> pd.DataFrame:
        """The exposures shown at or after ``since`` (seconds since the epoch), oldest first."""
        rows = self._conn().execute(f"SELECT {', '.join(EXPOSURE_COLUMNS)} FROM x.exposures WHERE at >= ? "
                                    "ORDER BY at, rowid", (since,)).fetchall()
        return exposures_from_rows(rows)

    def update_items(self, items: Iterable[dict]) -> int:
        """Append catalogue updates (dicts keyed by :data:`ITEM_COLUMNS`; a missing or None
        field keeps the item's current value). Returns the number stored."""
        now = time.time()
        rows = [(i[s.ITEM_ID], i.get(s.TITLE), i.get(s.CATEGORY), i.get(s.PRICE),
                 None if i.get(s.IN_STOCK) is None else int(i[s.IN_STOCK]), now) for i in items]
        conn = self._conn()
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO item_updates (item_id, title, category, price, in_stock, "
                             "received_at) VALUES (?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def compact_item_updates(self) -> int:
        """Fold each item's updates into its newest row and delete the older rows, so a start
        replays one row per updated item; returns the rows deleted.

        A kept row's empty fields take the newest older value, and its sequence number stays:
        a worker that has applied some of an item's updates and applies the rest reaches the
        same state as before.
        """
        conn = self._conn()
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute("SELECT seq, item_id, title, category, price, in_stock FROM item_updates "
                                "ORDER BY seq").fetchall()
            newest: dict[str, tuple] = {}
            for seq, item_id, *fields in rows:
                before = newest.get(item_id)
                if before is not None:
                    fields = [f if f is not None else b for f, b in zip(fields, before[1:], strict=True)]
                newest[item_id] = (seq, *fields)
            if len(newest) == len(rows):
                return 0
            kept = {row[0] for row in newest.values()}
            conn.executemany("UPDATE item_updates SET title = ?, category = ?, price = ?, in_stock = ? "
                             "WHERE seq = ?", [(*row[1:], row[0]) for row in newest.values()])
            conn.executemany("DELETE FROM item_updates WHERE seq = ?",
                             [(row[0],) for row in rows if row[0] not in kept])
            return len(rows) - len(kept)

    def last_item_update(self) -> int:
        """Sequence number of the newest item update (0: none); cheap enough to ask per request."""
        return self._conn().execute("SELECT COALESCE(MAX(seq), 0) FROM item_updates").fetchone()[0]

    def item_updates_after(self, seq: int) -> list[tuple]:
        """Updates newer than ``seq``, oldest first, as ``(seq, *ITEM_COLUMNS)``."""
        return self._conn().execute(
            "SELECT seq, item_id, title, category, price, in_stock FROM item_updates WHERE seq > ? "
            "ORDER BY seq", (seq,)).fetchall()

    def send_signal(self, name: str) -> int:
        """Count one more ``name`` signal (for example "reload"), seen by every process
        that polls :meth:`signal_count`; returns the new count."""
        conn = self._conn()
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO signals VALUES (?, 1) ON CONFLICT (name) DO UPDATE "
                         "SET count = count + 1", (name,))
            return self.signal_count(name)

    def signal_count(self, name: str) -> int:
        row = self._conn().execute("SELECT count FROM signals WHERE name = ?", (name,)).fetchone()
        return row[0] if row else 0

    def forget_customer(self, customer_id: str) -> int:
        """Put the customer on the forgotten list and delete their events and exposures and
        those of the sessions they were seen in; returns the number of events deleted."""
        conn = self._conn()
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR IGNORE INTO forgotten VALUES (?, ?)", (customer_id, time.time()))
            sessions = [(r[0],) for r in conn.execute(
                "SELECT session_id FROM events WHERE user_id = ? AND session_id IS NOT NULL UNION "
                "SELECT session_id FROM x.exposures WHERE user_id = ? AND session_id IS NOT NULL",
                (customer_id, customer_id))]
            # One pass over the exposures (no index): theirs and their sessions'.
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS forget_sessions (session_id TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM forget_sessions")
            conn.executemany("INSERT OR IGNORE INTO forget_sessions VALUES (?)", sessions)
            conn.execute("DELETE FROM x.exposures WHERE user_id = ? OR session_id IN forget_sessions",
                         (customer_id,))
            before = conn.total_changes
            conn.execute("DELETE FROM events WHERE user_id = ?", (customer_id,))
            conn.executemany("DELETE FROM events WHERE session_id = ?", sessions)
            removed = conn.total_changes - before
        # The write-ahead log still holds the pages as they were: copy the new ones into the
        # database and empty the log (a reader busy now may delay it to the next checkpoint).
        conn.execute("PRAGMA main.wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA x.wal_checkpoint(TRUNCATE)")
        return removed

    def is_forgotten(self, customer_id: str) -> bool:
        """Cheap enough to ask per request (a primary-key lookup)."""
        return self._conn().execute("SELECT 1 FROM forgotten WHERE customer_id = ?",
                                    (customer_id,)).fetchone() is not None

    def forgotten_among(self, customer_ids: Iterable[str]) -> set[str]:
        ids, found = list(customer_ids), set()
        for start in range(0, len(ids), _CHUNK):  # within SQLite's limit on parameters
            part = ids[start:start + _CHUNK]
            marks = ", ".join("?" * len(part))
            found.update(r[0] for r in self._conn().execute(
                f"SELECT customer_id FROM forgotten WHERE customer_id IN ({marks})", part))
        return found

    def forgotten_ids(self) -> set[str]:
        return {r[0] for r in self._conn().execute("SELECT customer_id FROM forgotten")}

    def purchases_since(self, received_after: float) -> pd.Series:
        """Purchase events per item received after a time (seconds since the epoch)."""
        rows = self._conn().execute(
            "SELECT item_id, COUNT(*) FROM events WHERE event_type = 'purchase' AND received_at > ? "
            "GROUP BY item_id", (received_after,)).fetchall()
        return pd.Series(dict(rows), dtype=np.float64)


