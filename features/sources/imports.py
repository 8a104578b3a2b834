"""Bookkeeping shared by every loader: reasons, rejects tables and import reports.

A loader checks rows in a fixed order of reasons; a row gets the first reason that applies
and goes to the rejects table with its raw values, its row number in the source and that
reason. Every row read is either accepted or rejected, so ``accepted + rejected == rows
read`` always holds, and :meth:`ImportReport.check` guards it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features import schema as s

# Column holding the text of a CSV line whose field count does not match the header.
RAW_LINE = "_raw_line"
# How much of a large export is parsed and checked at once (read_file_parts).
PART_BYTES = 1 << 27
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

    @classmethod
    def merged(cls, reports: list[ImportReport]) -> ImportReport:
        """The report of a file read a part at a time (:func:`read_file_parts`), from its parts'."""
        reasons: dict[str, str] = {}
        for r in reports:
            reasons.update(r.reasons)
        counts = {k: sum(r.rejected.get(k, 0) for r in reports) for k in reasons}
        merged = cls(source=reports[0].source, table=reports[0].table,
                     rows_read=sum(r.rows_read for r in reports), accepted=sum(r.accepted for r in reports),
                     rejected={k: n for k, n in counts.items() if n}, reasons=reasons,
                     notes=list(dict.fromkeys(n for r in reports for n in r.notes)))
        merged.check()
        return merged

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
          reasons: dict[str, str], first_row: int = 0) -> tuple[np.ndarray, pd.DataFrame, ImportReport]:
    """Accepted-row mask, rejects table and report from the per-row ``reason`` array;
    ``first_row`` is the data row of the file that ``raw`` starts at (a part of a file).

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
    rejects.insert(0, s.SOURCE_ROW, first_row + np.flatnonzero(~ok))
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


def read_file_parts(path: Path | str, *, delimiter: str = ",", encoding: str = "utf-8",
                    part_bytes: int | None = None) -> Iterator[pd.DataFrame]:
    """:func:`read_file` a part at a time, so that an export larger than memory can be loaded.

    Each part is what :func:`read_file` would return for its rows, indexed by their 0-based
    data rows in the whole file. A file of up to ``part_bytes`` is one part, read by
    :func:`read_file`. A larger CSV is parsed by pyarrow's streaming reader in blocks of
    ``part_bytes`` (quoted values spanning lines are kept whole); a larger Parquet file is
    read in batches of rows of about ``part_bytes`` uncompressed. ``part_bytes`` defaults to
    :data:`PART_BYTES`.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`read_file`; a CSV that stops parsing part-way raises when its part is read.
    """
    path = Path(path)
    part_bytes = part_bytes or PART_BYTES
    if not path.exists() or path.stat().st_size <= part_bytes:
        yield read_file(path, delimiter=delimiter, encoding=encoding)
        return
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _read_parquet_parts(path, part_bytes)
    elif suffix in (".csv", ".tsv", ".txt"):
        yield from _read_csv_parts(path, delimiter, encoding, part_bytes)
    else:
        yield read_file(path, delimiter=delimiter, encoding=encoding)  # raises: unsupported type


def _read_parquet_parts(path: Path, part_bytes: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        meta = file.metadata
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        rows = max(int(part_bytes * meta.num_rows / max(size, 1)), 1)
        start = 0
        for batch in file.iter_batches(batch_size=rows):
            part = pa.Table.from_batches([batch]).to_pandas()
            part.index = pd.RangeIndex(start, start + len(part))
            start += len(part)
            yield part
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise ValueError(f"{path}: not a readable Parquet file (truncated or corrupt?): {exc}") from exc


def _csv_header(path: Path, delimiter: str, encoding: str) -> list[str]:
    with open(path, "rb") as f:
        header = f.readline()
    try:
        names = next(csv.reader([header.decode(encoding).rstrip("\r\n")], delimiter=delimiter))
    except csv.Error as exc:  # a header "field" over 128 KiB: not a CSV header (found by fuzzing)
        raise ValueError(f"{path}: the first line is not a CSV header with delimiter {delimiter!r} "
                         f"({exc})") from None
    if not [n for n in names if n.strip()]:
        raise ValueError(f"{path}: file has no header row")
    return names


def _csv_options(names: list[str], delimiter: str, encoding: str, broken: list[tuple[int, str]],
                 block_size: int | None = None) -> dict:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    def keep_broken(row) -> str:  # rows with too few or too many fields
        broken.append((row.number, row.text))
        return "skip"

    sized = {"block_size": block_size} if block_size else {}
    return {
        "read_options": pcsv.ReadOptions(encoding=encoding, use_threads=False, **sized),
        "parse_options": pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                           invalid_row_handler=keep_broken),
        "convert_options": pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                               strings_can_be_null=False, quoted_strings_can_be_null=False),
    }


def _read_csv(path: Path, delimiter: str, encoding: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    # Checked before parsing: pyarrow reports bytes that are not text as a parse error of
    # their row, or, in a row of the wrong width, cannot hand the row to keep_broken at all.
    _check_decodable(path, encoding)
    names = _csv_header(path, delimiter, encoding)
    broken: list[tuple[int, str]] = []
    try:
        table = pcsv.read_csv(path, **_csv_options(names, delimiter, encoding, broken))
    except pa.ArrowInvalid as exc:
        raise ValueError(f"{path}: cannot parse as CSV with delimiter {delimiter!r} ({exc})") from exc
    return _with_broken(table.to_pandas(), broken, 0)


def _read_csv_parts(path: Path, delimiter: str, encoding: str, part_bytes: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    _check_decodable(path, encoding)
    names = _csv_header(path, delimiter, encoding)
    # pyarrow reports a broken row when it parses the row's block, which may be a block ahead
    # of the batch being handed out: each part takes the broken rows that fall among its own.
    broken: list[tuple[int, str]] = []
    start = 0
    try:
        reader = pcsv.open_csv(path, **_csv_options(names, delimiter, encoding, broken, part_bytes))
        for batch in reader:
            good = batch.to_pandas()
            taken = 0
            while taken < len(broken) and broken[taken][0] - 2 < start + len(good) + taken:
                taken += 1
            part = _with_broken(good, broken[:taken], start)
            del broken[:taken]
            part.index = pd.RangeIndex(start, start + len(part))
            start += len(part)
            yield part
    except pa.ArrowInvalid as exc:
        raise ValueError(f"{path}: cannot parse as CSV with delimiter {delimiter!r} ({exc})") from exc
    if broken or not start:  # broken lines after the last good one, or no row at all
        part = _with_broken(pd.DataFrame({n: pd.Series(dtype="string") for n in names}), broken, start)
        part.index = pd.RangeIndex(start, start + len(part))
        yield part


def _with_broken(raw: pd.DataFrame, broken: list[tuple[int, str]], first_row: int) -> pd.DataFrame:
    """``raw`` with the broken lines put back in place (rows of data row ``first_row`` on),
    every field NA and the line's text in RAW_LINE, so they are rejected with what they held
    instead of vanishing."""
    if not broken:
        return raw
    lines = pd.DataFrame({RAW_LINE: [text for _, text in broken]})
    total, j = len(raw) + len(broken), np.arange(len(broken))
    # 0-based row of the part (pyarrow numbers rows from 1, the header's included); made
    # distinct and in range in case quoted newlines shift the numbers.
    at = np.maximum.accumulate(np.array([n - 2 - first_row for n, _ in broken]) - j) + j
    at = np.clip(at, j, total - len(broken) + j)
    good = np.setdiff1d(np.arange(total), at)
    order = np.argsort(np.concatenate([good, at]), kind="stable")
    return pd.concat([raw, lines], ignore_index=True).iloc[order].reset_index(drop=True)


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
