"""Importing a file into the workspace: read and check it, leave out forgotten customers, keep
the rejects with their reasons and the import's report, write the table and the tables
derived from it. ``shelfwise ingest`` and ``shelfwise retrain`` (its inbox) call these.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from features import schema as s
from features.privacy import drop_forgotten
from features.sources import mapped, online_retail
from features.sources.cdnow import read_cdnow
from features.sources.imports import ImportReport
from features.workspace import Workspace

SOURCES = ("online-retail-ii", "cdnow", "mapped")
# Tables an orders import derives, each from the orders' columns named; replaced on each
# orders import unless imported themselves.
DERIVED = {"items": (online_retail.build_items, [s.ITEM_ID, s.TITLE, s.IS_RETURN, s.TIMESTAMP, s.UNIT_PRICE]),
           "customers": (online_retail.build_customers, [s.CUSTOMER_ID, s.TIMESTAMP, s.COUNTRY])}


Imported = tuple[str, pd.DataFrame, pd.DataFrame, ImportReport, str]
Part = tuple[pd.DataFrame, pd.DataFrame, ImportReport]


def read_import(path: Path, source: str | None, mapping_file: Path | None = None,
                table_name: str | None = None, say: Callable[[str], None] = print) -> Imported:
    """Read and validate one file: ``(table name, accepted rows, rejects, report, label)``."""
    name, parts, label = read_import_parts(path, source, mapping_file, table_name, say)
    tables, rejects, reports = zip(*parts, strict=True)
    return (name, pd.concat(tables, ignore_index=True), pd.concat(rejects, ignore_index=True),
            ImportReport.merged(list(reports)), label)


def read_import_parts(path: Path, source: str | None, mapping_file: Path | None = None,
                      table_name: str | None = None,
                      say: Callable[[str], None] = print) -> tuple[str, Iterable[Part], str]:
    """``(table name, parts, label)``: a shop's export (``--mapping`` or ``--table``) is read and
    validated a part at a time as the parts are taken (:func:`features.sources.mapped.load_parts`),
    so that an export larger than memory can be imported; the public data sets are one part.
    Each part is ``(accepted rows, rejects, report)``."""
    t0 = time.perf_counter()
    source = "mapped" if mapping_file or table_name else source
    if source == "mapped":
        if mapping_file:
            mapping = mapped.Mapping.read(mapping_file)
            label = f"{path} mapped by {mapping_file}"
        elif table_name:
            mapping = mapped.Mapping.canonical(table_name, path)
            label = f"{path} (canonical columns)"
        else:
            raise ValueError("--source mapped needs --mapping FILE (a .toml or .yaml column mapping), "
                             "or --table NAME for a file that already has the canonical columns")
        return mapping.table, mapped.load_parts(path, mapping), label
    if source == "cdnow":
        table = read_cdnow(path)
        rejects = pd.DataFrame(columns=[s.SOURCE_ROW, s.REASON])
        report = ImportReport(str(path), "orders", len(table), len(table))
        return "orders", [(table, rejects, report)], f"{path} (CDNOW)"
    if source == "online-retail-ii":
        raw = online_retail.read_raw(path)
        say(f"read {len(raw):,} rows from {path} ({time.perf_counter() - t0:.1f}s)")
        return "orders", [online_retail.load_orders(raw, str(path))], f"{path} (Online Retail II)"
    raise ValueError("give --source (online-retail-ii, cdnow) or --mapping FILE")


def leave_out_forgotten(forgotten: set[str], table: pd.DataFrame, rejects: pd.DataFrame,
                        report: ImportReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of customers erased by `shelfwise forget` stay out of the workspace: counted as set
    aside (reason forgotten_customer), their contents not kept, not even among the rejects."""
    table, n = drop_forgotten(table, forgotten)
    rejects, n_rejects = drop_forgotten(rejects, forgotten)
    if n:
        report.accepted -= n
        report.rejected["forgotten_customer"] = n
        report.reasons["forgotten_customer"] = "the customer was erased (shelfwise forget); rows not kept"
    if n_rejects:
        report.notes.append(f"{n_rejects:,} rejected rows of erased customers counted but not kept")
    report.check()
    return table, rejects


def is_derived(ws: Workspace, name: str, sources: dict | None = None) -> bool:
    """Whether table ``name`` is derived from the orders (or absent), not a shop's own import."""
    sources = ws.table_sources() if sources is None else sources
    return sources.get(name, {}).get("source", "derived").startswith("derived")


def store_import(ws: Workspace, name: str, parts: Iterable[pd.DataFrame], label: str) -> list[str]:
    """Write a table from its parts (replacing it) and, for orders, the tables derived from it
    (from the written table's columns they use, not from the parts)."""
    _, rows = ws.write_table_parts(name, parts, label)
    written = [f"{rows:,} rows -> table '{name}'"]
    if name == "orders":
        sources = ws.table_sources()
        for derived, (build, columns) in DERIVED.items():
            if is_derived(ws, derived, sources):
                table = build(ws.read_table("orders", columns=columns))
                ws.write_table(derived, table, f"derived from orders ({label})")
                written.append(f"{len(table):,} {derived} derived from orders")
            else:
                written.append(f"{derived} kept as imported from {sources[derived]['source']}")
    return written


def keep_report(ws: Workspace, name: str, rejects: pd.DataFrame, report: ImportReport,
                rejects_name: str | None = None, say: Callable[[str], None] = print) -> Path:
    """Keep the rejects with their reasons and the import's counts in the workspace; print them."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = ws.rejects / f"{rejects_name or name}.parquet"
    rejects.to_parquet(out, index=False)
    (ws.reports / f"ingest-{name}-{stamp}.json").write_text(json.dumps(report.as_dict(), indent=2))
    for line in report.lines():
        say(line)
    return out
