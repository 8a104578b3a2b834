"""The shop's rules over any ranked list: what may be shown, how many per category, paging.

Every endpoint that answers with items builds one or more ranked *streams* (personal,
similar to recent views, trending, popular, ...) and hands them to :func:`select`, which
walks them in order, skips what the rules forbid or an earlier stream already gave, caps
items per category and returns one page. The fallbacks are simply later streams, which is
why an answer is filled to ``k`` whenever the catalogue allows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Stream:
    """Catalogue positions best first, their scores, and the name shown as each item's source."""

    source: str
    items: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class Rules:
    """What a request allows. Positions refer to the service's catalogue.

    ``categories`` empty means any category; a price bound leaves out items whose price is
    unknown; ``max_per_category`` does not count items without a category (this retailer's
    data has none), so it never starves a list.
    """

    exclude: frozenset[int] = frozenset()
    categories: frozenset[str] = frozenset()
    in_stock_only: bool = True
    min_price: float | None = None
    max_price: float | None = None
    max_per_category: int | None = None
    offset: int = 0


@dataclass
class Picked:
    item: int
    score: float
    source: str


@dataclass
class CatalogueView:
    """The arrays :func:`allowed` needs, indexed by catalogue position."""

    category: np.ndarray  # object array of str ("" = none)
    price: np.ndarray  # float, NaN = unknown
    in_stock: np.ndarray  # bool


def allowed(view: CatalogueView, rules: Rules) -> np.ndarray:
    """Boolean mask of the catalogue positions the rules allow."""
    ok = np.ones(len(view.price), dtype=bool)
    if rules.in_stock_only:
        ok &= view.in_stock
    if rules.categories:
        ok &= np.isin(view.category, list(rules.categories))
    if rules.min_price is not None:
        ok &= view.price >= rules.min_price  # NaN compares False: unknown prices drop out
    if rules.max_price is not None:
        ok &= view.price <= rules.max_price
    if rules.exclude:
        ok[list(rules.exclude)] = False
    return ok


def select(streams: list[Stream], ok: np.ndarray, category: np.ndarray, k: int,
           rules: Rules) -> list[Picked]:
    """The page ``[offset, offset + k)`` of the streams' items, in stream order.

    An item appears once (the first stream that offers it names its source); items ``ok``
    forbids are skipped; at most ``rules.max_per_category`` items share a category.
    """
    want = rules.offset + k
    taken: set[int] = set()  # a set, not a mask: a page takes a few dozen items of thousands
    per_category: dict[str, int] = {}
    out: list[Picked] = []
    for stream in streams:
        # Long streams (trending and popular rank the whole catalogue) are read a slice at a
        # time, doubling: a page usually fills within the first few dozen items, and masking
        # and converting thousands of items cost a tenth of a worker's time under load.
        start, size = 0, max(2 * want, 32)
        while start < len(stream.items):
            items, scores = stream.items[start:start + size], stream.scores[start:start + size]
            start, size = start + size, 2 * size
            keep = ok[items]
            for item, score in zip(items[keep].tolist(), scores[keep].tolist(), strict=True):
                if item in taken:  # an earlier stream gave it, or this one repeats it
                    continue
                if rules.max_per_category is not None and (cat := category[item]):
                    if per_category.get(cat, 0) >= rules.max_per_category:
                        continue
                    per_category[cat] = per_category.get(cat, 0) + 1
                taken.add(item)
                out.append(Picked(item, score, stream.source))
                if len(out) == want:
                    return out[rules.offset:]
    return out[rules.offset:]


def interleave(primary: Stream, secondary: Stream, n_secondary: int) -> list[Stream]:
    """``primary`` with the first ``n_secondary`` items of ``secondary`` at every other
    position from the second on (P S P S ... P P P), keeping each item's source. Used to mix
    "similar to what you just viewed" into a personal list."""
    n = min(n_secondary, len(secondary.items))
    out: list[Stream] = []
    for j in range(n):
        out.append(Stream(primary.source, primary.items[j:j + 1], primary.scores[j:j + 1]))
        out.append(Stream(secondary.source, secondary.items[j:j + 1], secondary.scores[j:j + 1]))
    out.append(Stream(primary.source, primary.items[n:], primary.scores[n:]))
    return out
