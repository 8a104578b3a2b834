"""The data steps on a Dask cluster: the same functions on parts of whole customers, put back
as one process builds them."""

from pathlib import Path

import pandas as pd
import pytest

from features import cluster
from features.customer_features import DEFAULT_FEATURE_SET, build_training_set, monthly_cutoffs
from features.snapshots import build_on_cluster
from features.sources.simulate import simulate_events
from tests.conftest import make_small_shop


def test_a_cluster_is_named_in_words_or_refused_in_words(monkeypatch):
    monkeypatch.delenv(cluster.SCHEDULER_ENV, raising=False)
    assert cluster.parse(None) is None
    assert cluster.parse("local:2") == "local:2"
    assert cluster.parse("tcp://scheduler:8786") == "tcp://scheduler:8786"
    monkeypatch.setenv(cluster.SCHEDULER_ENV, "tcp://10.0.0.5:8786")
    assert cluster.parse(None) == "tcp://10.0.0.5:8786"
    for bad in ("local:0", "local:two", "scheduler"):
        with pytest.raises(cluster.ClusterSpecError, match="local:N"):
            cluster.parse(bad)


def test_parts_hold_whole_customers_and_leave_anonymous_events_out(orders, events):
    parts = list(cluster.by_customer(orders, events, 3))
    assert sum(len(o) for o, _ in parts) == len(orders)
    seen = [set(o["customer_id"]) for o, _ in parts]
    assert set().union(*seen) == set(orders["customer_id"]) and sum(map(len, seen)) == len(set().union(*seen))
    for i, (_, e) in enumerate(parts):  # a shopper's events go to their part, orders or not
        assert (cluster.customer_part(e["user_id"], 3) == i).all()
    assert sum(len(e) for _, e in parts) == (events["user_id"] != "").sum()
    # The same part on every run and machine: a hash of the id, not Python's salted one.
    again = cluster.customer_part(orders["customer_id"], 3)
    assert (again == cluster.customer_part(orders["customer_id"], 3)).all()


def _small_shop_with_events():
    orders = make_small_shop()
    events = simulate_events(orders)
    events["timestamp"] = events["timestamp"].astype(orders["timestamp"].dtype)  # as both read from Parquet
    return orders, events


CUTOFFS = monthly_cutoffs(pd.Timestamp("2011-03-01"), 60, 4)


def test_a_training_set_built_on_a_local_cluster_is_the_one_built_here(tmp_path):
    orders, events = _small_shop_with_events()
    here = build_training_set(orders, CUTOFFS, 60, events)
    said = []
    with cluster.connect("local:2") as dask:
        there = build_on_cluster(dask, cluster.staging_area(tmp_path / "staging"), orders, events, CUTOFFS, 60,
                                 DEFAULT_FEATURE_SET, log=said.append)
        tasks = dask.tasks_per_worker()
    pd.testing.assert_frame_equal(there, here)
    assert len(tasks) == 2 and all(n > 0 for n in tasks.values())  # both workers read and built parts
    assert f"4 parts written to {tmp_path / 'staging'}" in said[0]
    assert not any((tmp_path / "staging").iterdir())  # the parts are removed once built


def test_workers_read_their_parts_from_s3(s3_store, monkeypatch):
    """Workers on other machines share no disk with the command: the parts go through an
    S3 store, named as MLflow's artifacts are."""
    s3_store["client"]().create_bucket(Bucket="cluster")
    monkeypatch.setenv(cluster.STAGING_ENV, "s3://cluster/shop-a")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_store["endpoint"])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_store["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_store["secret"])
    orders, events = _small_shop_with_events()
    staging = cluster.staging_area(Path("/nowhere"))
    assert staging.url() == "s3://cluster/shop-a"
    with monkeypatch.context() as wrong:  # no store there: said in words, not as pyarrow's traceback
        wrong.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:1")
        unreachable = cluster.staging_area(Path("/nowhere"))
    with pytest.raises(cluster.ClusterSpecError, match="could not write the cluster's parts to s3://cluster/shop-a"):
        with cluster.staged_parts(unreachable, iter([(orders, events)])):
            pass
    said = []
    try:
        with cluster.connect("local:2") as dask:
            there = build_on_cluster(dask, staging, orders, events, CUTOFFS, 60, DEFAULT_FEATURE_SET,
                                     log=said.append)
        pd.testing.assert_frame_equal(there, build_training_set(orders, CUTOFFS, 60, events))
        assert "written to s3://cluster/shop-a" in said[0]
        left = s3_store["client"]().list_objects_v2(Bucket="cluster", Prefix="shop-a/build-").get("Contents", [])
        assert left == []  # the parts are removed once built
    finally:  # the store is shared by the session's tests: its volumes are not left taken
        client = s3_store["client"]()
        for o in client.list_objects_v2(Bucket="cluster").get("Contents", []):
            client.delete_object(Bucket="cluster", Key=o["Key"])
        client.delete_bucket(Bucket="cluster")


def test_a_staging_area_is_a_folder_or_s3(monkeypatch, tmp_path):
    monkeypatch.delenv(cluster.STAGING_ENV, raising=False)
    assert cluster.staging_area(tmp_path).url() == str(tmp_path)
    with pytest.raises(cluster.ClusterSpecError, match="s3://bucket/prefix"):
        cluster.staging_area(tmp_path, "gs://bucket/x")
