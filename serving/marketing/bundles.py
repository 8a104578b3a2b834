"""Cross-sell bundles of every customer the recommender knows, computed once per recommender
and bundle size and kept in the workspace.

The cross-sell offer's value needs each eligible customer's bundle
(:meth:`serving.runtime.models.BlendedRuntime.cross_sell`): sparse products over the whole
history, a minute or more per million customers. Computed at every worker start, that was
most of a large shop's start-up. So the bundles of every customer in the recommender's
history are a file, ``scores/bundles-<key>.npz`` (``indptr`` and ``items``, the recommender's
rows and columns, as ``cross_sell`` returns them), where ``key`` names the recommender's files
(the digest of their checksums) and the bundle size. The batch step (``shelfwise score customers``) writes it
for the catalogue's cross-sell offers; a worker that finds it reads it, and one that does not
computes it and writes it for the others, under the score tables' lock. A customer's bundle
depends on their own row alone, so the bundles of all customers, sliced, are those computed
for the eligible ones.

The file holds no customer ids (they are the recommender's rows), like the model files. It is
always the workspace's, also where the score tables are a shared store's: replicas with their
own disks each compute it once per recommender, at their first start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from features.workspace import Workspace
from serving.runtime.models import BlendedRuntime
from serving.runtime.score_table import KEEP, SCORES, locked, prune

log = logging.getLogger("shelfwise")
FORMAT = "shelfwise-bundles-v1"


@dataclass(frozen=True)
class Bundles:
    """Every recommender row's bundle: row ``r``'s items are ``items[indptr[r]:indptr[r + 1]]``."""

    indptr: np.ndarray
    items: np.ndarray

    @classmethod
    def compute(cls, recs: BlendedRuntime, size: int) -> Bundles:
        return cls(*recs.cross_sell(np.arange(len(recs.history.users)), size))

    def rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The bundles of ``rows`` alone, as :meth:`BlendedRuntime.cross_sell` of them returns."""
        counts = np.diff(self.indptr)[rows]
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        at = np.repeat(self.indptr[rows] - indptr[:-1], counts) + np.arange(indptr[-1])
        return indptr, self.items[at]


def bundle_key(recs: BlendedRuntime, size: int) -> str:
    """What the bundles depend on: the recommender's files and the bundle size."""
    state = json.dumps({"format": FORMAT, "recs": recs.digest, "size": size})
    return hashlib.sha256(state.encode()).hexdigest()[:16]


def cross_sell_bundles(workspace: Workspace, recs: BlendedRuntime, size: int) -> Bundles:
    """The bundles of ``size`` items of every customer ``recs`` knows: read from the workspace,
    or computed and written for the other workers (and for the next start)."""
    path = workspace.home / SCORES / f"bundles-{bundle_key(recs, size)}.npz"
    with locked(path.parent):
        if path.exists():
            try:
                with np.load(path) as f:
                    return Bundles(f["indptr"], f["items"])
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # unreadable: compute again
                log.warning("cross-sell bundles %s could not be read (%s); computing them again", path, exc)
        bundles = Bundles.compute(recs, size)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, indptr=bundles.indptr, items=bundles.items)
        os.replace(tmp, path)  # a reader sees the whole file or none
        # A size or two per recommender: the served one's and the one's before it.
        prune(path.parent, "bundles-*.npz", 2 * KEEP)
        return bundles


def bundles_in(workspace: Workspace, recs: BlendedRuntime | None) -> Callable[[int], Bundles] | None:
    """The bundles of a size, as :class:`serving.marketing.offers.OfferPolicy` asks for them."""
    return None if recs is None else (lambda size: cross_sell_bundles(workspace, recs, size))
