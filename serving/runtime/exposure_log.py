"""The answers a worker showed, written to the live store's exposure log off the request path.

Every answer that shows items or an offer carries a ``recommendation_id``; the shopper's
clicks and purchases that came from it are posted with that id, and
:mod:`features.experiments.attribution` ties them together. Writing each exposure as the
answer leaves would put a write (SQLite's lock, or a Redis round trip) on every storefront
request, so a worker keeps them in memory and a background thread writes them in one batch
every :data:`FLUSH_SECONDS`. The cost is what a crash loses: the exposures of the last
fraction of a second, never an answer or an event.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import os
import threading
import time
from collections import deque

log = logging.getLogger("shelfwise")

FLUSH_SECONDS = 0.25
MAX_BUFFERED = 200_000  # per worker: beyond this (a store down for minutes) the oldest are dropped


def _reseed() -> None:
    global _prefix, _counter
    _prefix, _counter = os.urandom(8).hex(), itertools.count()


_reseed()
os.register_at_fork(after_in_child=_reseed)


def new_recommendation_id() -> str:
    """32 hex digits, unique: this process's random 64 bits, then a counter; cheaper on the
    hot path than ``uuid4()`` (docs/benchmarks.md, "Exposure logging")."""
    return f"{_prefix}{next(_counter):016x}"


def items_json(ids: list[str]) -> str:
    """Item ids (or an offer's name) as the exposure log stores them: a JSON array."""
    return json.dumps(ids, separators=(",", ":")) if ids else "[]"


class ExposureLog:
    """Buffers exposures and writes them to ``store`` (:meth:`append_exposures`) in batches.

    :meth:`shown` is cheap enough for the hot path: a tuple appended to a deque. What was shown
    is given as :func:`items_json` wrote it, so that an answer served again from the cache
    (:mod:`serving.storefront.answers`) carries its items already written.
    """

    def __init__(self, store, flush_seconds: float = FLUSH_SECONDS, max_buffered: int = MAX_BUFFERED,
                 clock=time.time, enabled: bool = True, keep_days: float = 0.0):
        self.store, self.flush_seconds, self.clock, self.enabled = store, flush_seconds, clock, enabled
        self.keep_seconds = keep_days * 86400 if keep_days else None
        self._pending: deque[tuple] = deque(maxlen=max_buffered)
        self._lock = threading.Lock()  # one writer at a time: the thread, or flush() at exit
        self.written = self.dropped = 0
        self._stop = threading.Event()
        if enabled:  # switched off, nothing is ever buffered: no writer thread
            threading.Thread(target=self._run, daemon=True, name="exposure-log").start()
            atexit.register(self.close)

    def shown(self, endpoint: str, variant: str, model_version: str | None, user_id: str | None,
              session_id: str | None, shown: str, recommendation_id: str,
              ms: float | None = None, status: int = 200) -> None:
        """Record one answer: ``shown`` is the item ids (or the offer's name) in order, from
        :func:`items_json`; ``ms`` how long it took. A failed answer (``status`` 500, nothing
        shown) is recorded too."""
        if not self.enabled:
            return
        if len(self._pending) == self._pending.maxlen:
            self.dropped += 1
        self._pending.append((recommendation_id, endpoint, variant, model_version, user_id, session_id, shown,
                              self.clock(), ms, status))

    def flush(self) -> int:
        """Write what is buffered now; returns how many exposures were written (answers that
        showed nothing are not, failed ones are)."""
        with self._lock:
            batch = []
            while self._pending:
                batch.append(self._pending.popleft())
            rows = [row for row in batch if row[6] != "[]" or row[9] != 200]
            try:
                # A customer forgotten since they were shown it: asked about by id, as the
                # forgotten list grows with the shop's erasures.
                if forgotten := self.store.forgotten_among({row[4] for row in rows if row[4] is not None}):
                    rows = [row for row in rows if row[4] not in forgotten]
                if rows:
                    self.store.append_exposures(rows, self.keep_seconds)
            except Exception:  # the store is down: keep them for the next try
                self._pending.extendleft(reversed(batch))
                raise
            self.written += len(rows)
            # An erasure that ran between the check and the write missed these rows: asked
            # again after it, such a customer is forgotten again (a forget is idempotent).
            for customer_id in self.store.forgotten_among({row[4] for row in rows if row[4] is not None}):
                self.store.forget_customer(customer_id)
            return len(rows)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception as exc:
                log.warning("writing %d exposures to the live store failed, retrying: %s",
                            len(self._pending), exc)

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        try:
            self.flush()
        except Exception as exc:
            log.warning("%d exposures could not be written at exit: %s", len(self._pending), exc)

