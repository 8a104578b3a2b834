"""Whole ``/recommend`` answers, kept per worker and served again while nothing they were
computed from has changed.

An answer is a function of the request, the served models and the shopper's live state
(:class:`features.live.store.Shopper`: their newest events, the catalogue's newest update,
whether they were forgotten), and, when the page reached them, of the trending and popular
lists, which are recomputed every few seconds. So an entry holds the shopper snapshot it was
computed with and an expiry: it is served only to the same request with an equal snapshot
before the expiry. Any event of the shopper or catalogue update changes the snapshot, so the
next request computes afresh, as it would without the cache. What the cache saves is the
ranking, the rules and the serialization of a repeated request (a shopper paging back, a
storefront asking twice per page view): under load those cost about as much worker time as
the framework's own handling of the request (docs/benchmarks.md, "Serving").
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable

from features.live.store import Shopper

MAX_BYTES = 32 * 1024 * 1024  # per worker; least recently used answers go first


class AnswerCache:
    """Serialized answers by request, least recently used out first when ``max_bytes`` is
    reached. Not thread-safe: the storefront's lists run on the worker's event loop."""

    def __init__(self, max_bytes: int = MAX_BYTES, clock=time.monotonic):
        self.max_bytes, self.clock = max_bytes, clock
        self.size = 0
        self._entries: OrderedDict[Hashable, tuple[Shopper, float, bytes, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, shopper: Shopper) -> tuple[bytes, str] | None:
        """The answer stored for ``key`` and the items it shows (as the exposure log writes
        them), if it was computed from an equal snapshot and has not expired."""
        entry = self._entries.get(key)
        if entry is None or entry[0] != shopper or self.clock() >= entry[1]:
            return None
        self._entries.move_to_end(key)
        return entry[2], entry[3]

    def put(self, key: Hashable, shopper: Shopper, body: bytes, valid_until: float, shown: str = "") -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= len(old[2]) + len(old[3])
        size = len(body) + len(shown)
        if size > self.max_bytes:
            return
        self._entries[key] = (shopper, valid_until, body, shown)
        self.size += size
        while self.size > self.max_bytes:
            _, (_, _, dropped, dropped_shown) = self._entries.popitem(last=False)
            self.size -= len(dropped) + len(dropped_shown)
