"""``shelfwise retrain``'s parts: the run lock, the inbox, merging new orders, the summary.

A retrain ingests the files waiting in the workspace's inbox, rebuilds features, retrains
every family and promotes only the versions that beat their champion on the same test
window (``training.jobs``). It is meant for cron, so two runs never overlap (an exclusive
lock on a file in the workspace), and the aliases are set only after every family has
trained: a run that fails part-way leaves every champion as it was.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from features import schema as s
from training.jobs.feasibility import DEFAULT_HORIZON_DAYS, RECS_TEST_DAYS, data_end

INBOX_SUFFIXES = (".csv", ".parquet", ".xlsx", ".txt")
EXIT_LOCKED = 75  # EX_TEMPFAIL: "try again later", which is what a cron wrapper should do
FAMILIES = ("recs", "churn", "cltv")
# Days of data each family keeps for its test window; the model learns from everything before.
# Each family tests on the last window the data covers: the recommenders on 90 days, churn
# and CLTV on their default horizon (training/jobs/feasibility.py).
TEST_DAYS = {"recs": RECS_TEST_DAYS, **DEFAULT_HORIZON_DAYS}


class Locked(RuntimeError):
    """Another retrain holds the workspace's lock."""


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``path`` for the block; raise :class:`Locked` if
    another process holds it. The OS releases it if the process dies, so a crash leaves no
    stale lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "holder unknown"
            raise Locked(f"another `shelfwise retrain` is running ({holder}; lock {path})") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}, started {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n")
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)


def inbox_files(inbox: Path) -> list[Path]:
    """Data files waiting in ``inbox`` (not in its sub-folders), oldest name first."""
    if not inbox.is_dir():
        return []
    return sorted(p for p in inbox.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in INBOX_SUFFIXES)


def merge_orders(current: pd.DataFrame | None, new: list[pd.DataFrame]) -> tuple[pd.DataFrame, int]:
    """Append new order lines to ``current``; return the table and how many lines were new.

    A line already in the table (equal in every canonical column) is not added again, so a
    file delivered twice changes nothing. Exact repeats inside one file never get here: the
    importer sets them aside as ``duplicate_line``.
    """
    parts = ([] if current is None else [current]) + new
    columns = list(s.ORDERS.columns)
    merged = pd.concat([p[columns] for p in parts], ignore_index=True)
    merged = merged.drop_duplicates(keep="first", ignore_index=True)
    return s.ORDERS.validate(merged, "merged orders"), len(merged) - (0 if current is None else len(current))


def retrain_as_of(orders: pd.DataFrame, family: str) -> pd.Timestamp:
    """The family's ``--as-of``: the start of its test window, the last full one the data covers."""
    return data_end(orders) - pd.Timedelta(days=TEST_DAYS[family])


def move_processed(files: list[Path], inbox: Path) -> list[Path]:
    """Move ingested files to ``inbox/processed/`` with a time stamp, so the next run skips them."""
    done = inbox / "processed"
    done.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return [f.rename(done / f"{stamp}-{f.name}") for f in files]


def summary_lines(rows: list[dict]) -> list[str]:
    """The table a retrain ends with: family, metric, old champion, new version, decision."""
    header = f"{'model':<7}{'metric':<18}{'champion before':>18}{'new version':>16}  decision"
    out = [header, "-" * (len(header) + 30)]
    for r in rows:
        old = (f"v{r['old_version']} {r['old_score']:.4f}" if r.get("old_score") is not None
               else (f"v{r['old_version']} -" if r.get("old_version") else "none"))
        new = f"v{r['version']} {r['score']:.4f}" if r.get("score") is not None else f"v{r['version']} -"
        out.append(f"{r['family']:<7}{r['metric']:<18}{old:>18}{new:>16}  {r['decision']}")
    return out
