"""State replicas share in PostgreSQL (a real server, tests/conftest.py): score tables scored
once for all, contacts counted across replicas, a shared copy erased once."""

import shutil
import threading
import uuid

import pandas as pd
import pytest

from features.workspace import Workspace
from serving.marketing.offers import DecisionLog
from serving.runtime.score_table import customer_scores, table_key
from serving.runtime.shared_store import shared_store


@pytest.fixture
def shared_url(postgres_url):
    return postgres_url(f"shared_{uuid.uuid4().hex[:8]}")


def replicas(tmp_path, orders, url, n=2) -> list[Workspace]:
    """``n`` workspaces on their own disks holding the same tables (copied, as a sync would)."""
    first = Workspace(tmp_path / "replica0", shared_store_url=url)
    first.write_table("orders", orders, "fixture")
    out = [first]
    for i in range(1, n):
        ws = Workspace(tmp_path / f"replica{i}", shared_store_url=url)
        shutil.copytree(first.home / "tables", ws.home / "tables")
        out.append(ws)
    return out


def test_replicas_holding_the_same_data_score_once_and_read_the_same_tables(tmp_path, orders, shared_url,
                                                                               scorings):
    a, b, c = replicas(tmp_path, orders, shared_url, 3)
    assert table_key(a, {}) == table_key(b, {}) == table_key(c, {})  # copies agree on the key
    results = []
    threads = [threading.Thread(target=lambda ws=ws: results.append(customer_scores(ws, {}, {})))
               for ws in (a, b, c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(scorings) == 1 and sorted(read for _, read in results) == [False, True, True]
    first = results[0][0]
    for scored, _ in results[1:]:
        pd.testing.assert_frame_equal(scored.scorer.frame, first.scorer.frame, check_names=False)
        pd.testing.assert_frame_equal(scored.profiles, first.profiles, check_names=False)
        assert scored.scorer.as_of == first.scorer.as_of
    assert not any((ws.home / "scores").exists() for ws in (a, b, c))  # nothing on the replicas' disks

    # New data on one replica: a table of its own, scored there.
    a.write_table("orders", orders.iloc[:-1], "fixture")
    assert table_key(a, {}) != table_key(b, {})
    assert not customer_scores(a, {}, {})[1] and customer_scores(b, {}, {})[1]
    assert len(shared_store(shared_url).score_table_keys()) == 2


def test_a_campaign_planned_through_one_replica_counts_against_the_others_contact_limits(tmp_path, shared_url):
    one = DecisionLog(tmp_path / "a" / "offers", shared_store(shared_url))
    other = DecisionLog(tmp_path / "b" / "offers", shared_store(shared_url))
    one.append([{"source": "plan", "campaign": "spring", "customer_id": "c1", "offer": "10% off"},
                {"source": "plan", "campaign": "spring", "customer_id": "c2", "offer": "no offer"},
                {"source": "api", "campaign": None, "customer_id": "c3", "offer": "10% off"}])
    other.append([{"source": "plan", "campaign": "summer", "customer_id": "c1", "offer": "free shipping"}])
    assert other.contacts(30).to_dict() == {"c1": 2}  # c2 got no offer; c3's was not a campaign
    assert other.contacts(30, exclude_campaign="summer").to_dict() == {"c1": 1}
    assert not (tmp_path / "a" / "offers" / "decisions.jsonl").exists()


def test_forgetting_erases_the_shared_copy_once(tmp_path, orders, shared_url):
    from serving.privacy import begin, finish, finish_all, forgotten_elsewhere

    a, b = replicas(tmp_path, orders, shared_url)
    customer_scores(a, {}, {})
    who = str(orders["customer_id"].iloc[0])
    DecisionLog(a.home / "offers", shared_store(shared_url)).append(
        [{"source": "plan", "campaign": "spring", "customer_id": who, "offer": "10% off"}])

    class ListOnly:  # the live store's forgotten list, which every replica reads
        def __init__(self):
            self.ids = set()

        def forget_customer(self, customer_id):
            self.ids.add(customer_id)
            return 0

        def forgotten_ids(self):
            return set(self.ids)

    store = ListOnly()
    begin(a, who, "test", store=store)
    record = finish(a, who)
    assert record["removed"]["shared store: offer decisions"] == 1
    assert record["removed"]["shared store: score tables"] >= 2  # a scores row and a profiles row
    assert "tables/orders.parquet" in record["removed"]

    # The other replica hears of it (and of one more) from the list, erases its own disk of both
    # in one pass, and finds the shared copy of the first done.
    other = sorted(set(orders["customer_id"].astype(str)) - {who})[0]
    store.forget_customer(other)
    assert forgotten_elsewhere(b, store) == sorted([who, other])
    elsewhere = {r["customer_id"]: r for r in finish_all(b, [who, other])}
    assert {r["who"] for r in elsewhere.values()} == {"forgotten through another replica"}
    assert all(r["erased_with"] == 1 and "tables/orders.parquet" in r["removed"] for r in elsewhere.values())
    assert not any(k.startswith("shared store") for k in elsewhere[who]["removed"])
    assert elsewhere[other]["removed"]["shared store: score tables"] >= 2
    for customer in (who, other):
        assert customer not in set(pd.read_parquet(b.table_path("orders"))["customer_id"])
    assert forgotten_elsewhere(b, store) == [] and forgotten_elsewhere(a, store) == [other]
    assert len(shared_store(shared_url).erasures(who)) == 1
    assert shared_store(shared_url).decisions() == []
    for key in shared_store(shared_url).score_table_keys():
        with shared_store(shared_url).scoring(key) as tables:
            for kind in ("scores", "profiles"):
                assert not {who, other} & set(pd.read_parquet(tables.read(kind))["customer_id"])


def test_a_dropped_connection_fails_one_call_and_the_next_connects_again(shared_url):
    import psycopg

    store = shared_store(shared_url)
    store.append_decisions([{"logged_at": "2026-01-01T00:00:00+00:00", "customer_id": "c1", "campaign": "x",
                             "offer": "10% off"}])
    with psycopg.connect(shared_url, autocommit=True) as admin:  # as a server restart would
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    with pytest.raises(psycopg.OperationalError):
        store.decisions()
    assert [d["customer_id"] for d in store.decisions()] == ["c1"]
