"""Customer features a part of the customers at a time, for a shop whose history is too large
to hold at once.

A customer's features and labels read only their own order lines and events, and the shop's
home country. So ``features build`` on a large shop splits the order lines and events into
parts of whole customers on disk (one pass over each table, a batch of rows at a time), then
builds each part's as-of features, training rows and rows of the interaction matrix alone, with
the home country taken once from every customer's orders. The result is the same frames and
matrix, row for row, as building them from the whole tables
(``tests/features/test_customer_parts.py``); the memory held is a part's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features import schema as s
from features.cluster import customer_part
from features.customer_features import (
    CUTOFF,
    History,
    build_customer_features,
    build_training_set,
    home_country,
)
from features.interactions import Interactions, InteractionWeights, build_interactions, stack_users
from features.snapshots import digest_of, hash_sum

# Order lines and events in a part, whose memory grows with it (benchmarks.md, "Scale"); a shop
# with no more is built whole, with no pass to split it.
PART_ROWS = 15_000_000
CODED_EVENTS = [s.USER_ID, s.SESSION_ID, s.ITEM_ID, s.EVENT_TYPE]


def part_count(rows: int, part_rows: int = PART_ROWS) -> int:
    """Parts for ``rows`` order lines and events: 1 (build whole) up to ``part_rows``."""
    return max(1, math.ceil(rows / part_rows))


def home_countries(basket_rows: pd.DataFrame, as_of: pd.Timestamp, cutoffs: list[pd.Timestamp],
                   kept: pd.Index | None) -> tuple[str | None, dict[pd.Timestamp, str | None]]:
    """The home country as of ``as_of`` among every customer's :func:`baskets`, and at each
    cutoff among the ``kept`` customers' (None: all), as building whole finds them."""
    model = basket_rows if kept is None else basket_rows[basket_rows[s.CUSTOMER_ID].isin(kept).to_numpy()]
    return home_country(basket_rows, as_of), {c: home_country(model, c) for c in cutoffs}


@dataclass
class PartsBuild:
    """What :func:`build_in_parts` returns.

    Attributes
    ----------
    customers : DataFrame
        Every customer's features as of the cutoff, as :func:`build_customer_features`.
    interactions : tuple or None
        :func:`features.interactions.build_interactions`'s matrix and ids as of the cutoff (None:
        not asked for).
    training : DataFrame or None
        The model customers' training set, as :func:`build_training_set` (None: no cutoffs).
    digest : str
        :func:`features.snapshots.inputs_digest` of the model customers' orders and events.
    """

    customers: pd.DataFrame
    interactions: Interactions | None
    training: pd.DataFrame | None
    digest: str


def split_by_customer(frames: Iterable[pd.DataFrame], key: str, n: int, folder: Path,
                      others: Callable[[pd.DataFrame], None] | None = None) -> list[Path | None]:
    """Write ``frames`` into ``n`` Parquet files of whole customers (by ``key``), a frame at a
    time; rows without a customer (anonymous events) go to ``others``, not to a part.

    Returns each part's file (None: no rows). Categoricals are written as their values, with
    every frame's columns cast to the first's types.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"part-{i:05d}.parquet" for i in range(n)]
    writers: dict[int, pq.ParquetWriter] = {}
    schema = None
    try:
        for frame in frames:
            part = customer_part(frame[key], n)
            known = part >= 0
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if schema is None:
                schema = pa.schema([f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f
                                    for f in table.schema]).remove_metadata()
            table = table.cast(schema)
            if others is not None and not known.all():  # as parts hold them: times in the table's unit
                others(table.filter(pa.array(~known)).to_pandas())
            for i in np.unique(part[known]):
                if i not in writers:
                    writers[i] = pq.ParquetWriter(paths[i], schema)
                writers[i].write_table(table.filter(pa.array(part == i)))
    finally:
        for w in writers.values():
            w.close()
    return [p if i in writers else None for i, p in enumerate(paths)]


def read_part(path: Path | None, categorical: list[str] | None = None) -> pd.DataFrame | None:
    import pyarrow.parquet as pq

    if path is None:
        return None
    return pq.read_table(path, read_dictionary=categorical or None).to_pandas()


def build_in_parts(orders: Iterator[pd.DataFrame], events: Iterator[pd.DataFrame] | None, n: int,
                   folder: Path, as_of: pd.Timestamp, home: str | None, cutoffs: list[pd.Timestamp],
                   horizon_days: int, feature_set: str, kept: pd.Index | None,
                   homes: dict[pd.Timestamp, str | None],
                   weights: InteractionWeights | None = None,
                   progress: Callable[[int, int, int, int], None] | None = None,
                   log: Callable[[str], None] | None = None) -> PartsBuild:
    """Every customer's features (and interactions) as of ``as_of`` and the model customers'
    training set, built ``n`` parts of customers at a time (:func:`split_by_customer` into
    ``folder``).

    Parameters
    ----------
    orders, events : iterators of DataFrame
        The canonical tables a batch of rows at a time
        (:meth:`features.workspace.Workspace.table_batches`, ``event_batches``); events with
        :data:`features.customer_features.EVENT_COLUMNS`.
    home, homes : str, mapping
        The home country as of ``as_of`` among every customer, and at each cutoff among the
        model customers (:func:`features.customer_features.home_country`).
    kept : Index, optional
        The customers churn and CLTV learn from (:func:`features.snapshots.sampled_ids`);
        None: all.
    weights : InteractionWeights, optional
        Build the interactions as of ``as_of`` with them, a part's users at a time.
    progress : callable, optional
        Called as ``progress(i, n, customers, training_rows)`` after each part.
    log : callable, optional
        Told when the tables are split, with their rows.
    """
    digest = {"orders": 0, "orders_rows": 0, "events": 0, "events_rows": 0}

    def anonymous(frame: pd.DataFrame) -> None:  # in the digest when every customer's events are
        if kept is None:
            digest["events"] += hash_sum(frame)
            digest["events_rows"] += len(frame)

    read = {"order lines": 0, "events": 0}

    def counted(frames: Iterator[pd.DataFrame], name: str) -> Iterator[pd.DataFrame]:
        for frame in frames:
            read[name] += len(frame)
            yield frame

    def split() -> None:
        if log is not None:
            log(f"split into {n} parts of customers: {read['order lines']:,} order lines, "
                f"{read['events']:,} events")

    customers, training, matrices = [], [], []
    for i, o, e in customer_parts(counted(orders, "order lines"),
                                  None if events is None else counted(events, "events"),
                                  n, folder, anonymous, split):
        h = History(o, e)
        customers.append(build_customer_features(h, as_of, feature_set=feature_set, home=home))
        if weights is not None and (~o[s.IS_RETURN] & (o[s.TIMESTAMP] < as_of)).any():
            matrices.append(build_interactions(o, as_of, e, weights))
        if kept is not None:
            o = o[o[s.CUSTOMER_ID].isin(kept).to_numpy()].reset_index(drop=True)
            e = None if e is None else e[e[s.USER_ID].isin(kept).to_numpy()].reset_index(drop=True)
            h = History(o, e)
        digest["orders"] += hash_sum(o)
        digest["orders_rows"] += len(o)
        if e is not None:
            digest["events"] += hash_sum(e)
            digest["events_rows"] += len(e)
        rows = 0
        if cutoffs and len(o):
            training.append(build_training_set(h, cutoffs, horizon_days, feature_set=feature_set,
                                               homes=homes))
            rows = len(training[-1])
        del h, o, e
        if progress is not None:
            progress(i + 1, n, len(customers[-1]), rows)
    frame = (pd.concat(training, ignore_index=True).sort_values([CUTOFF, s.CUSTOMER_ID], kind="stable",
                                                                ignore_index=True)
             if training else None)
    if weights is not None and not matrices:
        raise ValueError(f"build_interactions: no purchases before {as_of.date()}")
    return PartsBuild(
        customers=pd.concat(customers).sort_index(),
        interactions=stack_users(matrices) if matrices else None,
        training=frame,
        digest=digest_of(digest["orders"], digest["orders_rows"],
                         None if events is None else digest["events"], digest["events_rows"]),
    )


def customer_parts(orders: Iterable[pd.DataFrame], events: Iterable[pd.DataFrame] | None, n: int,
                   folder: Path, anonymous: Callable[[pd.DataFrame], None] | None = None,
                   split: Callable[[], None] | None = None
                   ) -> Iterator[tuple[int, pd.DataFrame, pd.DataFrame | None]]:
    """The order lines and events of ``n`` parts of whole customers, one part in memory at a
    time: ``(i, orders, events)`` for each part ``i`` with orders.

    Both tables are first :func:`split_by_customer` into ``folder`` (anonymous events to
    ``anonymous``; ``split`` is told when that is done). A part's events are None without an
    event log, and an empty frame when its customers never browsed (0 visits, not unknown).
    """
    order_parts = split_by_customer(orders, s.CUSTOMER_ID, n, folder / "orders")
    event_parts = (split_by_customer(events, s.USER_ID, n, folder / "events", anonymous)
                   if events is not None else None)
    if split is not None:
        split()
    for i, path in enumerate(order_parts):
        if path is None:
            continue
        o, e = read_part(path), None
        if event_parts is not None:
            e = (read_part(event_parts[i], CODED_EVENTS) if event_parts[i] is not None
                 else _no_events(o[s.TIMESTAMP].dtype))
        yield i, o, e
        del o, e  # before the next part is read: one part in memory, not two


def _no_events(times: np.dtype) -> pd.DataFrame:
    """No events, their times in the orders' unit (events are matched to orders by time)."""
    return pd.DataFrame({c: pd.Series(dtype=str) for c in CODED_EVENTS}
                        | {s.TIMESTAMP: pd.Series(dtype=times), s.SIMULATED: pd.Series(dtype=bool)})
