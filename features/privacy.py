"""Erasing a customer from the workspace's files, and keeping them out of later imports.

A customer's rows live in more places than the orders table: the events, the derived
customer table, the rejects (raw rows, kept with their reasons), every feature snapshot
and interaction matrix, plan exports, the offer decision log, the processed inbox files
(CSV, Excel, CDNOW's text layout) and the command logs, rotated ones included. :func:`erase_from_files`
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
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features import schema as s
from features.messages import first_line

# Folders that hold models (erased by retraining, see docs/operations.md) or nothing per customer.
SKIPPED_DIRS = ("mlflow", "audit")
REASON_CHARS = 200  # of a library's message quoted for a file that could not be read


def is_customer_column(name: str) -> bool:
    return re.sub(r"[^a-z]", "", name.lower()) in {"customerid", "userid", "customer"}


def normalize_ids(values: pd.Series) -> pd.Series:
    """Customer ids as text; a raw export's numeric ``13085.0`` reads as ``13085``."""
    text = values.astype("string").str.strip()
    return text.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)


def _matches(frame: pd.DataFrame, ids: set[str], canonical: bool = False) -> pd.Series:
    hit = pd.Series(False, index=frame.index)
    for col in frame.columns:
        if is_customer_column(str(col)):
            values = frame[col] if canonical else normalize_ids(frame[col])
            hit |= values.isin(ids).fillna(False).astype(bool)
    if s.SESSION_ID in frame.columns and hit.any():
        sessions = set(frame.loc[hit, s.SESSION_ID].dropna())
        hit |= frame[s.SESSION_ID].isin(sessions).fillna(False).astype(bool)
    return hit


def drop_forgotten(frame: pd.DataFrame, forgotten: Iterable[str],
                   canonical: bool = False) -> tuple[pd.DataFrame, int]:
    """``frame`` without the rows of forgotten customers, and how many rows that left out.
    ``canonical``: the ids are a workspace table's, already normalized text (faster)."""
    ids = set(forgotten)
    if not ids or frame.empty:
        return frame, 0
    hit = _matches(frame, ids, canonical)
    return frame.loc[~hit].reset_index(drop=True), int(hit.sum())


SUFFIXES = (".parquet", ".csv", ".jsonl", ".xlsx", ".txt")


def _files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                  and p.relative_to(home).parts[0] not in SKIPPED_DIRS)


def _whole_word(ids: Iterable[str]) -> re.Pattern:
    """Any of ``ids`` as a whole word of free text (``c1`` matches in "c1," not in "c12")."""
    return re.compile("|".join(rf"(?<![\w-]){re.escape(i)}(?![\w-])" for i in ids))


def _read_text(path: Path) -> str:
    # surrogateescape: a file with stray bytes is written back byte for byte but what is erased.
    return path.read_bytes().decode("utf-8", errors="surrogateescape")


def _write_text(path: Path, text: str, tmp: Path | None = None) -> None:
    """Replace ``path``'s text, through ``tmp`` when given (readers see old or new, never half)."""
    (tmp or path).write_bytes(text.encode("utf-8", errors="surrogateescape"))
    if tmp is not None:
        tmp.replace(path)


def _rewrite_txt(path: Path, ids: set[str], tmp: Path) -> int:
    """A purchase log in CDNOW's layout (whitespace-separated, the customer id first, maybe
    zero-padded): lines whose first field is the customer's id go."""
    bare = {i.lstrip("0") for i in ids}
    lines = _read_text(path).splitlines(keepends=True)
    keep = [line for line in lines if not (line.split() and line.split()[0].lstrip("0") in bare)]
    if len(keep) < len(lines):
        _write_text(path, "".join(keep), tmp)
    return len(lines) - len(keep)


class UnreadableFileError(ValueError):
    """A workspace file that cannot be parsed, so its rows cannot be checked for a customer."""


def _read_csv(path: Path) -> tuple[pd.DataFrame, str]:
    # A raw export is often Windows-1252 rather than UTF-8; latin-1 decodes any byte, so such
    # a file is still searched (and written back in the encoding it was read in).
    for encoding in ("utf-8", "latin-1"):
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding), encoding
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:  # zero bytes, or only blank lines: no rows to erase
            return pd.DataFrame(), encoding
        except (pd.errors.ParserError, ValueError) as exc:
            raise UnreadableFileError(f"not a readable CSV file ({first_line(exc, REASON_CHARS)})") from None
    raise UnreadableFileError("not text in UTF-8 or Latin-1")  # pragma: no cover - latin-1 reads all bytes


def _rewrite_jsonl(path: Path, ids: set[str], tmp: Path) -> tuple[int, int]:
    """Rows removed and torn lines (blank, cut short, not an object) met. A torn line that
    names the customer goes too; other torn lines are kept as they are."""
    lines = _read_text(path).splitlines(keepends=True)
    named = _whole_word(ids)
    keep, torn = [], 0
    for line in lines:
        try:
            row = json.loads(line)
            mine = str(row.get(s.CUSTOMER_ID)) in ids
        except (ValueError, AttributeError):  # AttributeError: valid JSON, but not an object
            torn += 1
            mine = named.search(line) is not None
        if not mine:
            keep.append(line)
    if len(keep) < len(lines):
        _write_text(path, "".join(keep), tmp)
    return len(lines) - len(keep), torn


def _rewrite(path: Path, ids: set[str]) -> tuple[int, int]:
    """Rows removed from one file and torn JSONL lines met; raises
    :class:`UnreadableFileError` for a file that cannot be parsed."""
    tmp = path.with_name(path.name + ".erasing")
    if path.suffix == ".jsonl":
        return _rewrite_jsonl(path, ids, tmp)
    if path.suffix.lower() == ".txt":
        return _rewrite_txt(path, ids, tmp), 0
    encoding = None
    try:
        if path.suffix == ".parquet":
            if not any(is_customer_column(c) for c in pq.read_schema(path).names):
                return 0, 0
            frame = pd.read_parquet(path)
        elif path.suffix.lower() == ".xlsx":  # a processed inbox export (the first sheet)
            frame = pd.read_excel(path, dtype=str)
            if not any(is_customer_column(str(c)) for c in frame.columns):
                return 0, 0
        else:
            frame, encoding = _read_csv(path)
            if not any(is_customer_column(str(c)) for c in frame.columns):
                return 0, 0
    except UnreadableFileError:
        raise
    except Exception as exc:  # a truncated or corrupt Parquet file: pyarrow's errors vary
        reason = first_line(exc, REASON_CHARS)
        raise UnreadableFileError(f"not a readable {path.suffix[1:]} file ({reason})") from None
    kept, n = drop_forgotten(frame, ids)
    if n:
        if path.suffix == ".parquet":
            kept.to_parquet(tmp, index=False)
        elif path.suffix.lower() == ".xlsx":
            tmp = tmp.with_name(tmp.name + ".xlsx")  # openpyxl writes by extension
            kept.to_excel(tmp, index=False)
        else:
            kept.to_csv(tmp, index=False, encoding=encoding)
        tmp.replace(path)  # a reader sees the old file or the new one, never half
    return n, 0


@dataclass
class FilesErased:
    """What :func:`erase_from_files` did, by path relative to the workspace."""

    removed: dict[str, int] = field(default_factory=dict)  # rows (or log mentions) removed
    unreadable: dict[str, str] = field(default_factory=dict)  # file -> why it could not be searched
    torn_lines: dict[str, int] = field(default_factory=dict)  # JSONL lines that are not a record


def erase_from_files(home: Path, customer_id: str | Iterable[str]) -> FilesErased:
    """Rewrite every table, feature snapshot, reject file, export and log of the workspace at
    ``home`` without ``customer_id``'s rows (or those of each of several ids, in one pass).

    Each file is handled on its own: one that cannot be parsed is reported in
    ``unreadable`` with the reason and left as it is, and every other file is still erased.
    """
    home = Path(home)
    ids = {customer_id} if isinstance(customer_id, str) else set(customer_id)
    result = FilesErased()
    for path in _files(home):
        where = str(path.relative_to(home))
        try:
            n, torn = _rewrite(path, ids)
        except (UnreadableFileError, OSError) as exc:
            unreadable = isinstance(exc, UnreadableFileError)
            result.unreadable[where] = str(exc) if unreadable else first_line(exc, REASON_CHARS)
            continue
        if n:
            result.removed[where] = n
        if torn:
            result.torn_lines[where] = torn
    word = _whole_word(ids)
    for log in sorted((home / "logs").glob("*.log*")) if (home / "logs").exists() else []:
        where = str(log.relative_to(home))
        try:
            scrubbed, n = word.subn("<erased>", _read_text(log))
            if n:
                _write_text(log, scrubbed)
                result.removed[where] = n
        except OSError as exc:
            result.unreadable[where] = first_line(exc, REASON_CHARS)
    return result
