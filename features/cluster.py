"""Where the data steps and LightGBM's trees run: in this process, or on a Dask cluster.

``--dask local:N`` starts a ``LocalCluster`` of N single-threaded worker processes for the
command; ``--dask tcp://host:8786`` (or ``SHELFWISE_DASK_SCHEDULER``) uses a cluster the shop
already runs, whose workers have shelfwise installed and can read the workspace. Without
either, everything runs in the command's own process.

The cluster runs the same functions the single process does, not a second implementation:

- feature and label building (:func:`features.snapshots.training_set`): a customer's
  features and labels read only their own rows, so the customers are split by a hash of
  their id (:func:`by_customer`), each part is written as Parquet where every worker can
  read it (:func:`staging_area`: the workspace, or ``s3://`` for workers on other machines),
  and each worker reads its parts with ``dask.dataframe`` and builds them with
  :func:`features.customer_features.build_training_set`; the parts are put back in the
  single process's row order;
- the churn and CLTV boosters (:class:`training.customer_models.CustomerModel`): the
  tree-size trials are independent fits, one task each; their final fits and the
  recommender's final ranker are LightGBM's data-parallel training across the workers
  (:mod:`training.cluster_fit`).

What stays on one machine, and why, is in docs/operations.md ("Beyond one machine").
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from features import schema as s
from features.messages import first_line

SCHEDULER_ENV = "SHELFWISE_DASK_SCHEDULER"
# Where the command writes the parts its workers read: a path every worker can read, or
# s3://bucket/prefix; unset, a folder of the workspace.
STAGING_ENV = "SHELFWISE_DASK_STAGING"
# The S3 endpoint of a store other than AWS's, as boto3 and MLflow read it.
S3_ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")


class ClusterSpecError(ValueError):
    """A ``--dask`` value that names no cluster; the message says what to give."""


@dataclass
class Cluster:
    """A connected Dask client and the tasks each worker ran since it connected."""

    client: object  # distributed.Client
    spec: str
    since: float = field(default_factory=time.time)

    @property
    def workers(self) -> list[str]:
        return sorted(self.client.scheduler_info(n_workers=-1)["workers"])

    def tasks_per_worker(self) -> dict[str, int]:
        """How many tasks each worker has run since :func:`connect`."""
        counts = dict.fromkeys(self.workers, 0)
        for task in self.client.get_task_stream(start=self.since):
            counts[task["worker"]] = counts.get(task["worker"], 0) + 1
        return counts

    def describe(self) -> str:
        counts = self.tasks_per_worker()
        return (f"{sum(counts.values()):,} tasks on {len(counts)} workers of {self.spec}: "
                + ", ".join(f"{w} {n:,}" for w, n in counts.items()))


def parse(spec: str | None) -> str | None:
    """``spec`` (``local:N`` or a scheduler address), else ``SHELFWISE_DASK_SCHEDULER``, else
    None; refuses anything else in words."""
    spec = spec or os.environ.get(SCHEDULER_ENV) or None
    if spec is None:
        return None
    if spec.startswith("local:"):
        n = spec.removeprefix("local:")
        if not n.isdigit() or int(n) < 1:
            raise ClusterSpecError(f"--dask {spec}: give local:N with N workers, for example local:2")
        return spec
    if "://" in spec:
        return spec
    raise ClusterSpecError(f"--dask {spec}: give local:N (a cluster of N processes on this machine) "
                           f"or a scheduler's address, for example tcp://scheduler:8786")


@contextmanager
def connect(spec: str | Cluster | None) -> Iterator[Cluster | None]:
    """A :class:`Cluster` for ``spec`` (see :func:`parse`) while the block runs, or None to run
    in this process. A local cluster is started here and stopped after; a :class:`Cluster`
    already connected (a command that runs another's steps) is used as it is and left open."""
    if isinstance(spec, Cluster):
        yield spec
        return
    spec = parse(spec)
    if spec is None:
        yield None
        return
    from distributed import Client, LocalCluster, get_task_stream

    if spec.startswith("local:"):
        # One thread per worker: LightGBM and BLAS get one core each, as in a single process.
        local = LocalCluster(n_workers=int(spec.removeprefix("local:")), threads_per_worker=1, processes=True,
                             dashboard_address=None, silence_logs=logging.WARNING)
        client = Client(local)
    else:
        local, client = None, Client(spec, timeout="30s")
    try:
        with get_task_stream(client):  # the scheduler records each task's worker from here on
            yield Cluster(client, spec)
    finally:
        client.close()
        if local is not None:
            local.close()


def customer_part(ids: pd.Series, n: int) -> np.ndarray:
    """Each customer's part, 0..n-1, from a hash of their id: pandas' SipHash under its fixed
    key, the same on every machine and run, unlike Python's ``hash``; -1 for no customer (a
    missing or blank id: an anonymous visitor's events). A categorical's categories are
    hashed once, not its rows."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        parts = _part_of(ids.cat.categories.to_numpy(str).astype(object), n)
        return np.append(parts, -1)[ids.cat.codes.to_numpy()]  # code -1, missing, picks the last
    return _part_of(ids.to_numpy(str, na_value="").astype(object), n)


def _part_of(ids: np.ndarray, n: int) -> np.ndarray:
    return np.where(ids == "", -1, (pd.util.hash_array(ids) % np.uint64(n)).astype(np.int64))


def by_customer(orders: pd.DataFrame, events: pd.DataFrame | None, n: int
                ) -> Iterator[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """``orders`` and ``events`` in ``n`` parts of whole customers, one at a time; events
    without a known shopper (anonymous sessions) go in no part: customer features never read
    them (:class:`features.customer_features.History`)."""
    order_part = customer_part(orders[s.CUSTOMER_ID], n)
    event_part = customer_part(events[s.USER_ID], n) if events is not None else None
    for i in range(n):
        yield orders[order_part == i], (events[event_part == i] if events is not None else None)


@dataclass(frozen=True)
class Staging:
    """A folder the command and every worker can read and write: ``filesystem`` (pyarrow's,
    which pickles to the workers with its settings) and ``root`` inside it."""

    filesystem: object  # pyarrow.fs.FileSystem
    root: str

    def url(self) -> str:
        return f"s3://{self.root}" if self.filesystem.type_name == "s3" else self.root


def staging_area(default: Path, spec: str | None = None) -> Staging:
    """Where the parts a cluster's workers read are written: ``spec``, else
    ``$SHELFWISE_DASK_STAGING``, else ``default`` (a folder of the workspace, which a local
    cluster's workers, or workers that mount the workspace, read). ``s3://bucket/prefix``
    reaches workers on other machines; its credentials are the usual ``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY``, and a store other than AWS's is named by ``AWS_ENDPOINT_URL_S3``,
    ``AWS_ENDPOINT_URL`` or ``MLFLOW_S3_ENDPOINT_URL`` (the one MLflow's artifacts use)."""
    import pyarrow.fs as pafs

    spec = spec or os.environ.get(STAGING_ENV) or str(default)
    if spec.startswith("s3://"):
        endpoint = next((os.environ[k] for k in S3_ENDPOINT_ENVS if os.environ.get(k)), None)
        region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
        options = {"region": region}
        if endpoint:
            parsed = urlsplit(endpoint)
            options |= {"endpoint_override": parsed.netloc or parsed.path, "scheme": parsed.scheme or "https"}
        return Staging(pafs.S3FileSystem(**options), spec.removeprefix("s3://").rstrip("/"))
    if "://" in spec:
        raise ClusterSpecError(f"{STAGING_ENV}={spec}: give a folder every worker can read, or s3://bucket/prefix")
    return Staging(pafs.LocalFileSystem(), str(Path(spec).resolve()))


@contextmanager
def staged_parts(staging: Staging, parts: Iterator[tuple[pd.DataFrame, pd.DataFrame | None]]
                 ) -> Iterator[list[tuple[str, str | None]]]:
    """``parts`` written to a new folder of ``staging``, one Parquet file per part and table,
    while the block runs (removed after); yields each part's paths, orders then events."""
    import uuid

    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    fs, folder = staging.filesystem, f"{staging.root}/build-{uuid.uuid4().hex[:12]}"
    local = fs.type_name == "local"  # an object store has no folders to make
    paths = []
    try:
        for i, (o, e) in enumerate(parts):
            pair = []
            for name, frame in (("orders", o), ("events", e)):
                if frame is None:
                    pair.append(None)
                    continue
                path = f"{folder}/{name}/part-{i:05d}.parquet"
                try:
                    if local:
                        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
                    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, filesystem=fs)
                except OSError as exc:
                    raise ClusterSpecError(
                        f"could not write the cluster's parts to {staging.url()} ({first_line(exc)}): give "
                        f"{STAGING_ENV} a folder or an existing bucket every worker can read, and "
                        f"credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) allowed to write") from None
                pair.append(path)
            paths.append(tuple(pair))
        yield paths
    finally:
        if paths and fs.get_file_info(folder).type != pafs.FileType.NotFound:
            fs.delete_dir(folder)


def read_part(staging: Staging, path: str | None):
    """One staged part, read on a worker through ``dask.dataframe``, as one delayed pandas
    frame (None for no table)."""
    if path is None:
        return None
    import dask
    import dask.dataframe as dd

    pieces = dd.read_parquet(path, filesystem=staging.filesystem).to_delayed()
    return pieces[0] if len(pieces) == 1 else dask.delayed(pd.concat)(pieces, ignore_index=True)
