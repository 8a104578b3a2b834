"""The workspace's customer-score table: scored once per champions and data, read after."""

import threading

import pandas as pd
import pytest

from features.workspace import Workspace
from serving.runtime import score_table
from serving.runtime.score_table import customer_scores, table_path


@pytest.fixture
def ws(tmp_path, orders):
    ws = Workspace(tmp_path / "ws")
    ws.write_table("orders", orders, "fixture")
    return ws


def test_scores_are_computed_once_and_then_read_until_the_models_or_the_data_change(ws, orders, monkeypatch):
    versions = {"churn": "shelfwise-churn/1", "cltv": "shelfwise-cltv/1"}
    first, was_read = customer_scores(ws, {}, versions)
    assert not was_read and table_path(ws, versions).exists()
    again, was_read = customer_scores(ws, {}, versions)
    assert was_read
    pd.testing.assert_frame_equal(again.scorer.frame, first.scorer.frame, check_names=False)

    assert table_path(ws, {**versions, "churn": "shelfwise-churn/2"}) != table_path(ws, versions)
    before = table_path(ws, versions)
    ws.write_table("orders", orders.iloc[:-1], "fixture")  # new data
    assert table_path(ws, versions) != before
    assert not customer_scores(ws, {}, versions)[1]
    assert table_path(ws, {}) != table_path(ws, versions)  # no models at all: a table of its own


def test_only_the_newest_tables_are_kept(ws, orders):
    for v in range(1, 5):
        customer_scores(ws, {}, {"churn": f"shelfwise-churn/{v}"})
    left = sorted((ws.home / "scores").glob("customers-*.parquet"))
    assert len(left) == score_table.KEEP
    assert table_path(ws, {"churn": "shelfwise-churn/4"}) in left
    assert len(list((ws.home / "scores").glob("profiles-*.parquet"))) == score_table.KEEP


def test_an_unreadable_table_is_scored_again(ws, orders):
    versions = {"churn": "shelfwise-churn/1"}
    path = table_path(ws, versions)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not parquet")
    scorer, was_read = customer_scores(ws, {}, versions)
    assert not was_read and len(scorer.scorer.frame) == orders["customer_id"].nunique()
    assert customer_scores(ws, {}, versions)[1]  # and written whole this time


def test_workers_starting_together_score_once(ws, orders, scorings):
    results = []
    workers = [threading.Thread(target=lambda: results.append(customer_scores(ws, {}, {})[1]))
               for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(scorings) == 1 and sorted(results) == [False, True, True]


def test_erasing_a_customer_removes_their_row_from_the_score_table(ws, orders):
    from features.privacy import erase_from_files

    scored, _ = customer_scores(ws, {}, {})
    who = str(orders["customer_id"].iloc[0])
    erase_from_files(ws.home, who)
    table = pd.read_parquet(next((ws.home / "scores").glob("customers-*.parquet")))
    assert who not in set(table["customer_id"]) and len(table) == orders["customer_id"].nunique() - 1
    profiles = pd.read_parquet(next((ws.home / "scores").glob("profiles-*.parquet")))
    assert who not in set(profiles["customer_id"]) and len(profiles) > 0
    # What is left still reads, as of the same date.
    read = score_table.ScoredCustomers.read({}, *sorted((ws.home / "scores").glob("*-*.parquet")))
    assert who not in read.profiles.index and read.scorer.as_of == scored.scorer.as_of


def test_a_refresh_scores_again_over_the_same_table(ws, orders):
    customer_scores(ws, {}, {})
    assert not customer_scores(ws, {}, {}, refresh=True)[1]
    assert customer_scores(ws, {}, {})[1]


def test_a_worker_that_finds_the_tables_reads_no_order_and_gets_what_scoring_gave(ws, orders, monkeypatch):
    ws.write_table("items", pd.DataFrame({"item_id": orders["item_id"].unique(), "category": "mugs"}), "fixture")
    scored, _ = customer_scores(ws, {}, {})

    def refuse(name, *args, **kwargs):
        raise AssertionError(f"read the {name} table")

    monkeypatch.setattr(ws, "read_table", refuse)
    monkeypatch.setattr(ws, "read_events", refuse)
    read, was_read = customer_scores(ws, {}, {})
    assert was_read and read.scorer.as_of == scored.scorer.as_of
    pd.testing.assert_frame_equal(read.profiles, scored.profiles, check_names=False)
    pd.testing.assert_frame_equal(read.category_spend, scored.category_spend, check_names=False)
    assert list(read.category_spend.columns) == ["mugs"]


def test_new_items_or_customers_tables_make_a_new_table(ws, orders):
    before = table_path(ws, {})
    ws.write_table("items", pd.DataFrame({"item_id": orders["item_id"].unique(), "category": "mugs"}), "fixture")
    after_items = table_path(ws, {})
    ws.write_table("customers", pd.DataFrame({"customer_id": orders["customer_id"].unique(), "country": "FR"}),
                   "fixture")
    assert len({before, after_items, table_path(ws, {})}) == 3
