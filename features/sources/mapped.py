"""Generic loader: any shop's CSV or Parquet export, mapped to a canonical table by a file.

A mapping file (TOML or YAML) names the canonical table and, for each canonical field, the
source column that holds it, so a new shop's export is loaded without code::

    table = "events"              # orders | items | customers | events
    delimiter = ";"               # CSV only; default ","
    decimal = ","                 # decimal mark of numbers; default "."
    encoding = "utf-8"
    timestamp_format = "%d/%m/%Y %H:%M"   # default: inferred; "unix_s" / "unix_ms" for epochs
    simulated = false             # events only: true marks a synthetic log

    [columns]                     # canonical field = source column
    user_id = "visitor"
    item_id = "sku"
    event_type = "action"
    timestamp = "ts"

    [values.event_type]           # source value = canonical value
    pageview = "view"
    addtocart = "add_to_cart"

    [defaults]                    # constant for a field the export lacks
    country = "Germany"

    [returns]                     # orders only; default: a negative quantity marks a return
    column = "status"
    values = ["returned", "cancelled"]

    keep = ["segment"]            # extra source columns carried through as text

Each row is either accepted or set aside with a reason (see :func:`reasons_for`). A column
that fails for most of its rows is a mapping error, not bad rows, and raises instead.

Without ``timestamp_format``, dates written like ``05/01/2023`` are read day first when a value
of the file shows it (``13/01/2023``), month first otherwise, the same way for the whole file
(:class:`_DateOrder`); a file that shows both, or turns day first after rows that could be
either, raises and asks for ``timestamp_format``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from features import schema as s
from features.sources.imports import (
    MALFORMED,
    ImportReport,
    first_reason,
    malformed,
    read_file_parts,
    read_header,
    split,
)

# For each table: field -> (kind, required, default when unmapped).
FIELDS: dict[str, dict[str, tuple[str, bool, object]]] = {
    "orders": {
        s.ORDER_ID: ("string", True, None), s.CUSTOMER_ID: ("string", True, None),
        s.ITEM_ID: ("string", True, None), s.QUANTITY: ("int", True, None),
        s.UNIT_PRICE: ("float", True, None), s.TIMESTAMP: ("datetime", True, None),
        s.TITLE: ("string", False, ""), s.COUNTRY: ("string", False, ""),
    },
    "items": {
        s.ITEM_ID: ("string", True, None), s.TITLE: ("string", False, ""),
        s.CATEGORY: ("string", False, ""), s.PRICE: ("float", False, np.nan),
        s.IN_STOCK: ("bool", False, True), "stock_level": ("float", False, np.nan),
        s.FIRST_SEEN: ("datetime", False, pd.NaT),
    },
    "customers": {
        s.CUSTOMER_ID: ("string", True, None), s.FIRST_SEEN: ("datetime", False, pd.NaT),
        s.COUNTRY: ("string", False, ""),
    },
    "events": {
        s.EVENT_ID: ("string", False, None), s.USER_ID: ("string", False, ""),
        s.SESSION_ID: ("string", False, ""), s.ITEM_ID: ("string", False, ""),
        s.EVENT_TYPE: ("string", True, None), s.TIMESTAMP: ("datetime", True, None),
        s.PRICE: ("float", False, np.nan), s.QUANTITY: ("float", False, np.nan),
        s.SIMULATED: ("bool", False, None),
    },
}
TRUE_VALUES = {"true", "1", "yes", "y", "t"}
FALSE_VALUES = {"false", "0", "no", "n", "f"}
EARLIEST = pd.Timestamp("1990-01-01")
# A column failing for more than this share of its rows is a mapping error, not bad rows.
MAX_BAD_SHARE = 0.5


@dataclass
class Mapping:
    """A parsed mapping file; see the module docstring for its format."""

    table: str
    columns: dict[str, str]
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, object] = field(default_factory=dict)
    returns: dict | None = None
    keep: list[str] = field(default_factory=list)
    delimiter: str = ","
    decimal: str = "."
    encoding: str = "utf-8"
    timestamp_format: str | None = None
    simulated: bool = False
    source: str = "<mapping>"

    @classmethod
    def read(cls, path: Path | str) -> Mapping:
        """Read and check a ``.toml``, ``.yaml`` or ``.yml`` mapping file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            data = (tomllib.loads(text) if path.suffix.lower() == ".toml"
                    else yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml")
                    else None)
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: not a valid mapping file: {exc}") from exc
        if data is None:
            raise ValueError(f"{path}: a mapping file is .toml, .yaml or .yml")
        return cls.from_dict(data, str(path))

    @classmethod
    def canonical(cls, table: str, path: Path | str) -> Mapping:
        """The mapping of a file whose columns already have the canonical names."""
        if table not in FIELDS:
            raise ValueError(f"unknown table {table!r}; expected one of {list(FIELDS)}")
        header = read_header(Path(path))
        return cls.from_dict({"table": table, "columns": {f: f for f in FIELDS[table] if f in header}},
                             f"the canonical '{table}' columns")

    @classmethod
    def from_dict(cls, data: dict, source: str = "<mapping>") -> Mapping:
        known = {"table", "columns", "values", "defaults", "returns", "keep", "delimiter", "decimal",
                 "encoding", "timestamp_format", "simulated"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        table = data.get("table")
        if table not in FIELDS:
            raise ValueError(f"{source}: 'table' is {table!r}; expected one of {list(FIELDS)}")
        mapping = cls(**{k: v for k, v in data.items() if k != "columns"},
                      columns=dict(data.get("columns") or {}), source=source)
        not_text = {f: c for f, c in mapping.columns.items() if not isinstance(c, str)}
        if not_text:
            raise ValueError(f"{source}: [columns] values must be column names (text), got {not_text}; "
                             "quote them (in YAML, no/yes/on/off are read as booleans)")
        fields = FIELDS[table]
        for section in ("columns", "values", "defaults"):
            bad = set(getattr(mapping, section)) - set(fields)
            if bad:
                raise ValueError(f"{source}: [{section}] names unknown field(s) {sorted(bad)} of table "
                                 f"'{table}'; its fields are {list(fields)}")
        missing = [f for f, (_, required, _) in fields.items()
                   if required and f not in mapping.columns and f not in mapping.defaults]
        if missing:
            raise ValueError(f"{source}: table '{table}' needs a source column for {missing} in [columns]")
        if mapping.returns is not None and table != "orders":
            raise ValueError(f"{source}: [returns] applies to table 'orders' only")
        return mapping


def reasons_for(mapping: Mapping) -> dict[str, str]:
    """Reject reasons of a mapped table, in the order they are checked."""
    col = mapping.columns
    out = {"malformed_row": MALFORMED}
    for f, (kind, required, _) in FIELDS[mapping.table].items():
        if f not in col:
            continue
        if required:
            out[f"missing_{f}"] = f"{f} (column '{col[f]}') is blank"
        if kind != "string":
            out[f"bad_{f}"] = f"{f} (column '{col[f]}') is not a valid {kind}"
    if s.TIMESTAMP in col:
        out["timestamp_out_of_range"] = f"timestamp before {EARLIEST.date()} or in the future"
    if mapping.table == "orders":
        out["zero_quantity"] = "quantity is 0"
        out["negative_quantity_on_sale"] = "quantity < 0 on a line the returns rule does not mark"
        out["negative_price"] = "unit_price < 0"
    if mapping.table == "items":
        out["negative_price"] = "price < 0"
    if mapping.table == "events":
        out["unknown_event_type"] = f"event_type is not one of {list(s.EVENT_TYPES)} after [values]"
        out["missing_user_and_session"] = "both user_id and session_id are blank"
        out["missing_item_id"] = "item_id is blank on an event other than search"
        out["non_positive_quantity"] = "quantity <= 0"
        out["negative_price"] = "price < 0"
    key = {"orders": None, "items": s.ITEM_ID, "customers": s.CUSTOMER_ID, "events": s.EVENT_ID}
    if key[mapping.table]:
        out[f"duplicate_{key[mapping.table]}"] = f"{key[mapping.table]} repeats an earlier row's"
    return out


def load(path: Path | str, mapping: Mapping,
         now: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame, ImportReport]:
    """Load ``path`` into the canonical table ``mapping.table``: :func:`load_parts`' parts
    put together.

    Parameters
    ----------
    path : path
        A ``.csv`` or ``.parquet`` file.
    mapping : Mapping
    now : Timestamp, optional
        Timestamps after ``now`` (default: the current time) are out of range.

    Returns
    -------
    table : DataFrame
        The canonical table (:mod:`features.schema`), plus any ``keep`` columns.
    rejects : DataFrame
        Raw values of rows set aside, with ``source_row`` and ``reason``.
    report : ImportReport

    Raises
    ------
    ValueError
        Naming the file, field and source column when a mapped column is absent, or when a
        column fails to parse on most rows (with example rows and values).
    """
    tables, rejects, reports = zip(*load_parts(path, mapping, now), strict=True)
    return (pd.concat(tables, ignore_index=True), pd.concat(rejects, ignore_index=True),
            ImportReport.merged(list(reports)))


def load_parts(path: Path | str, mapping: Mapping, now: pd.Timestamp | None = None,
               part_bytes: int | None = None) -> Iterator[tuple[pd.DataFrame, pd.DataFrame, ImportReport]]:
    """:func:`load` a part of the file at a time (:func:`~features.sources.imports.read_file_parts`),
    so that an export larger than memory can be loaded: each part's accepted rows, rejects
    and report (``ImportReport.merged`` makes the file's). A file of up to ``part_bytes``
    (default :data:`~features.sources.imports.PART_BYTES`) is one part.

    Every part is checked as a whole file is; a key (item, customer or event id) repeating
    one of an earlier part is found by its 64-bit hash, so the keys' text is not kept: two
    keys sharing a hash, about one chance in 3,700 among 100 million keys, would set the later
    row aside as a repeat. A column that fails on most rows of a later part raises when that
    part is read.
    """
    path = Path(path)
    now = now or pd.Timestamp.now()
    seen, dates = _SeenKeys(), _DateOrder()
    for raw in read_file_parts(path, delimiter=mapping.delimiter, encoding=mapping.encoding,
                               part_bytes=part_bytes):
        yield _load_part(path, mapping, raw, now, seen, dates)


def _load_part(path: Path, mapping: Mapping, raw: pd.DataFrame, now: pd.Timestamp,
               seen: _SeenKeys, dates: _DateOrder) -> tuple[pd.DataFrame, pd.DataFrame, ImportReport]:
    first_row = int(raw.index[0]) if len(raw) else 0
    raw = raw.reset_index(drop=True)
    absent = [f"{f} -> '{c}'" for f, c in mapping.columns.items() if c not in raw.columns]
    absent += [f"keep -> '{c}'" for c in mapping.keep if c not in raw.columns]
    if mapping.returns and mapping.returns.get("column") not in raw.columns:
        absent.append(f"returns -> '{mapping.returns.get('column')}'")
    if absent:
        raise ValueError(f"{path}: column(s) named in {mapping.source} not found: {absent}; "
                         f"the file has {list(raw.columns)}")
    n = len(raw)
    parsed: dict[str, pd.Series | None] = {}
    checks = [("malformed_row", malformed(raw))]
    for f, (kind, required, default) in FIELDS[mapping.table].items():
        if f not in mapping.columns:
            value = mapping.defaults.get(f, default)
            parsed[f] = pd.Series([value] * n, index=raw.index) if value is not None else None
            continue
        col = raw[mapping.columns[f]]
        if f in mapping.values:
            text = col.astype("string").str.strip()
            col = text.map(mapping.values[f]).fillna(text)
        day_first = (kind == "datetime" and mapping.timestamp_format is None
                     and dates.day_first(path, f, mapping.columns[f], col, first_row))
        parsed[f], blank, bad = _parse(col, kind, mapping.timestamp_format, mapping.decimal, day_first)
        _raise_if_mostly_bad(path, f, mapping.columns[f], col, blank, bad, first_row)
        if required:
            checks.append((f"missing_{f}", blank))
        if kind != "string":
            checks.append((f"bad_{f}", bad))
    if s.TIMESTAMP in mapping.columns:
        ts = parsed[s.TIMESTAMP]
        checks.append(("timestamp_out_of_range", ((ts < EARLIEST) | (ts > now)).to_numpy(bool)))
    build = {"orders": _orders, "items": _items, "customers": _customers, "events": _events}
    table, extra_checks = build[mapping.table](parsed, raw, mapping)
    reason = first_reason(n, checks + extra_checks)
    key = {"items": s.ITEM_ID, "customers": s.CUSTOMER_ID, "events": s.EVENT_ID}.get(mapping.table)
    if key:
        ok = reason == None  # noqa: E711
        dup = (table[key].duplicated().to_numpy(bool) | seen.earlier(table[key])) & ok
        reason[dup] = f"duplicate_{key}"
    ok, rejects, report = split(raw, reason, str(path), mapping.table, reasons_for(mapping), first_row)
    for name in (s.CUSTOMER_ID, s.USER_ID):
        # Named the workspace's way too, whatever the shop called it: a forget finds the rows.
        source = mapping.columns.get(name)
        if source in rejects.columns and name not in rejects.columns:
            rejects[name] = rejects[source].astype("string").str.strip()
    table = table[ok].reset_index(drop=True)
    for c in mapping.keep:
        table[c] = raw.loc[ok, c].astype("string").reset_index(drop=True)
    return table, rejects, report


class _DateOrder:
    """Whether a file's dates written like ``05/01/2023`` are day or month first, decided once
    for the file: by the first value whose first number is over 12 (day first) or whose
    second is (month first). Until one shows it they are read month first, pandas' default."""

    PATTERN = r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b"
    HINT = "set timestamp_format in the mapping file (for example \"%d/%m/%Y %H:%M\" for day first)"

    def __init__(self) -> None:
        self.example: dict[tuple[str, str], str] = {}  # (field, order) -> a value that shows it
        self.unshown: dict[str, int] = {}  # field -> rows read month first before any showed it

    def day_first(self, path: Path, f: str, column: str, col: pd.Series, first_row: int) -> bool:
        if pd.api.types.is_datetime64_any_dtype(col):
            return False
        # The distinct dates, in the order they first appear: a few thousand where rows are millions.
        dates = col.astype("string").str.strip().str.slice(0, 10)
        distinct = pd.Series(dates.dropna().unique(), dtype="string")
        numbers = distinct.str.extract(self.PATTERN).astype("float64")
        for order, over in (("day", numbers[0] > 12), ("month", numbers[1] > 12)):
            shows = distinct[over.to_numpy(bool)]
            if len(shows) and (f, order) not in self.example:
                self.example[f, order] = shows.iloc[0]
                if order == "day" and self.unshown.get(f):
                    row = first_row + int(np.argmax((dates == shows.iloc[0]).fillna(False).to_numpy(bool)))
                    raise ValueError(
                        f"{path}: field '{f}' (column '{column}'): dates are day first from row {row} (e.g. "
                        f"{shows.iloc[0]!r}), but the {self.unshown[f]:,} rows before this part of the file "
                        f"could be read either way and were read month first; {self.HINT}")
        day, month = self.example.get((f, "day")), self.example.get((f, "month"))
        if day and month:
            raise ValueError(f"{path}: field '{f}' (column '{column}') has dates written day first "
                             f"(e.g. {day!r}) and month first (e.g. {month!r}); {self.HINT}")
        if not day and not month and numbers[0].notna().any():
            self.unshown[f] = self.unshown.get(f, 0) + len(dates)
        return (f, "day") in self.example


class _SeenKeys:
    """The keys of the parts loaded so far, as sorted 64-bit hashes (8 bytes a key)."""

    def __init__(self) -> None:
        self.hashes = np.empty(0, np.uint64)

    def earlier(self, keys: pd.Series) -> np.ndarray:
        """Which of ``keys`` an earlier part held; then ``keys`` join the parts seen."""
        # Keys are mostly distinct: categorizing them first (the default) costs ten times the hashing.
        h = pd.util.hash_array(keys.to_numpy(dtype=object), categorize=False)
        found = np.zeros(len(h), bool)
        if len(self.hashes):
            at = np.minimum(np.searchsorted(self.hashes, h), len(self.hashes) - 1)
            found = self.hashes[at] == h
        self.hashes = np.sort(np.concatenate([self.hashes, h]), kind="stable")
        return found


def _parse(col: pd.Series, kind: str, ts_format: str | None,
           decimal: str = ".", day_first: bool = False) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Parsed values, blank mask, and mask of non-blank values that do not parse."""
    if kind == "datetime" and pd.api.types.is_datetime64_any_dtype(col):
        value = _nanoseconds(col.dt.tz_convert(None) if getattr(col.dt, "tz", None) else col)
        return value, col.isna().to_numpy(), (value.isna() & col.notna()).to_numpy(bool)
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    if kind in ("int", "float") and numeric:
        value = col.astype(float)
        return value, value.isna().to_numpy(), np.zeros(len(col), bool)
    text = col.astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy(bool)
    if kind == "string":
        return text.fillna("").astype(str), blank, np.zeros(len(col), bool)
    if kind == "datetime":
        if ts_format in ("unix_s", "unix_ms"):
            value = pd.to_datetime(pd.to_numeric(text, errors="coerce"),
                                   unit=ts_format[5:], errors="coerce")
        else:
            value = pd.to_datetime(text, format=ts_format, errors="coerce", utc=True, dayfirst=day_first)
            retry = value.isna() & ~pd.Series(blank, index=text.index)
            if ts_format is None and retry.any():
                # The format is inferred from the first value; values in another layout get
                # a second, per-value parse.
                value[retry] = pd.to_datetime(text[retry], format="mixed", errors="coerce", utc=True,
                                              dayfirst=day_first)
            value = value.dt.tz_convert(None)
        value = _nanoseconds(value)
    elif kind == "bool":
        low = text.str.lower()
        value = pd.Series(np.where(low.isin(TRUE_VALUES), True,
                                   np.where(low.isin(FALSE_VALUES), False, None)), index=col.index)
    else:
        if decimal != ".":
            text = text.str.replace(decimal, ".", regex=False)
        # Plain floats, NaN where unreadable: pandas' nullable Float64 would carry NA into
        # the comparisons below (quantity < 0), which cannot become a numpy mask.
        value = pd.to_numeric(text, errors="coerce").astype("float64")
        if kind == "int":
            value = value.where(value % 1 == 0)
    return value, blank, (value.isna().to_numpy(bool) & ~blank)


def _nanoseconds(value: pd.Series) -> pd.Series:
    """``value`` as the tables' datetime64[ns]; dates it cannot hold (before 1677 or after
    2262, such as "0000-00-00" or a stray "2.5" read as the year 2) become NaT, so their rows
    are set aside as unreadable instead of failing the file."""
    if value.dtype != "datetime64[ns]":
        value = value.where((value >= pd.Timestamp.min) & (value <= pd.Timestamp.max))
    return value.astype("datetime64[ns]")


def _raise_if_mostly_bad(path: Path, f: str, column: str, col: pd.Series,
                         blank: np.ndarray, bad: np.ndarray, first_row: int = 0) -> None:
    filled = int((~blank).sum())
    if filled == 0 or bad.sum() <= MAX_BAD_SHARE * filled:
        return
    rows = np.flatnonzero(bad)[:3]
    examples = ", ".join(f"row {first_row + r}: {col.iloc[r]!r}" for r in rows)
    raise ValueError(f"{path}: field '{f}' (column '{column}'): {int(bad.sum()):,} of {filled:,} values "
                     f"cannot be read as {FIELDS_KIND_WORD.get(f, 'the expected type')}, e.g. {examples}; "
                     "is the mapping pointing at the right column (and timestamp_format right)?")


FIELDS_KIND_WORD = {s.TIMESTAMP: "a timestamp", s.FIRST_SEEN: "a date", s.QUANTITY: "a whole number",
                    s.UNIT_PRICE: "a number", s.PRICE: "a number", s.IN_STOCK: "true/false",
                    "stock_level": "a number"}


def _orders(p: dict, raw: pd.DataFrame, m: Mapping) -> tuple[pd.DataFrame, list]:
    qty, price = p[s.QUANTITY], p[s.UNIT_PRICE]
    if m.returns:
        marks = {str(v) for v in m.returns.get("values", [])}
        is_return = raw[m.returns["column"]].astype("string").str.strip().isin(marks).to_numpy(bool)
        negative_on_sale = (qty < 0).to_numpy(bool) & ~is_return
    else:
        is_return = (qty < 0).to_numpy(bool)
        negative_on_sale = np.zeros(len(raw), bool)
    # Exports disagree on the sign of returned quantities; returns are negative here.
    signed = np.where(is_return, -qty.abs(), qty)
    table = pd.DataFrame({
        s.ORDER_ID: p[s.ORDER_ID], s.CUSTOMER_ID: p[s.CUSTOMER_ID], s.ITEM_ID: p[s.ITEM_ID],
        s.TITLE: p[s.TITLE].astype(str), s.QUANTITY: pd.Series(signed).fillna(0).astype("int64").to_numpy(),
        s.UNIT_PRICE: price.astype(float), s.TIMESTAMP: p[s.TIMESTAMP],
        s.COUNTRY: p[s.COUNTRY].astype(str), s.IS_RETURN: is_return,
    })
    table[s.REVENUE] = table[s.QUANTITY] * table[s.UNIT_PRICE]
    checks = [("zero_quantity", (qty == 0).to_numpy(bool)),
              ("negative_quantity_on_sale", negative_on_sale),
              ("negative_price", (price < 0).to_numpy(bool))]
    return table[list(s.ORDERS.columns)], checks


def _items(p: dict, raw: pd.DataFrame, m: Mapping) -> tuple[pd.DataFrame, list]:
    in_stock = p[s.IN_STOCK]
    if "stock_level" in m.columns:
        in_stock = (p["stock_level"].fillna(0) > 0)
    title = p[s.TITLE].where(p[s.TITLE] != "", p[s.ITEM_ID])
    table = pd.DataFrame({
        s.ITEM_ID: p[s.ITEM_ID], s.TITLE: title, s.CATEGORY: p[s.CATEGORY].astype(str),
        s.PRICE: p[s.PRICE].astype(float), s.IN_STOCK: in_stock.fillna(True).astype(bool),
        s.FIRST_SEEN: pd.to_datetime(p[s.FIRST_SEEN]).astype("datetime64[ns]"),
    })
    return table, [("negative_price", (table[s.PRICE] < 0).to_numpy(bool))]


def _customers(p: dict, raw: pd.DataFrame, m: Mapping) -> tuple[pd.DataFrame, list]:
    table = pd.DataFrame({
        s.CUSTOMER_ID: p[s.CUSTOMER_ID],
        s.FIRST_SEEN: pd.to_datetime(p[s.FIRST_SEEN]).astype("datetime64[ns]"),
        s.COUNTRY: p[s.COUNTRY].astype(str),
    })
    return table, []


def _events(p: dict, raw: pd.DataFrame, m: Mapping) -> tuple[pd.DataFrame, list]:
    user, session, item = p[s.USER_ID].astype(str), p[s.SESSION_ID].astype(str), p[s.ITEM_ID].astype(str)
    etype = p[s.EVENT_TYPE].astype(str)
    table = pd.DataFrame({
        s.USER_ID: user, s.SESSION_ID: session, s.ITEM_ID: item, s.EVENT_TYPE: etype,
        s.TIMESTAMP: p[s.TIMESTAMP], s.PRICE: p[s.PRICE].astype(float),
        s.QUANTITY: p[s.QUANTITY].astype(float),
    })
    # Rows without an id get one derived from their content, so re-importing the same log
    # gives the same ids and a repeated row is caught as a duplicate.
    given = p[s.EVENT_ID] if p[s.EVENT_ID] is not None else pd.Series([""] * len(table))
    given = given.reset_index(drop=True)
    missing = (given == "").to_numpy(bool)
    if missing.any():
        hashed = pd.util.hash_pandas_object(table[missing], index=False).to_numpy()
        given = given.copy()
        given[missing] = [f"h{h:016x}" for h in hashed]
    table.insert(0, s.EVENT_ID, given.to_numpy())
    table[s.SIMULATED] = (p[s.SIMULATED].fillna(False).astype(bool).to_numpy()
                          if s.SIMULATED in m.columns else bool(m.simulated))
    checks = [
        ("unknown_event_type", (~etype.isin(s.EVENT_TYPES)).to_numpy(bool)),
        ("missing_user_and_session", ((user == "") & (session == "")).to_numpy(bool)),
        ("missing_item_id", ((item == "") & (etype != "search")).to_numpy(bool)),
        ("non_positive_quantity", (table[s.QUANTITY] <= 0).to_numpy(bool)),
        ("negative_price", (table[s.PRICE] < 0).to_numpy(bool)),
    ]
    return table[list(s.EVENTS.columns)], checks
