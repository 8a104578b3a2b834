"""Forgetting a customer in two steps, as the service does it (serving/privacy.py), on a tiny workspace."""

from __future__ import annotations

import json

import pandas as pd

from features.workspace import Workspace
from serving.privacy import begin, erasure_status, finish, forget, unfinished


def _workspace(tmp_path) -> Workspace:
    (tmp_path / "tables").mkdir()
    pd.DataFrame({"customer_id": ["c1", "c2", "c1"], "item_id": ["a", "b", "c"]}).to_parquet(
        tmp_path / "tables" / "orders.parquet")
    ws = Workspace(tmp_path)
    ws.live_store().append_events([{"event_id": "e1", "user_id": "c1", "session_id": "s1", "item_id": "a",
                                    "event_type": "view", "timestamp": pd.Timestamp("2011-09-01")}])
    return ws


def test_begun_erasure_hides_the_customer_at_once_and_is_pending_until_files_are_rewritten(tmp_path):
    ws = _workspace(tmp_path)

    pending = begin(ws, "c1", "api:ops")

    assert ws.live_store().is_forgotten("c1") and pending["live_events"] == 1
    assert erasure_status(ws, "c1") == {"customer_id": "c1", "status": "erasing"}
    assert unfinished(ws) == ["c1"]
    assert begin(ws, "c1", "api:other")["who"] == "api:ops"  # asked twice: still one erasure
    assert len(pd.read_parquet(tmp_path / "tables" / "orders.parquet")) == 3  # not yet

    record = finish(ws, "c1")

    assert record["who"] == "api:ops" and record["removed"] == {"live events": 1, "tables/orders.parquet": 2}
    assert pd.read_parquet(tmp_path / "tables" / "orders.parquet")["customer_id"].tolist() == ["c2"]
    assert erasure_status(ws, "c1") == {"customer_id": "c1", "status": "done", "record": record}
    assert unfinished(ws) == []
    audit = [json.loads(line) for line in (tmp_path / "audit" / "erasures.jsonl").read_text().splitlines()]
    assert audit == [record]
    # A second process finding nothing pending writes nothing.
    assert finish(ws, "c1") is None and len((tmp_path / "audit" / "erasures.jsonl").read_text().splitlines()) == 1


def test_the_command_line_erases_in_one_call_and_unknown_customers_have_no_status(tmp_path):
    ws = _workspace(tmp_path)

    record = forget(ws, "c2", "cli:ops")

    assert record["removed"] == {"tables/orders.parquet": 1}
    assert erasure_status(ws, "c2")["status"] == "done"
    assert erasure_status(ws, "c9") is None


def test_an_unreadable_file_fails_the_erasure_by_name_instead_of_leaving_it_erasing_forever(tmp_path):
    ws = _workspace(tmp_path)
    (tmp_path / "offers").mkdir()
    (tmp_path / "offers" / "plan.parquet").write_bytes(b"PAR1 torn")
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "erasures.jsonl").write_text('{"customer_id": "c9", "at"')  # torn by a full disk

    begin(ws, "c1", "api:ops")
    record = finish(ws, "c1")

    status = erasure_status(ws, "c1")
    assert status["status"] == "failed" and "offers/plan.parquet" in status["reason"]
    assert list(record["unreadable"]) == ["offers/plan.parquet"]
    assert record["removed"] == {"live events": 1, "tables/orders.parquet": 2}  # the rest is erased
    assert unfinished(ws) == []  # not retried for ever
    # Once the file is fixed (here: deleted), forgetting again finishes the erasure.
    (tmp_path / "offers" / "plan.parquet").unlink()
    assert forget(ws, "c1", "cli:ops")["removed"] == {}
    assert erasure_status(ws, "c1")["status"] == "done"


def test_a_job_that_read_the_tables_before_a_forget_cannot_write_the_customer_back(tmp_path):
    import threading
    import time

    ws = _workspace(tmp_path)
    finished = threading.Event()
    with ws.write_lock("retrain"):  # a retrain: reads the tables, trains for a while, writes back
        orders = ws.read_table("orders")
        begin(ws, "c1", "api:ops")
        eraser = threading.Thread(target=lambda: (finish(ws, "c1"), finished.set()))
        eraser.start()
        time.sleep(0.3)
        assert not finished.is_set()  # the erasure waits for the running writer
        ws.write_table("orders", orders, "retrain")
    eraser.join(timeout=10)

    assert finished.is_set() and erasure_status(ws, "c1")["status"] == "done"
    assert ws.read_table("orders")["customer_id"].tolist() == ["c2"]


def test_the_workspace_lock_is_exclusive_between_processes(tmp_path):
    import subprocess
    import sys
    import time

    ws = _workspace(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from features.workspace import Workspace\n"
        f"with Workspace({str(tmp_path)!r}).write_lock('test'):\n"
        "    print('held', flush=True); time.sleep(1.5)")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    t0 = time.monotonic()
    with ws.write_lock("wait"):
        waited = time.monotonic() - t0
    holder.wait(timeout=10)
    assert waited > 0.5


def test_every_reader_leaves_a_forgotten_customer_out_before_the_files_are_rewritten(tmp_path):
    # What `score customers`, `segments export` and `offers plan` read: the workspace's tables.
    ws = _workspace(tmp_path)
    begin(ws, "c1", "api:ops")  # step 1 only: the files still hold c1

    assert len(pd.read_parquet(tmp_path / "tables" / "orders.parquet")) == 3
    assert ws.read_table("orders")["customer_id"].tolist() == ["c2"]
    assert ws.read_table_if_present("orders")["customer_id"].tolist() == ["c2"]
