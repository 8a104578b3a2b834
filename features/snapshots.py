"""Feature snapshots: the training set of a churn or CLTV model, built once and read by training.

``shelfwise features build --as-of D`` writes the snapshot of a feature set as of ``D``
(``features/<feature set>/as_of=D/horizon=Nd/``): the stacked training set over the monthly
cutoffs whose label windows end by ``D``, with a manifest of what it was built from (the
feature set and its columns, the cutoffs, and a digest of the order lines and events).
``shelfwise train churn|cltv`` reads the snapshot that matches its own inputs and builds
(and writes) it only when it is missing or stale: new orders or events, another feature set,
other cutoffs. The recommender's candidate features are built inside its training, per
window (:mod:`training.ranker`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from features import schema as s
from features.cluster import Cluster, Staging, by_customer, read_part, staged_parts, staging_area
from features.customer_features import (
    CUTOFF,
    HOME_COLUMNS,
    History,
    baskets,
    build_training_set,
    get_feature_set,
    home_country,
    monthly_cutoffs,
)

SNAPSHOT_FORMAT = "shelfwise-snapshot-v1"
TRAINING_SET = "training_set.parquet"
MANIFEST = "manifest.json"
N_CUTOFFS = 12  # monthly cutoffs a churn or CLTV model learns from
# Customers a churn or CLTV model learns from and is tested on; a larger base is sampled.
MODEL_CUSTOMERS = 200_000


def model_customers(orders: pd.DataFrame, events: pd.DataFrame | None, limit: int | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame | None, int | None]:
    """The order lines and events of the customers a churn or CLTV model learns from.

    Every customer up to ``limit`` (default :data:`MODEL_CUSTOMERS`); above it, the ``limit``
    customers whose ids hash lowest: a sample that does not depend on the rows' order and
    keeps most of its customers when the data grows. A customer's features and labels read
    only their own rows (and the shop's most common country), so a sampled customer's
    training rows are those of the whole base. The snapshots, the fits and the BG/NBD
    baselines cost time in proportion to the customers kept; trees of a few leaves need no
    more than a few hundred thousand.

    Returns
    -------
    orders, events, customers
        The rows kept, and the number of customers sampled from (None: all kept).
    """
    ids = orders[s.CUSTOMER_ID].unique()
    kept = sampled_ids(ids, limit)
    if kept is None:
        return orders, events, None
    orders = orders[orders[s.CUSTOMER_ID].isin(kept).to_numpy()].reset_index(drop=True)
    if events is not None:
        events = events[events[s.USER_ID].isin(kept).to_numpy()].reset_index(drop=True)
    return orders, events, len(ids)


def sampled_ids(ids: np.ndarray, limit: int | None = None) -> pd.Index | None:
    """The ``limit`` ids (default :data:`MODEL_CUSTOMERS`) of ``ids`` (distinct) whose hashes
    are lowest, whatever their order; None when there are no more than ``limit``."""
    limit = MODEL_CUSTOMERS if limit is None else limit
    if len(ids) <= limit:
        return None
    ids = np.asarray(ids, dtype=str).astype(object)
    return pd.Index(ids[np.argpartition(pd.util.hash_array(ids), limit)[:limit]])


def data_end(orders: pd.DataFrame) -> pd.Timestamp:
    """The day after the last order: test windows end here, so the last day's orders count."""
    return orders[s.TIMESTAMP].max().normalize() + pd.Timedelta(days=1)


def training_cutoffs(orders: pd.DataFrame, as_of: pd.Timestamp, horizon_days: int,
                     n: int = N_CUTOFFS) -> list[pd.Timestamp]:
    """The monthly cutoffs a model as of ``as_of`` learns from: ``n`` whose label windows end by
    ``as_of``, those before the first order left out."""
    first_order = orders[s.TIMESTAMP].min()
    return [c for c in monthly_cutoffs(as_of, horizon_days, n) if c > first_order]


def snapshot_dir(features_root: Path, feature_set: str, as_of: pd.Timestamp, horizon_days: int) -> Path:
    return Path(features_root) / feature_set / f"as_of={as_of.date()}" / f"horizon={horizon_days}d"


def inputs_digest(orders: pd.DataFrame, events: pd.DataFrame | None) -> str:
    """A digest of the rows a snapshot is built from (any change of an order line or event
    changes it)."""
    if events is None:
        return digest_of(hash_sum(orders), len(orders), None, 0)
    return digest_of(hash_sum(orders), len(orders), hash_sum(events), len(events))


def digest_of(orders_hash: int, orders_rows: int, events_hash: int | None, events_rows: int) -> str:
    """:func:`inputs_digest` from its parts' hash sums (:func:`hash_sum`, summed over parts of
    the rows) and row counts; ``events_hash`` None: no events."""
    hashes = [orders_hash] if events_hash is None else [orders_hash, events_hash]
    return "-".join(f"{int(h) & (2**64 - 1):016x}" for h in hashes) + f"-{orders_rows}-{events_rows}"


HASH_ROWS = 5_000_000  # rows hashed at a time: a hash per row and column of every row at once took GBs


def hash_sum(frame: pd.DataFrame) -> int:
    """The sum of the rows' hashes, modulo 2**64 (the same taken in parts or at once)."""
    return sum(int(pd.util.hash_pandas_object(frame.iloc[a:a + HASH_ROWS], index=False).sum())
               for a in range(0, len(frame), HASH_ROWS)) & (2**64 - 1)


def snapshot_manifest(feature_set: str, as_of: pd.Timestamp, horizon_days: int, cutoffs: list[pd.Timestamp],
                      digest: str) -> dict:
    return {"format": SNAPSHOT_FORMAT, "feature_set": feature_set,
            "columns": list(get_feature_set(feature_set).columns), "as_of": str(as_of.date()),
            "horizon_days": horizon_days, "cutoffs": [str(c.date()) for c in cutoffs], "inputs": digest}


def training_set(features_root: Path, orders: pd.DataFrame, events: pd.DataFrame | None, as_of: pd.Timestamp,
                 horizon_days: int, feature_set: str, cutoffs: list[pd.Timestamp] | None = None,
                 history: History | None = None, log: Callable[[str], None] = print,
                 progress=None, cluster: Cluster | None = None) -> tuple[pd.DataFrame, Path, bool]:
    """The stacked training set of ``feature_set`` as of ``as_of``: read from its snapshot when
    the snapshot was built from the same inputs, else built and written.

    ``orders`` and ``events`` are those of the customers the model learns from
    (:func:`model_customers`), and ``history``, when given, is prepared from them. With a
    ``cluster``, the set is built there (:func:`build_on_cluster`), the same rows in the same
    order.

    Returns
    -------
    frame, directory, reused
        The training set, the snapshot's directory, and whether it was read rather than built.
    """
    cutoffs = training_cutoffs(orders, as_of, horizon_days) if cutoffs is None else cutoffs
    out = snapshot_dir(features_root, feature_set, as_of, horizon_days)
    wanted = snapshot_manifest(feature_set, as_of, horizon_days, cutoffs, inputs_digest(orders, events))
    if is_current(out, wanted, log):
        return pd.read_parquet(out / TRAINING_SET), out, True
    if cluster is not None:
        frame = build_on_cluster(cluster, staging_area(Path(features_root) / ".cluster"), orders, events,
                                 cutoffs, horizon_days, feature_set, log)
    else:
        history = history if history is not None else History(orders, events)
        frame = build_training_set(history, cutoffs, horizon_days, feature_set=feature_set, progress=progress)
    write_snapshot(out, frame, wanted)
    return frame, out, False


def is_current(out: Path, wanted: dict, log: Callable[[str], None] = print) -> bool:
    """Whether the snapshot in ``out`` was built as ``wanted`` (:func:`snapshot_manifest`) asks:
    the same feature set, cutoffs and inputs."""
    manifest = out / MANIFEST
    if not (manifest.exists() and (out / TRAINING_SET).exists()):
        return False
    found = json.loads(manifest.read_text())
    if {k: found.get(k) for k in wanted} == wanted:
        log(f"[features] snapshot {out} is current: read, not rebuilt")
        return True
    stale = [k for k in wanted if found.get(k) != wanted[k]]
    log(f"[features] snapshot {out} is stale ({', '.join(stale)} changed): rebuilding it")
    return False


def write_snapshot(out: Path, frame: pd.DataFrame, wanted: dict) -> None:
    """Write a training set and its manifest to ``out``: the set first, so a manifest always
    describes the set beside it."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{TRAINING_SET}.tmp"
    frame.to_parquet(tmp, index=False)
    tmp.replace(out / TRAINING_SET)
    built = datetime.now(UTC).isoformat(timespec="seconds")
    (out / MANIFEST).write_text(json.dumps({**wanted, "rows": len(frame), "built": built}, indent=2))


def build_on_cluster(cluster: Cluster, staging: Staging, orders: pd.DataFrame, events: pd.DataFrame | None,
                     cutoffs: list[pd.Timestamp], horizon_days: int, feature_set: str,
                     log: Callable[[str], None] = print) -> pd.DataFrame:
    """:func:`~features.customer_features.build_training_set` on a Dask cluster: the customers
    in parts of whole customers (:func:`features.cluster.by_customer`, two parts per worker),
    each part written as Parquet to ``staging`` (:func:`features.cluster.staging_area`), read
    there by a worker through ``dask.dataframe`` and built on that worker; the parts' rows put
    back in the order one process builds them (by cutoff, then customer). The parts go through
    storage, not through the scheduler, as Dask advises for data of this size. Each part says
    when it is done."""
    import dask
    from distributed import as_completed

    n = 2 * len(cluster.workers)
    rows = baskets(orders[HOME_COLUMNS])
    homes = {c: home_country(rows, c) for c in cutoffs}  # every customer's, not a part's
    parts = (p for p in by_customer(orders, events, n) if len(p[0]))
    with staged_parts(staging, parts) as paths:
        log(f"[features] {len(paths)} parts written to {staging.url()} for the cluster")
        build = dask.delayed(build_training_set, pure=False)
        tasks = [build(read_part(staging, o), cutoffs, horizon_days, read_part(staging, e), feature_set,
                       homes=homes) for o, e in paths]
        frames = []
        for done, future in enumerate(as_completed(cluster.client.compute(tasks)), start=1):
            frames.append(future.result())
            log(f"[features] part {done}/{len(tasks)} built on the cluster: {len(frames[-1]):,} rows")
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values([CUTOFF, s.CUSTOMER_ID], kind="stable", ignore_index=True)
