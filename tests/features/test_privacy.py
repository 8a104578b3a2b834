"""Erasing a customer from every file of a workspace, on tiny literal files."""

from __future__ import annotations

import json

import pandas as pd

from features.privacy import drop_forgotten, erase_from_files


def test_every_file_with_a_customer_column_loses_that_customers_rows(tmp_path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "rejects").mkdir()
    (tmp_path / "features" / "v1").mkdir(parents=True)
    (tmp_path / "offers").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "mlflow").mkdir()
    pd.DataFrame({"customer_id": ["c1", "c2", "c1"], "item_id": ["a", "b", "c"]}).to_parquet(
        tmp_path / "tables" / "orders.parquet")
    pd.DataFrame({"event_id": ["e1", "e2", "e3"], "user_id": ["c1", None, "c2"],
                  "session_id": ["s1", "s1", "s2"]}).to_parquet(tmp_path / "tables" / "events.parquet")
    pd.DataFrame({"reason": ["bad price"], "Customer ID": [1.0]}).to_parquet(tmp_path / "rejects" / "orders.parquet")
    pd.DataFrame({"item_id": ["a"], "price": [1.0]}).to_parquet(tmp_path / "tables" / "items.parquet")
    pd.DataFrame({"user_id": ["c1", "c2"], "item_id": ["a", "a"]}).to_parquet(
        tmp_path / "features" / "v1" / "interactions.parquet")
    (tmp_path / "offers" / "plan.csv").write_text("customer_id,offer\nc1,x\nc2,y\n")
    (tmp_path / "offers" / "decisions.jsonl").write_text(
        json.dumps({"customer_id": "c1", "offer": "x"}) + "\n" + json.dumps({"customer_id": "c2"}) + "\n")
    (tmp_path / "logs" / "shelfwise.log").write_text("$ shelfwise offers decide c1\n$ shelfwise offers decide c12\n")
    pd.DataFrame({"customer_id": ["c1"]}).to_parquet(tmp_path / "mlflow" / "kept.parquet")

    erased = erase_from_files(tmp_path, "c1")

    assert erased.unreadable == {} and erased.torn_lines == {}
    assert erased.removed == {"tables/orders.parquet": 2, "tables/events.parquet": 2,
                       "features/v1/interactions.parquet": 1, "offers/plan.csv": 1,
                       "offers/decisions.jsonl": 1, "logs/shelfwise.log": 1}
    assert pd.read_parquet(tmp_path / "tables" / "orders.parquet")["customer_id"].tolist() == ["c2"]
    assert pd.read_parquet(tmp_path / "tables" / "events.parquet")["event_id"].tolist() == ["e3"]
    assert (tmp_path / "offers" / "plan.csv").read_text() == "customer_id,offer\nc2,y\n"
    assert "c1\n" not in (tmp_path / "logs" / "shelfwise.log").read_text()
    assert "c12" in (tmp_path / "logs" / "shelfwise.log").read_text()  # whole ids only
    # A raw export's numeric id matches the canonical text id.
    assert erase_from_files(tmp_path, "1").removed == {"rejects/orders.parquet": 1}
    assert not list(tmp_path.rglob("*.erasing"))


def test_an_import_leaves_forgotten_customers_out_and_counts_them():
    frame = pd.DataFrame({"Customer ID": [13085.0, 12346.0, None], "StockCode": ["a", "b", "c"]})
    kept, n = drop_forgotten(frame, {"13085"})
    assert n == 1 and kept["StockCode"].tolist() == ["b", "c"]
    assert drop_forgotten(frame, set()) == (frame, 0)


def test_unreadable_files_are_named_and_every_other_file_is_still_erased(tmp_path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "inbox").mkdir()
    (tmp_path / "offers").mkdir()
    pd.DataFrame({"customer_id": ["c1", "c2"]}).to_parquet(tmp_path / "tables" / "orders.parquet")
    (tmp_path / "tables" / "broken.parquet").write_bytes(b"PAR1 cut short by a full disk")
    (tmp_path / "inbox" / "empty.csv").write_bytes(b"")
    (tmp_path / "inbox" / "cp1252.csv").write_bytes("customer_id,title\nc1,caf\xe9\nc2,th\xe9\n".encode("cp1252"))
    (tmp_path / "offers" / "decisions.jsonl").write_text(
        json.dumps({"customer_id": "c1"}) + "\n\n" + json.dumps({"customer_id": "c2"}) + "\n"
        + '{"customer_id": "c1", "off' + "\n" + '{"customer_id": "c2", "off')

    erased = erase_from_files(tmp_path, "c1")

    assert erased.removed == {"tables/orders.parquet": 1, "inbox/cp1252.csv": 1, "offers/decisions.jsonl": 2}
    assert list(erased.unreadable) == ["tables/broken.parquet"]
    assert "not a readable parquet file" in erased.unreadable["tables/broken.parquet"]
    assert erased.torn_lines == {"offers/decisions.jsonl": 3}  # the blank line and both cut short
    assert (tmp_path / "inbox" / "cp1252.csv").read_bytes() == "customer_id,title\nc2,th\xe9\n".encode("cp1252")
    assert "c1" not in (tmp_path / "offers" / "decisions.jsonl").read_text()
    assert (tmp_path / "offers" / "decisions.jsonl").read_text().count('"c2"') == 2


def test_processed_inbox_files_lose_the_customers_rows_whatever_their_format(tmp_path):
    done = tmp_path / "inbox" / "processed"
    done.mkdir(parents=True)
    pd.DataFrame({"Invoice": ["1", "2"], "Customer ID": [13085.0, 12346.0]}).to_excel(done / "orders.xlsx",
                                                                                     index=False)
    (done / "cdnow.txt").write_text(" 13085 19970101  2   29.33\n 00012 19970102  1   9.99\n")

    erased = erase_from_files(tmp_path, "13085")

    assert erased.removed == {"inbox/processed/cdnow.txt": 1, "inbox/processed/orders.xlsx": 1}
    assert pd.read_excel(done / "orders.xlsx")["Customer ID"].tolist() == [12346]
    assert (done / "cdnow.txt").read_text() == " 00012 19970102  1   9.99\n"
    assert erase_from_files(tmp_path, "12").removed == {"inbox/processed/cdnow.txt": 1}  # zero-padded
