"""Customer scores computed once per model version and data, and read by every worker.

Scoring every customer (their features, both models' predictions, each prediction's SHAP
drivers) and profiling them for segments (RFM, lifecycle, spend per category) is the part
of a worker's start that grows with the customers: LightGBM's contributions alone take
seconds per 10,000 customers, and the profiles need every order line in memory. So both
are tables in the workspace, one row per customer, where ``key`` names the churn and CLTV
champions and the tables they were computed from (orders, events, customers, items):

- ``scores/customers-<key>.parquet``: ``customer_id``, the columns of ``POST /customer`` and
  each family's drivers, and the date scored as of (in the file's metadata);
- ``scores/profiles-<key>.parquet``: ``customer_id``, the columns of
  :func:`features.profiles.customer_profiles` and ``spend:<category>`` per item category.

The batch step (``shelfwise score customers``) writes them; a worker that finds them reads
them and never reads the orders, and one that does not (models or data changed since)
computes them and writes them for the others, holding a lock meanwhile so two workers
starting together score once. A shop of more than ``part_rows`` order lines and events is
scored a part of the customers at a time (:mod:`features.customer_parts`), with the same
result: a customer's scores and profile read only their own rows, the shop's home country and
the date; the ranks and RFM quintiles are then set among all of them.

The table is as fresh as the data it was computed on: events the service received after it
count from the next table (new data or champions, or ``shelfwise score customers --refresh``).
It holds customer ids, so erasure rewrites it like every other file in the workspace.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow.parquet as pq

from features import schema as s
from features.customer_features import EVENT_COLUMNS, HOME_CODED, HOME_COLUMNS, baskets, home_country
from features.customer_parts import PART_ROWS, customer_parts, part_count
from features.profiles import category_revenue, customer_profiles, profile_facts, scored_profiles
from features.workspace import Workspace
from serving.runtime.models import CustomerScorer, cltv_ranks, day_after
from serving.runtime.shared_store import shared_store

log = logging.getLogger("shelfwise")
SCORES = "scores"
FORMAT = "shelfwise-scores-v2"
KEEP = 2  # tables kept: the newest and the one before it (a worker may still be reading it)
SPEND = "spend:"  # the prefix of the profiles' per-category spend columns
INPUTS = ("orders", "events", "customers", "items")
Source = Path | BinaryIO | Callable[[], BinaryIO]  # a table's Parquet file or bytes


@dataclass
class ScoredCustomers:
    """Every customer's scores and what segments are defined on, as of the scorer's date.

    Attributes
    ----------
    scorer :
        The served churn and CLTV scores and their drivers.
    profiles :
        :func:`features.profiles.customer_profiles`, one row per customer with a purchase.
    category_spend :
        :func:`features.profiles.category_revenue`: net revenue per customer and item category.
    """

    scorer: CustomerScorer
    profiles: pd.DataFrame
    category_spend: pd.DataFrame

    @classmethod
    def compute(cls, scorer: CustomerScorer, orders: pd.DataFrame, customers: pd.DataFrame | None,
                items: pd.DataFrame | None) -> ScoredCustomers:
        """Profile the customers of ``orders`` as of ``scorer``'s date (``customers``, when
        given, says their country; ``items`` their categories)."""
        return cls(scorer, customer_profiles(orders, scorer.as_of, customers),
                   category_revenue(orders, _categories(items), scorer.as_of))

    def profile_table(self) -> pd.DataFrame:
        """:attr:`profiles` and :attr:`category_spend` as one table, what :meth:`read` splits."""
        spend = self.category_spend.reindex(self.profiles.index, fill_value=0.0).add_prefix(SPEND)
        return pd.concat([self.profiles, spend], axis=1).rename_axis("customer_id").reset_index()

    @classmethod
    def read(cls, paths: dict[str, Path], scores: Source, profiles: Source) -> ScoredCustomers:
        """What :meth:`tables` wrote (files, bytes, or a function giving the bytes when they
        are wanted), with the champions' model directories (``paths``)."""
        table = pd.read_parquet(_opened(scores)).set_index("customer_id")
        scorer = CustomerScorer(paths.get("churn"), paths.get("cltv"), table=table)
        both = pd.read_parquet(_opened(profiles)).set_index("customer_id")
        spend = [c for c in both.columns if c.startswith(SPEND)]
        return cls(scorer, both.drop(columns=spend),
                   both[spend].rename(columns=lambda c: c.removeprefix(SPEND)))

    def tables(self) -> tuple[bytes, bytes]:
        """The scores' and the profiles' tables as Parquet bytes, what :meth:`read` reads."""
        out = []
        for table in (self.scorer.to_table().rename_axis("customer_id").reset_index(), self.profile_table()):
            buffer = io.BytesIO()
            table.to_parquet(buffer, index=False)
            out.append(buffer.getvalue())
        return out[0], out[1]


def _opened(source: Source) -> Path | BinaryIO:
    return source() if callable(source) else source


def _fingerprint(path: Path) -> str | None:
    """A table's Parquet footer (rows, each row group's sizes and column statistics) hashed,
    or None without the table: any machine holding the same table reads the same footer, and
    new rows, or changed ones, change its sizes or statistics."""
    if not path.exists():
        return None
    footer = json.dumps(pq.read_metadata(path).to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(footer.encode()).hexdigest()


def table_key(workspace: Workspace, versions: dict[str, str]) -> str:
    """What the scores depend on: the churn and CLTV versions, and the tables they are
    computed from (by their footers: hashing their contents took longer than reading them)."""
    tables = {name: _fingerprint(workspace.table_path(name)) for name in INPUTS}
    state = {"format": FORMAT, "churn": versions.get("churn"), "cltv": versions.get("cltv"), **tables}
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def table_path(workspace: Workspace, versions: dict[str, str], kind: str = "customers") -> Path:
    """The scores table (``kind`` "customers") or the profiles table ("profiles")."""
    return _file(workspace, table_key(workspace, versions), kind)


def _file(workspace: Workspace, key: str, kind: str) -> Path:
    return workspace.home / SCORES / f"{kind}-{key}.parquet"


@contextmanager
def locked(folder: Path):
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def customer_scores(workspace: Workspace, paths: dict[str, Path], versions: dict[str, str],
                    refresh: bool = False, part_rows: int = PART_ROWS,
                    say: Callable[[str], None] = log.info) -> tuple[ScoredCustomers, bool]:
    """Every customer scored by these champions (``paths`` and ``versions`` by family) and
    profiled, on the workspace's data: read from its tables when they are there (unless
    ``refresh``: scored again with the live events received since), else computed from the
    workspace's tables and written. The tables are files of the workspace, or rows of the
    shared store when the workspace names one (:mod:`serving.runtime.shared_store`). Above
    ``part_rows`` order lines and events they are computed a part of the customers at a time,
    each part told to ``say``. Returns them and whether they were read."""
    key = table_key(workspace, versions)
    shared = shared_store(workspace.shared_store_url)
    if shared is not None:
        with shared.scoring(key) as tables:
            if not refresh and tables.exists():
                try:  # one table in memory at a time: each is parsed before the next is fetched
                    return ScoredCustomers.read(paths, lambda: tables.read("scores"),
                                                lambda: tables.read("profiles")), True
                except (OSError, ValueError, KeyError) as exc:
                    log.warning("customer scores %s of the shared store could not be read (%s); "
                                "scoring again", key, exc)
            scored = _score(workspace, paths, part_rows, say)
            tables.write(*scored.tables())
            return scored, False
    scores, profiles = _file(workspace, key, "customers"), _file(workspace, key, "profiles")
    with locked(scores.parent):
        if scores.exists() and profiles.exists() and not refresh:
            try:
                return ScoredCustomers.read(paths, scores, profiles), True
            except (OSError, ValueError, KeyError) as exc:  # unreadable or of another layout: score anew
                log.warning("customer scores %s could not be read (%s); scoring again", scores, exc)
        scored = _score(workspace, paths, part_rows, say)
        write(scored, scores, profiles)
        return scored, False


def _score(workspace: Workspace, paths: dict[str, Path], part_rows: int, say: Callable[[str], None]
           ) -> ScoredCustomers:
    customers = workspace.read_table_if_present("customers")
    items = workspace.read_table_if_present("items")
    n = part_count(workspace.table_rows("orders") + workspace.table_rows("events"), part_rows)
    if n > 1:
        return _score_in_parts(workspace, paths, n, customers, items, say)
    orders = workspace.read_table("orders")
    events = workspace.read_events(EVENT_COLUMNS)
    scorer = CustomerScorer(paths.get("churn"), paths.get("cltv"), orders, events)
    return ScoredCustomers.compute(scorer, orders, customers, items)


def _score_in_parts(workspace: Workspace, paths: dict[str, Path], n: int, customers: pd.DataFrame | None,
                    items: pd.DataFrame | None, say: Callable[[str], None]) -> ScoredCustomers:
    """:func:`_score` ``n`` parts of the customers at a time: the tables are split into a
    temporary folder of the workspace, each part is scored and profiled as of the whole
    shop's date with its home country, and the CLTV ranks and RFM scores are set among all."""
    lines = workspace.read_table("orders", HOME_COLUMNS, categorical=HOME_CODED)
    as_of = day_after(lines)
    home = home_country(baskets(lines), as_of)
    del lines
    categories = _categories(items)
    tables, facts, spend = [], [], []
    folder = workspace.home / SCORES
    folder.mkdir(parents=True, exist_ok=True)
    churn, cltv = paths.get("churn"), paths.get("cltv")
    with tempfile.TemporaryDirectory(dir=folder, prefix=".parts-") as tmp:
        for i, orders, events in customer_parts(
                workspace.table_batches("orders"), workspace.event_batches(EVENT_COLUMNS), n, Path(tmp),
                split=lambda: say(f"split the order lines and events into {n} parts of customers")):
            scorer = CustomerScorer(churn, cltv, orders, events, as_of=as_of, home=home)
            tables.append(scorer.to_table())
            facts.append(profile_facts(orders, as_of, customers))
            spend.append(category_revenue(orders, categories, as_of))
            say(f"part {i + 1}/{n}: {len(tables[-1]):,} customers scored")
            del scorer, orders, events
    table = cltv_ranks(pd.concat(tables).sort_index())
    table.attrs["as_of"] = as_of.isoformat()
    spent = pd.concat(spend).sort_index()
    return ScoredCustomers(CustomerScorer(churn, cltv, table=table),
                           scored_profiles(pd.concat(facts).sort_index()),
                           spent[sorted(spent.columns)].fillna(0.0))


def _categories(items: pd.DataFrame | None) -> pd.DataFrame:
    """The items table, or none: every item's category is then ``other``."""
    if items is None:
        return pd.DataFrame({s.ITEM_ID: pd.Series(dtype=str), s.CATEGORY: pd.Series(dtype=str)})
    return items


def write(scored: ScoredCustomers, scores: Path, profiles: Path) -> None:
    """Write ``scored``'s two tables whole (a reader never sees half of one; the profiles go
    last, so a reader that finds them finds the scores) and remove all but the :data:`KEEP`
    newest of each."""
    for data, path in zip(scored.tables(), (scores, profiles), strict=True):
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    for kind in ("customers", "profiles"):
        prune(scores.parent, f"{kind}-*.parquet", KEEP)


def prune(folder: Path, pattern: str, keep: int) -> None:
    """Remove all but the ``keep`` newest files of ``folder`` matching ``pattern``."""
    files = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)


def without_customer(table: bytes, customer_id: str) -> tuple[bytes, int]:
    """A score or profile table's Parquet bytes without ``customer_id``'s rows, and how many
    there were (the bytes unchanged when none)."""
    frame = pd.read_parquet(io.BytesIO(table))
    keep = frame["customer_id"].astype(str) != customer_id
    removed = int((~keep).sum())
    if not removed:
        return table, 0
    buffer = io.BytesIO()
    frame[keep].to_parquet(buffer, index=False)
    return buffer.getvalue(), removed
