"""Where the data steps and LightGBM's trees run: in this process, or on a Dask cluster.

``--dask local:N`` starts a ``LocalCluster`` of N single-threaded worker processes for the
command; ``--dask tcp://host:8786`` (or ``SHELFWISE_DASK_SCHEDULER``) uses a cluster the shop
already runs, whose workers have shelfwise installed and can read the workspace. Without
either, everything runs in the command's own process.

The cluster runs the same functions the single process does, not a second implementation:

- feature and label building (:func:`features.snapshots.training_set`): a customer's
  features and labels read only their own rows, so the customers are split by a hash of
  their id (:func:`by_customer`) and each part is built by
  :func:`features.customer_features.build_training_set` on a worker; the parts are put back
  in the single process's row order;
- the churn and CLTV boosters (:class:`training.customer_models.CustomerModel`): the
  tree-size trials are independent fits, one task each; their final fits and the
  recommender's final ranker are LightGBM's data-parallel training across the workers
  (:mod:`training.cluster_fit`).

What stays on one machine, and why, is in docs/operations.md ("Beyond one machine").
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import schema as s

SCHEDULER_ENV = "SHELFWISE_DASK_SCHEDULER"


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
    """Each customer's part, 0..n-1, from a hash of their id (the same on every machine and
    run, unlike Python's ``hash``)."""
    uniques, codes = np.unique(ids.astype(str).to_numpy(), return_inverse=True)
    parts = np.array([int.from_bytes(hashlib.blake2b(u.encode(), digest_size=8).digest(), "big") % n
                      for u in uniques], dtype=np.int64)
    return parts[codes]


def by_customer(orders: pd.DataFrame, events: pd.DataFrame | None, n: int
                ) -> list[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """``orders`` and ``events`` split into ``n`` parts of whole customers; events without a
    known shopper (anonymous sessions) go in no part: customer features never read them
    (:class:`features.customer_features.History`)."""
    order_part = customer_part(orders[s.CUSTOMER_ID], n)
    out = []
    if events is not None:
        known = (events[s.USER_ID].notna() & (events[s.USER_ID].astype(str) != "")).to_numpy()
        event_part = np.full(len(events), -1)
        event_part[known] = customer_part(events.loc[known, s.USER_ID], n)
    for i in range(n):
        o = orders[order_part == i]
        e = events[event_part == i] if events is not None else None
        out.append((o, e))
    return out
