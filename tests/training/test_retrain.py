"""`shelfwise retrain`: the inbox, the summary, the lock, and failures that change no champion."""

import pandas as pd
import pytest
from mlflow import MlflowClient

from features.sources.online_retail import RAW_COLUMNS
from features.workspace import Workspace
from tests.conftest import make_orders, make_small_shop
from training import jobs, registry
from training.cli import main
from training.retrain import EXIT_LOCKED, exclusive_lock, merge_orders

SPLIT = pd.Timestamp("2011-03-01")


def _raw(orders: pd.DataFrame) -> pd.DataFrame:
    """Canonical orders back in the Online Retail II export's columns, as a shop would send them."""
    return pd.DataFrame({
        "Invoice": orders["order_id"], "StockCode": orders["item_id"], "Description": orders["title"],
        "Quantity": orders["quantity"], "InvoiceDate": orders["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"),
        "Price": orders["unit_price"], "Customer ID": orders["customer_id"], "Country": orders["country"],
    })[list(RAW_COLUMNS)]


def _ingest(orders: pd.DataFrame, folder) -> None:
    """Import ``orders`` the way a shop starts: `shelfwise ingest` of its export."""
    path = folder / "orders.csv"
    _raw(orders).to_csv(path, index=False)
    assert main(["ingest", "--source", "online-retail-ii", str(path)]) == 0


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SHELFWISE_HOME", str(tmp_path / "ws"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path / "ws"


@pytest.fixture
def shop():
    orders = make_small_shop()
    return orders[orders["timestamp"] < SPLIT], orders[orders["timestamp"] >= SPLIT]


def _aliases(home):
    client = MlflowClient(Workspace(home).tracking_uri)
    out = {}
    for family, name in registry.MODEL_NAMES.items():
        for v in client.search_model_versions(f"name='{name}'"):
            out.update({(family, a): str(v.version) for a in client.get_model_version(name, v.version).aliases})
    return out


def test_merge_appends_new_lines_and_ignores_lines_already_there():
    old = make_orders([("1", "A", "x", 1, 1.0, "2011-01-01")])
    new = make_orders([("1", "A", "x", 1, 1.0, "2011-01-01"), ("2", "B", "y", 2, 1.0, "2011-02-01")])

    merged, added = merge_orders(old, [new])

    assert added == 1 and merged["order_id"].tolist() == ["1", "2"]


@pytest.mark.slow
def test_retrain_ingests_the_inbox_retrains_every_family_and_promotes_only_winners(home, shop, tmp_path, capsys):
    before, after = shop
    _ingest(before, tmp_path)
    inbox = home / "inbox"
    inbox.mkdir()
    _raw(after).to_csv(inbox / "2011-06.csv", index=False)
    capsys.readouterr()

    assert main(["retrain"]) == 0

    out = capsys.readouterr().out
    orders = pd.read_parquet(home / "tables" / "orders.parquet")
    assert len(orders) == len(before) + len(after)
    assert not (inbox / "2011-06.csv").exists() and len(list((inbox / "processed").iterdir())) == 1
    assert f"{len(after):,} new and 0 already in the table" in out
    table = out[out.index("champion before"):]
    for family, metric in jobs.PRIMARY_METRIC.items():
        assert f"{family:<7}{metric}" in table
    assert table.count("promoted: no champion yet") == 3
    assert _aliases(home) == {("recs", "champion"): "1", ("churn", "champion"): "1", ("cltv", "champion"): "1"}
    # The new champions' customer scores are written for the service to read.
    assert len(list((home / "scores").glob("customers-*.parquet"))) == 1

    # The same file delivered again adds nothing; the retrained models equal the champions, so
    # none is promoted and the summary shows both scores.
    _raw(after).to_csv(inbox / "again.csv", index=False)
    assert main(["retrain"]) == 0

    out = capsys.readouterr().out
    assert f"0 new and {len(after):,} already in the table" in out
    assert len(pd.read_parquet(home / "tables" / "orders.parquet")) == len(before) + len(after)
    assert out.count("kept the champion") == 3
    aliases = _aliases(home)
    assert {aliases[f, "champion"] for f in ("recs", "churn", "cltv")} == {"1"}
    assert {aliases[f, "challenger"] for f in ("recs", "churn", "cltv")} == {"2"}


@pytest.mark.slow
def test_a_failed_retrain_exits_non_zero_and_changes_no_champion(home, shop, tmp_path, capsys, monkeypatch):
    before, _ = shop
    _ingest(before, tmp_path)
    assert main(["retrain"]) == 0
    champions = _aliases(home)

    real = jobs.train_customer_model

    def cltv_fails(ws, orders, task, *args, **kwargs):
        if task == "cltv":
            raise RuntimeError("disk full while writing the CLTV artifact")
        return real(ws, orders, task, *args, **kwargs)

    monkeypatch.setattr(jobs, "train_customer_model", cltv_fails)
    capsys.readouterr()

    assert main(["retrain"]) == 1

    out = capsys.readouterr().out
    assert "failed while training cltv: RuntimeError: disk full while writing the CLTV artifact" in out
    assert "no alias was changed" in out and "recs v2, churn v2" in out
    assert _aliases(home) == champions  # recs v2 and churn v2 are registered but have no alias


def test_an_unreadable_inbox_file_stops_the_run_before_anything_changes(home, shop, tmp_path, capsys):
    before, _ = shop
    _ingest(before, tmp_path)
    inbox = home / "inbox"
    inbox.mkdir()
    (inbox / "broken.csv").write_text("Invoice;StockCode\n1;2\n")

    assert main(["retrain"]) == 2

    err = capsys.readouterr().err
    assert "broken.csv" in err
    assert (inbox / "broken.csv").exists()  # left for someone to fix
    assert len(pd.read_parquet(home / "tables" / "orders.parquet")) == len(before)
    assert _aliases(home) == {}


def test_a_second_retrain_does_not_overlap_a_running_one(home, capsys):
    Workspace(home)  # creates the folder
    with exclusive_lock(home / "retrain.lock"):
        assert main(["retrain"]) == EXIT_LOCKED

    err = capsys.readouterr().err
    assert "another `shelfwise retrain` is running (pid" in err
