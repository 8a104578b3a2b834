import json
import time

import pytest

from features.live.sqlite_store import SQLiteLiveStore
from serving.runtime.exposure_log import ExposureLog, items_json, new_recommendation_id


def _body(*items: str) -> str:
    return items_json(list(items))


@pytest.fixture
def store(tmp_path):
    return SQLiteLiveStore(tmp_path / "live.sqlite")


def test_answers_are_written_with_their_items_and_empty_answers_are_not(store):
    log = ExposureLog(store, flush_seconds=3600, clock=lambda: 1000.0)
    log.shown("/recommend", "champion", "shelfwise-recs/1", "u1", "s1", _body("a", "b"), "r1")
    log.shown("/trending", "champion", "shelfwise-recs/1", None, None, _body(), "r2")
    log.shown("/offers", "champion", "churn/1 cltv/1", "u1", None, items_json(["10% off"]), "r3")
    assert store.exposures_frame().empty  # nothing written on the request's path
    assert log.flush() == 2
    got = store.exposures_frame()
    assert got[["recommendation_id", "endpoint", "items"]].values.tolist() == [
        ["r1", "/recommend", '["a","b"]'], ["r3", "/offers", '["10% off"]']]
    assert got["at"].tolist() == [1000.0, 1000.0] and log.written == 2


def test_the_writer_thread_writes_within_its_interval(store):
    log = ExposureLog(store, flush_seconds=0.05)
    log.shown("/recommend", "champion", "v", "u1", None, _body("a"), "r1")
    deadline = time.monotonic() + 5
    while store.exposures_frame().empty and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.exposures_frame()["recommendation_id"].tolist() == ["r1"]
    log.close()


class FailingOnce:
    def __init__(self, store):
        self.store, self.failed = store, False

    def forgotten_among(self, customer_ids):
        return self.store.forgotten_among(customer_ids)

    def append_exposures(self, rows, keep_seconds=None):
        if not self.failed:
            self.failed = True
            raise ConnectionError("live store unreachable")
        return self.store.append_exposures(rows, keep_seconds)


def test_exposures_kept_while_the_store_is_down_are_written_when_it_is_back(store):
    log = ExposureLog(FailingOnce(store), flush_seconds=3600)
    log.shown("/recommend", "champion", "v", "u1", None, _body("a"), "r1")
    with pytest.raises(ConnectionError):
        log.flush()
    log.shown("/recommend", "champion", "v", "u1", None, _body("b"), "r2")
    assert log.flush() == 2
    assert store.exposures_frame()["recommendation_id"].tolist() == ["r1", "r2"]


def test_a_full_buffer_drops_the_oldest_and_counts_them(store):
    log = ExposureLog(store, flush_seconds=3600, max_buffered=2)
    for n in range(3):
        log.shown("/recommend", "champion", "v", "u1", None, items_json([f"i{n}"]), f"r{n}")
    log.flush()
    assert store.exposures_frame()["recommendation_id"].tolist() == ["r1", "r2"] and log.dropped == 1


def test_a_failed_answer_is_written_with_its_status_and_time_for_the_guardrails(store):
    log = ExposureLog(store, flush_seconds=3600)
    log.shown("/recommend", "challenger", "v2", "u1", None, "[]", "r1", ms=12.5, status=500)
    log.flush()
    assert store.exposures_frame()[["variant", "items", "ms", "status"]].values.tolist() == [
        ["challenger", "[]", 12.5, 500]]


def test_an_exposure_of_a_customer_forgotten_before_it_is_written_is_dropped(store):
    log = ExposureLog(store, flush_seconds=3600)
    log.shown("/recommend", "champion", "v", "u1", None, _body("a"), "r1")
    log.shown("/recommend", "champion", "v", "u2", None, _body("a"), "r2")
    store.forget_customer("u1")
    log.flush()
    assert store.exposures_frame()["recommendation_id"].tolist() == ["r2"]


class ForgetsWhileWriting(FailingOnce):
    """An erasure of u1 that lands between the log's check of the forgotten list and its write."""

    def append_exposures(self, rows, keep_seconds=None):
        self.store.forget_customer("u1")
        return self.store.append_exposures(rows, keep_seconds)

    def forget_customer(self, customer_id):
        return self.store.forget_customer(customer_id)


def test_an_exposure_of_a_customer_forgotten_while_it_is_written_is_erased_too(store):
    log = ExposureLog(ForgetsWhileWriting(store), flush_seconds=3600)
    log.shown("/recommend", "champion", "v", "u1", None, _body("a"), "r1")
    log.shown("/recommend", "champion", "v", "u2", None, _body("a"), "r2")
    log.flush()
    assert store.exposures_frame()["recommendation_id"].tolist() == ["r2"]


def test_item_ids_are_stored_as_shown_escapes_included(store):
    log = ExposureLog(store, flush_seconds=3600)
    log.shown("/recommend", "champion", "v", "u", None, items_json(['a"b', "c\\d", "café"]), "r1")
    log.flush()
    assert json.loads(store.exposures_frame()["items"][0]) == ['a"b', "c\\d", "café"]


def test_recommendation_ids_are_unique_within_a_worker_and_across_forked_ones():
    import os

    read, write = os.pipe()
    if (pid := os.fork()) == 0:  # a worker forked after the module was imported
        os.write(write, new_recommendation_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    ours = [new_recommendation_id() for _ in range(1000)]
    assert len(set(ours)) == 1000 and child not in ours
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in [*ours, child])
