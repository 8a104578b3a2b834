"""Customer scores computed once per model version and data, and read by every worker.

Scoring every customer (their features, both models' predictions, each prediction's SHAP
drivers) is the part of a worker's start that grows with the customers: LightGBM's
contributions alone take seconds per 10,000 customers. So the scores are a table in the
workspace, ``scores/customers-<key>.parquet``, one row per customer (``customer_id``, the
columns of ``POST /customer`` and each family's drivers), where ``key`` names the churn
and CLTV champions and the orders and events tables they were computed on. The batch step
(``shelfwise score customers``) writes it; a worker that finds it reads it, and one that
does not (models or data changed since) computes it and writes it for the others, holding
a lock meanwhile so two workers starting together score once.

The table is as fresh as the data it was computed on: events the service received after it
count from the next table (new data or champions, or ``shelfwise score customers --refresh``).
It holds customer ids, so erasure rewrites it like every other file in the workspace.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from features.customer_features import EVENT_COLUMNS
from features.workspace import Workspace
from serving.runtime.models import CustomerScorer

log = logging.getLogger("shelfwise")
SCORES = "scores"
FORMAT = "shelfwise-scores-v1"
KEEP = 2  # tables kept: the newest and the one before it (a worker may still be reading it)


def table_key(workspace: Workspace, versions: dict[str, str]) -> str:
    """What the scores depend on: the churn and CLTV versions, and the orders and events
    tables (by size and modification time: hashing their contents took longer than reading
    them)."""
    tables = {}
    for name in ("orders", "events"):
        path = workspace.table_path(name)
        tables[name] = [path.stat().st_size, path.stat().st_mtime_ns] if path.exists() else None
    state = {"format": FORMAT, "churn": versions.get("churn"), "cltv": versions.get("cltv"), **tables}
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def table_path(workspace: Workspace, versions: dict[str, str]) -> Path:
    return workspace.home / SCORES / f"customers-{table_key(workspace, versions)}.parquet"


@contextmanager
def _locked(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def customer_scores(workspace: Workspace, paths: dict[str, Path], versions: dict[str, str],
                    orders: pd.DataFrame, refresh: bool = False) -> tuple[CustomerScorer, bool]:
    """The :class:`CustomerScorer` of these champions (``paths`` and ``versions`` by family)
    on the workspace's data: read from its table when there is one (unless ``refresh``:
    scored again with the live events received since), else scored and written. Returns the
    scorer and whether it was read."""
    path = table_path(workspace, versions)
    with _locked(path.parent):
        if path.exists() and not refresh:
            try:
                table = pd.read_parquet(path).set_index("customer_id")
                return CustomerScorer(paths.get("churn"), paths.get("cltv"), orders, table=table), True
            except (OSError, ValueError, KeyError) as exc:  # unreadable or of another layout: score anew
                log.warning("customer scores %s could not be read (%s); scoring again", path, exc)
        events = workspace.read_events(EVENT_COLUMNS)
        scorer = CustomerScorer(paths.get("churn"), paths.get("cltv"), orders, events)
        write(scorer, path)
        return scorer, False


def write(scorer: CustomerScorer, path: Path) -> None:
    """Write ``scorer``'s table to ``path`` whole (a reader never sees half of it) and remove
    all but the :data:`KEEP` newest tables."""
    tmp = path.with_suffix(".tmp")
    scorer.to_table().rename_axis("customer_id").reset_index().to_parquet(tmp, index=False)
    os.replace(tmp, path)
    tables = sorted(path.parent.glob("customers-*.parquet"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in tables[KEEP:]:
        old.unlink(missing_ok=True)
