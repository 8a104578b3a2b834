"""Erasing a customer from the workspace's files, and keeping them out of later imports.

A customer's rows live in more places than the orders table: the events, the derived
customer table, the rejects (raw rows, kept with their reasons), every feature snapshot
and interaction matrix, plan exports and the offer decision log. :func:`erase_from_files`
rewrites each of them without the customer, whatever the file, by looking for a customer
column (``customer_id``, ``user_id`` or a raw export's ``Customer ID``). Events of the
customer's sessions go too: a session id is as identifying as the customer id it was
seen with.

The erased ids stay on a list in the live store (:meth:`LiveStore.forget_customer`), so
that the service stops answering for them at once and a later import of an old file
(:func:`drop_forgotten`) leaves them out instead of bringing them back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features import schema as s

# Folders that hold models (erased by retraining, see README) or nothing per customer.
SKIPPED_DIRS = ("mlflow", "audit")


def is_customer_column(name: str) -> bool:
    return re.sub(r"[^a-z]", "", name.lower()) in {"customerid", "userid", "customer"}


def normalize_ids(values: pd.Series) -> pd.Series:
    """Customer ids as text; a raw export's numeric ``13085.0`` reads as ``13085``."""
    text = values.astype("string").str.strip()
    return text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)


def _matches(frame: pd.DataFrame, ids: set[str]) -> pd.Series:
    hit = pd.Series(False, index=frame.index)
    for col in frame.columns:
        if is_customer_column(str(col)):
            hit |= normalize_ids(frame[col]).isin(ids).fillna(False).astype(bool)
    if s.SESSION_ID in frame.columns and hit.any():
        sessions = set(frame.loc[hit, s.SESSION_ID].dropna())
        hit |= frame[s.SESSION_ID].isin(sessions).fillna(False).astype(bool)
    return hit


def drop_forgotten(frame: pd.DataFrame, forgotten: Iterable[str]) -> tuple[pd.DataFrame, int]:
    """``frame`` without the rows of forgotten customers, and how many rows that left out."""
    ids = set(forgotten)
    if not ids or frame.empty:
        return frame, 0
    hit = _matches(frame, ids)
    return frame.loc[~hit].reset_index(drop=True), int(hit.sum())


def _files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file() and p.suffix in (".parquet", ".csv", ".jsonl")
                  and p.relative_to(home).parts[0] not in SKIPPED_DIRS)


def _rewrite(path: Path, ids: set[str]) -> int:
    tmp = path.with_name(path.name + ".erasing")
    if path.suffix == ".jsonl":
        lines = path.read_text().splitlines(keepends=True)
        keep = [line for line in lines if str(json.loads(line).get(s.CUSTOMER_ID)) not in ids]
        if len(keep) == len(lines):
            return 0
        tmp.write_text("".join(keep))
        tmp.replace(path)
        return len(lines) - len(keep)
    if path.suffix == ".parquet":
        if not any(is_customer_column(c) for c in pq.read_schema(path).names):
            return 0
        frame = pd.read_parquet(path)
    else:
        head = pd.read_csv(path, nrows=0)
        if not any(is_customer_column(c) for c in head.columns):
            return 0
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    kept, n = drop_forgotten(frame, ids)
    if n:
        if path.suffix == ".parquet":
            kept.to_parquet(tmp, index=False)
        else:
            kept.to_csv(tmp, index=False)
        tmp.replace(path)  # a reader sees the old file or the new one, never half
    return n


def erase_from_files(home: Path, customer_id: str) -> dict[str, int]:
    """Rewrite every table, feature snapshot, reject file, export and log of the workspace at
    ``home`` without ``customer_id``'s rows; returns rows removed per file (relative path)."""
    home = Path(home)
    removed = {}
    for path in _files(home):
        n = _rewrite(path, {customer_id})
        if n:
            removed[str(path.relative_to(home))] = n
    word = re.compile(rf"(?<![\w-]){re.escape(customer_id)}(?![\w-])")
    for log in sorted((home / "logs").glob("*.log")) if (home / "logs").exists() else []:
        text = log.read_text()
        scrubbed, n = word.subn("<erased>", text)
        if n:
            log.write_text(scrubbed)
            removed[str(log.relative_to(home))] = n
    return removed
