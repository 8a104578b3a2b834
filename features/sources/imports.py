"""Bookkeeping shared by every loader: reasons, rejects tables and import reports.

A loader checks rows in a fixed order of reasons; a row gets the first reason that applies
and goes to the rejects table with its raw values, its row number in the source and that
reason. Every row read is either accepted or rejected, so ``accepted + rejected == rows
read`` always holds, and :meth:`ImportReport.check` guards it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features import schema as s

# Column holding the text of a CSV line whose field count does not match the header.
RAW_LINE = "_raw_line"
MALFORMED = "the line has more or fewer fields than the header (a truncated file or a broken line)"


def malformed(raw: pd.DataFrame) -> np.ndarray:
    """Rows :func:`read_file` kept from lines whose field count did not match the header."""
    return raw[RAW_LINE].notna().to_numpy(bool) if RAW_LINE in raw.columns else np.zeros(len(raw), bool)


@dataclass
class ImportReport:
    """Counts of an import: ``accepted + sum(rejected.values()) == rows_read``.

    ``reasons`` maps each reason key to the sentence printed beside its count.
    """

    source: str
    table: str
    rows_read: int
    accepted: int
    rejected: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict, repr=False)
    notes: list[str] = field(default_factory=list)

    def check(self) -> None:
        total = self.accepted + sum(self.rejected.values())
        if total != self.rows_read:  # pragma: no cover - a bug guard, not an input check
            raise AssertionError(f"{self.source}: {total} rows accounted for, {self.rows_read} read")

    def as_dict(self) -> dict:
        return {"source": self.source, "table": self.table, "rows_read": self.rows_read,
                "accepted": self.accepted, "rejected": self.rejected, "notes": self.notes}

    def lines(self) -> list[str]:
        out = [
            f"source: {self.source} -> table '{self.table}'",
            f"rows read: {self.rows_read:,}",
            f"accepted: {self.accepted:,}",
            f"set aside: {sum(self.rejected.values()):,}",
        ]
        out += [f"  {r}: {n:,}  ({self.reasons.get(r, r)})" for r, n in self.rejected.items()]
        return out + [f"note: {n}" for n in self.notes]


def first_reason(n: int, checks: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """The first reason whose mask is true for each row, ``None`` where none is.

    Parameters
    ----------
    n : int
        Number of rows.
    checks : list of (reason, boolean mask of length n)
        In priority order.
    """
    reason = np.full(n, None, dtype=object)
    for name, mask in checks:
        reason[(reason == None) & np.asarray(mask, dtype=bool)] = name  # noqa: E711 - elementwise
    return reason


def split(raw: pd.DataFrame, reason: np.ndarray, source: str, table: str,
          reasons: dict[str, str]) -> tuple[np.ndarray, pd.DataFrame, ImportReport]:
    """Accepted-row mask, rejects table and report from the per-row ``reason`` array.

    Returns
    -------
    ok : ndarray of bool
    rejects : DataFrame
        The raw values (as text) of rejected rows, with ``source_row`` (0-based data row)
        and ``reason`` in front.
    report : ImportReport
        Rejected counts in the order of ``reasons``.
    """
    ok = reason == None  # noqa: E711
    rejects = raw[~ok].astype("string")
    rejects.insert(0, s.SOURCE_ROW, np.flatnonzero(~ok))
    rejects.insert(1, s.REASON, reason[~ok].astype(str))
    counts = pd.Series(reason[~ok]).value_counts()
    unknown = set(counts.index) - set(reasons)
    if unknown:  # pragma: no cover - a bug guard
        raise AssertionError(f"undocumented reject reasons {unknown}")
    report = ImportReport(source=source, table=table, rows_read=len(raw), accepted=int(ok.sum()),
                          rejected={r: int(counts[r]) for r in reasons if r in counts.index},
                          reasons=reasons)
    report.check()
    return ok, rejects.reset_index(drop=True), report


def read_file(path: Path | str, *, delimiter: str = ",", encoding: str = "utf-8") -> pd.DataFrame:
    """Read a ``.csv`` (every value as text, blanks as ``""``) or ``.parquet`` file.

    In a CSV, a line with fewer fields than the header (a truncated file, a broken line)
    gets ``NA`` in the missing fields; loaders reject such rows as ``short_row``.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When it is empty, not in ``encoding`` (naming the line), not valid CSV (naming the
        line), an unreadable Parquet file, or of an unknown type.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: file is empty")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise ValueError(f"{path}: not a readable Parquet file (truncated or corrupt?): {exc}") from exc
    if suffix not in (".csv", ".tsv", ".txt"):
        raise ValueError(f"{path}: unsupported file type '{suffix}' (use .csv or .parquet)")
    return _read_csv(path, delimiter, encoding)


def read_header(path: Path, delimiter: str = ",", encoding: str = "utf-8") -> list[str]:
    """Column names of a ``.parquet`` or delimited text file, without reading its rows."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_schema(path).names
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable Parquet file (truncated or corrupt?): {exc}") from exc
    with open(path, "rb") as f:
        line = f.readline().decode(encoding, errors="replace").rstrip("\r\n")
    return next(csv.reader([line], delimiter=delimiter), [])


def _read_csv(path: Path, delimiter: str, encoding: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    # Checked before parsing: pyarrow reports bytes that are not text as a parse error of
    # their row, or, in a row of the wrong width, cannot hand the row to keep_broken at all.
    _check_decodable(path, encoding)
    with open(path, "rb") as f:
        header = f.readline()
    try:
        names = next(csv.reader([header.decode(encoding).rstrip("\r\n")], delimiter=delimiter))
    except csv.Error as exc:  # a header "field" over 128 KiB: not a CSV header (found by fuzzing)
        raise ValueError(f"{path}: the first line is not a CSV header with delimiter {delimiter!r} "
                         f"({exc})") from None
    if not [n for n in names if n.strip()]:
        raise ValueError(f"{path}: file has no header row")
    broken: list[tuple[int, str]] = []

    def keep_broken(row) -> str:  # rows with too few or too many fields
        broken.append((row.number, row.text))
        return "skip"

    try:
        table = pcsv.read_csv(
            path,
            read_options=pcsv.ReadOptions(encoding=encoding, use_threads=False),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                            invalid_row_handler=keep_broken),
            convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:
        raise ValueError(f"{path}: cannot parse as CSV with delimiter {delimiter!r} ({exc})") from exc
    raw = table.to_pandas()
    if broken:
        # Keep broken lines in place, every field NA and the line's text in RAW_LINE, so
        # they are rejected with what they held instead of vanishing.
        lines = pd.DataFrame({RAW_LINE: [text for _, text in broken]})
        total, j = len(raw) + len(broken), np.arange(len(broken))
        # 0-based data row when every row is one line; made distinct and in range in case
        # quoted newlines shift the line numbers.
        at = np.maximum.accumulate(np.array([n - 2 for n, _ in broken]) - j) + j
        at = np.clip(at, j, total - len(broken) + j)
        good = np.setdiff1d(np.arange(total), at)
        order = np.argsort(np.concatenate([good, at]), kind="stable")
        raw = pd.concat([raw, lines], ignore_index=True).iloc[order].reset_index(drop=True)
    return raw


def _check_decodable(path: Path, encoding: str, chunk: int = 1 << 22) -> None:
    """Raise ValueError naming the first line that is not ``encoding`` text (0.1 s for the
    45 MB Online Retail II CSV)."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)()
    lines_before, tail = 0, b""
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            pending = len(decoder.getstate()[0])  # the previous block's unfinished character
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                data = tail + block + f.readline()  # to the end of the line
                at = len(tail) - pending + exc.start
                line = lines_before + data.count(b"\n", 0, at) + 1
                text = data[data.rfind(b"\n", 0, at) + 1:].split(b"\n")[0][:80]
                raise ValueError(f"{path}, line {line}: not {encoding} text ({text!r}); re-save it as "
                                 f"{encoding} (or declare its encoding in a mapping file)") from None
            if not block:
                return
            # Keep the last line's start (tail never holds a newline), so that an error in the
            # next block can show it.
            lines_before += block.count(b"\n")
            cut = block.rfind(b"\n") + 1
            tail = block[cut:] if cut else tail + block
