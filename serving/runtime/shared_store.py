"""What service replicas on separate machines share, in PostgreSQL.

With ``SHELFWISE_SHARED_STORE_URL=postgresql://user:password@host:5432/db``, every replica
(each with its own workspace on its own disk) and every command keeps here what would
otherwise be files of one workspace:

- the customer score and profile tables (:mod:`serving.runtime.score_table`), one row per
  key with both tables' Parquet bytes: written by the batch step or the first replica that
  scores, read by every other. Scoring a key holds an advisory lock on it, so replicas that
  start together score once;
- the offer decisions (:class:`serving.marketing.offers.DecisionLog`), one row each, so a
  campaign planned through any replica counts against the contact limits of every other;
- erasures: forgetting a customer deletes their decisions and rewrites the score tables
  without their rows, in one transaction, and records that it did (``shelfwise_erasures``),
  so the shared copy is erased once however many replicas hear of the forget.

Live events, item updates, the forgotten list and reload signals are the live store's
(``SHELFWISE_LIVE_STORE_URL``, Redis), models the registry's (MLflow on PostgreSQL and S3).
Without the setting, all of this stays in the workspace's files, shared by one machine's
workers.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS shelfwise_score_tables (
    key text PRIMARY KEY,
    scores bytea NOT NULL,
    profiles bytea NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS shelfwise_offer_decisions (
    id bigserial PRIMARY KEY,
    logged_at timestamptz NOT NULL,
    customer_id text,
    campaign text,
    offer text,
    record jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS shelfwise_offer_decisions_logged_at ON shelfwise_offer_decisions (logged_at);
CREATE TABLE IF NOT EXISTS shelfwise_erasures (
    customer_id text NOT NULL,
    erased_at timestamptz NOT NULL DEFAULT now(),
    removed jsonb NOT NULL);
"""
KEEP = 2  # score tables kept: the newest and the one before it (a replica may still be reading it)


def _lock_id(name: str) -> int:
    """A 63-bit advisory lock id for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1


class ScoreTables:
    """The score and profile tables of one key, over the connection that holds its lock."""

    def __init__(self, conn, key: str):
        self.conn, self.key = conn, key

    def exists(self) -> bool:
        found = self.conn.execute("SELECT 1 FROM shelfwise_score_tables WHERE key = %s", (self.key,))
        return found.fetchone() is not None

    def read(self, kind: str) -> io.BytesIO:
        """The Parquet bytes of ``kind``, ``"scores"`` or ``"profiles"``, one table at a time."""
        column = {"scores": "scores", "profiles": "profiles"}[kind]
        row = self.conn.execute(f"SELECT {column} FROM shelfwise_score_tables WHERE key = %s", (self.key,))
        return io.BytesIO(row.fetchone()[0])

    def write(self, scores: bytes, profiles: bytes) -> None:
        """Write both tables (replacing them) and drop all but the :data:`KEEP` newest keys."""
        with self.conn.transaction():
            self.conn.execute("INSERT INTO shelfwise_score_tables (key, scores, profiles) "
                              "VALUES (%s, %s, %s) ON CONFLICT (key) DO UPDATE SET scores = excluded.scores, "
                              "profiles = excluded.profiles, written_at = now()",
                              (self.key, scores, profiles))
            self.conn.execute("DELETE FROM shelfwise_score_tables WHERE key NOT IN (SELECT key FROM "
                              "shelfwise_score_tables ORDER BY written_at DESC LIMIT %s)", (KEEP,))


class SharedStoreError(RuntimeError):
    """The shared store cannot be reached or used; the message says which URL (no password)."""


class SharedStore:
    """The shared state of :mod:`this module <serving.runtime.shared_store>`, over one
    connection per process (reopened when it breaks) and one more while a key is scored.

    Parameters
    ----------
    url :
        ``postgresql://`` URL of a database the role may create tables in.
    """

    def __init__(self, url: str):
        self.url = url
        self._conn = None
        self._guard = threading.Lock()
        self._ready = False

    def _redacted(self) -> str:
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:  # not even a URL: say so without echoing it
            return "SHELFWISE_SHARED_STORE_URL"

    def _connect(self):
        import psycopg

        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise SharedStoreError(f"the shared store {self._redacted()} cannot be reached: "
                                   f"{str(exc).strip().splitlines()[0]}") from None

    @contextmanager
    def _cursor(self) -> Iterator:
        """A cursor of the process's connection, opened (and the tables created) on first use;
        a connection the server dropped is closed, and the next call opens another."""
        import psycopg

        with self._guard:
            if self._conn is None or self._conn.closed:
                self._conn, self._ready = self._connect(), False
            try:
                if not self._ready:
                    with self._conn.transaction():
                        # Two processes creating the tables at once would collide.
                        self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_id("schema"),))
                        self._conn.execute(SCHEMA)
                    self._ready = True
                with self._conn.cursor() as cur:
                    yield cur
            except psycopg.OperationalError:
                self._conn.close()
                self._conn = None
                raise

    # -- customer score tables ---------------------------------------------------------
    # Tables move on a connection of their own, closed after: libpq keeps the buffer of its
    # largest message for the connection's life (a worker held 0.3 GB more at a million customers).
    @contextmanager
    def scoring(self, key: str) -> Iterator[ScoreTables]:
        """Hold the advisory lock of score tables ``key`` (another process scoring it waits)
        and give the tables' reader and writer."""
        with self._cursor():  # the tables exist
            pass
        with self._connect() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_lock_id(f"scores:{key}"),))
            yield ScoreTables(conn, key)  # closing the connection releases the lock, whatever happened

    def score_table_keys(self) -> list[str]:
        with self._cursor() as cur:
            return [r[0] for r in cur.execute("SELECT key FROM shelfwise_score_tables ORDER BY written_at")]

    # -- offer decisions -------------------------------------------------------------
    def append_decisions(self, records: list[dict]) -> None:
        """Store decisions (each with ``logged_at``, and ``customer_id``, ``campaign`` and
        ``offer`` when it has them)."""
        rows = [(r["logged_at"], r.get("customer_id"), r.get("campaign"), r.get("offer"),
                 json.dumps(r, default=str)) for r in records]
        with self._cursor() as cur:
            cur.executemany("INSERT INTO shelfwise_offer_decisions (logged_at, customer_id, campaign, offer, "
                            "record) VALUES (%s, %s, %s, %s, %s)", rows)

    def campaign_contacts(self, since: datetime, exclude_campaign: str | None, no_offer: str) -> pd.Series:
        """Distinct campaigns per customer among the decisions logged since ``since`` that
        made an offer, leaving out ``exclude_campaign``."""
        with self._cursor() as cur:
            rows = cur.execute(
                "SELECT customer_id, count(DISTINCT campaign) FROM shelfwise_offer_decisions "
                "WHERE campaign IS NOT NULL AND campaign <> '' AND logged_at >= %s "
                "AND offer IS DISTINCT FROM %s AND campaign IS DISTINCT FROM %s GROUP BY customer_id",
                (since, no_offer, exclude_campaign)).fetchall()
        return pd.Series({c: n for c, n in rows}, dtype=int)

    def decisions(self) -> list[dict]:
        """Every decision, oldest first."""
        with self._cursor() as cur:
            return [r[0] for r in cur.execute("SELECT record FROM shelfwise_offer_decisions ORDER BY id")]

    # -- erasure ---------------------------------------------------------------------
    def erase(self, customer_id: str) -> dict[str, int]:
        """Remove ``customer_id`` from the decisions and every score table, in one transaction;
        returns the rows removed by where (nothing when another process erased them first)."""
        from serving.runtime.score_table import without_customer

        removed = {}
        with self._cursor():  # the tables exist
            pass
        # The tables move, so on a connection of their own (see scoring).
        with self._connect() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_id("erase"),))
            # Erased already (nothing of theirs is written after a forget): no tables re-read.
            done = cur.execute("SELECT 1 FROM shelfwise_erasures WHERE customer_id = %s", (customer_id,))
            if done.fetchone():
                return {}
            cur.execute("DELETE FROM shelfwise_offer_decisions WHERE customer_id = %s", (customer_id,))
            removed["shared store: offer decisions"] = cur.rowcount
            tables = cur.execute("SELECT key, scores, profiles FROM shelfwise_score_tables "
                                 "FOR UPDATE").fetchall()
            n = 0
            for key, scores, profiles in tables:
                scores, a = without_customer(scores, customer_id)
                profiles, b = without_customer(profiles, customer_id)
                if a or b:
                    cur.execute("UPDATE shelfwise_score_tables SET scores = %s, profiles = %s WHERE key = %s",
                                (scores, profiles, key))
                    n += a + b
            removed["shared store: score tables"] = n
            if any(removed.values()):
                cur.execute("INSERT INTO shelfwise_erasures (customer_id, removed) VALUES (%s, %s)",
                            (customer_id, json.dumps(removed)))
        return removed

    def erasures(self, customer_id: str) -> list[dict]:
        """The erasures of the shared copy recorded for ``customer_id`` (one, however many
        replicas were told)."""
        with self._cursor() as cur:
            rows = cur.execute("SELECT erased_at, removed FROM shelfwise_erasures WHERE customer_id = %s "
                               "ORDER BY erased_at", (customer_id,)).fetchall()
        return [{"erased_at": at.isoformat(timespec="seconds"), "removed": removed} for at, removed in rows]

    def close(self) -> None:
        with self._guard:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


_STORES: dict[str, SharedStore] = {}
_STORES_GUARD = threading.Lock()


def shared_store(url: str | None) -> SharedStore | None:
    """The process's :class:`SharedStore` of ``url`` (one connection however often asked);
    None without a URL."""
    if not url:
        return None
    with _STORES_GUARD:
        return _STORES.setdefault(url, SharedStore(url))
