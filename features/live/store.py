"""The live store: events and catalogue updates the service receives between trainings.

:class:`LiveStore` is the interface; :class:`features.live.sqlite_store.SQLiteLiveStore`
(one machine's workers share a file in the workspace) and
:class:`features.live.redis_store.RedisLiveStore` (several machines) implement it side by
side, and :meth:`features.workspace.Workspace.live_store` picks one. The storefront reads a
shopper's live state through it on every request; training reads its events back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from features import schema as s

log = logging.getLogger("shelfwise")
# What a nanosecond timestamp, as every workspace table holds them, can represent.
NS_RANGE = (pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC"))

EVENT_COLUMNS = (s.EVENT_ID, s.USER_ID, s.SESSION_ID, s.ITEM_ID, s.EVENT_TYPE, s.TIMESTAMP,
                 s.PRICE, s.QUANTITY)
ITEM_COLUMNS = (s.ITEM_ID, s.TITLE, s.CATEGORY, s.PRICE, s.IN_STOCK)
RECOMMENDATION_ID = "recommendation_id"
# The signal that makes every service worker check the registry within a second
# (POST /admin/reload, and `shelfwise experiments start|stop`).
RELOAD_SIGNAL = "reload"
# One answer shown to a shopper (features.experiments.attribution): what was shown (item ids,
# or the offer's name, as a JSON array), by which endpoint, variant and model, to whom, when
# (seconds since the epoch), how long it took (ms) and its HTTP status (an answer that failed
# is kept, with nothing shown, for the A/B tests' guardrails).
EXPOSURE_COLUMNS = (RECOMMENDATION_ID, "endpoint", "variant", "model_version", s.USER_ID, s.SESSION_ID,
                    "items", "at", "ms", "status")

@dataclass(frozen=True)
class Shopper:
    """One shopper's live state as a request reads it (:meth:`LiveStore.shopper`). Equal
    snapshots give equal storefront answers, so it keys cached answers."""

    forgotten: bool  # the customer asked to be forgotten
    recent: tuple[tuple[str, str], ...]  # (item_id, event_type), newest first
    item_update: int  # sequence number of the newest catalogue update


class LiveStore(Protocol):
    """What the service and training ask of a live store."""

    def append_events(self, events: Iterable[dict]) -> int:
        """Store events (dicts keyed by :data:`EVENT_COLUMNS`); an already stored ``event_id`` is
        skipped, so a client may retry a batch. Returns how many were new."""

    def recent_events(self, user_id: str | None = None, session_id: str | None = None,
                      limit: int = 50) -> list[tuple[str, str]]:
        """The newest ``limit`` events of a customer (else a session), newest first."""

    def shopper(self, user_id: str | None = None, session_id: str | None = None, limit: int = 50) -> Shopper:
        """Forgotten or not, the newest events and the newest item update, in one read."""

    def events_frame(self, recommendation_ids: bool = False) -> pd.DataFrame:
        """Every stored event in the canonical ``events`` schema; with ``recommendation_ids``,
        also the id of the answer each came from (None for most)."""

    def append_exposures(self, rows: Iterable[tuple], keep_seconds: float | None = None) -> int:
        """Store answers shown to shoppers, tuples in :data:`EXPOSURE_COLUMNS` order; with
        ``keep_seconds``, exposures older than that are dropped from time to time."""

    def exposures_frame(self, since: float = 0.0) -> pd.DataFrame:
        """The exposures shown at or after ``since`` (seconds since the epoch), oldest first."""

    def update_items(self, items: Iterable[dict]) -> int:
        """Append catalogue updates (a missing or None field keeps the current value)."""

    def compact_item_updates(self) -> int:
        """Fold each item's updates into one (where the store can); rows removed."""

    def last_item_update(self) -> int:
        """Sequence number of the newest item update (0: none)."""

    def item_updates_after(self, seq: int) -> list[tuple]:
        """Updates newer than ``seq``, oldest first, as ``(seq, *ITEM_COLUMNS)``."""

    def send_signal(self, name: str) -> int:
        """Count one more ``name`` signal, seen by every process; the new count."""

    def signal_count(self, name: str) -> int:
        """How many ``name`` signals were sent."""

    def forget_customer(self, customer_id: str) -> int:
        """Put the customer on the forgotten list and delete their events and exposures and
        their sessions'."""

    def is_forgotten(self, customer_id: str) -> bool:
        """Whether the customer was forgotten (cheap enough to ask per request)."""

    def forgotten_among(self, customer_ids: Iterable[str]) -> set[str]:
        """Those of ``customer_ids`` on the forgotten list, looked up by id: the cost grows
        with the ids asked about, not with the list."""

    def forgotten_ids(self) -> set[str]:
        """Every forgotten customer id."""

    def purchases_since(self, received_after: float) -> pd.Series:
        """Purchase events per item received after a time (seconds since the epoch)."""


def events_from_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Stored event rows (timestamps as ISO text) in the canonical ``events`` schema."""
    # Stored as naive UTC; utc=True also reads any row written with an offset.
    stamps = pd.to_datetime(frame[s.TIMESTAMP], format="ISO8601", utc=True, errors="coerce")
    ok = stamps.notna() & stamps.between(NS_RANGE[0], NS_RANGE[1])
    if not ok.all():  # outside 1677-2262, stored before the API checked dates: skip, say so
        bad = frame.loc[~ok, s.EVENT_ID].tolist()
        log.warning("%d stored events have a timestamp outside 1677-2262 and are left out: %s",
                    len(bad), bad[:10])
        frame, stamps = frame.loc[ok].reset_index(drop=True), stamps[ok].reset_index(drop=True)
    frame[s.TIMESTAMP] = stamps.astype("datetime64[ns, UTC]").dt.tz_localize(None)
    frame[s.SIMULATED] = False
    if RECOMMENDATION_ID in frame:  # missing reads back as None from either store
        ids = frame[RECOMMENDATION_ID].astype(object)
        frame[RECOMMENDATION_ID] = ids.where(ids.notna(), None)
    for col in (s.PRICE, s.QUANTITY):
        frame[col] = frame[col].astype(float)
    return frame


def naive_utc(value) -> pd.Timestamp:
    """Workspace tables hold naive timestamps; a zone-aware one is converted to UTC first."""
    ts = pd.Timestamp(value)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def exposures_from_rows(rows: list) -> pd.DataFrame:
    """Stored exposure rows (in :data:`EXPOSURE_COLUMNS` order) as a frame, ``at`` a float."""
    frame = pd.DataFrame(rows, columns=list(EXPOSURE_COLUMNS))
    frame["at"] = frame["at"].astype(float)
    frame["ms"] = frame["ms"].astype(float)
    frame["status"] = frame["status"].fillna(200).astype(int)
    return frame
