"""The `shelfwise` command's answers to the mistakes a new user makes first."""

import pytest

from training.cli import main


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SHELFWISE_HOME", str(tmp_path / "ws"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path / "ws"


def test_training_before_any_ingest_says_to_ingest_first(capsys):
    assert main(["train", "recs", "--as-of", "2011-09-01"]) == 2
    assert "run `shelfwise ingest` first" in capsys.readouterr().err


def test_ingesting_a_file_without_a_column_names_file_and_column(raw_lines, tmp_path, capsys):
    path = tmp_path / "shop.csv"
    raw_lines.drop(columns=["Customer ID"]).to_csv(path, index=False)
    assert main(["ingest", "--source", "online-retail-ii", str(path)]) == 2
    err = capsys.readouterr().err
    assert "shop.csv" in err and "['Customer ID']" in err


def test_ingest_prints_counts_and_keeps_rejects_with_reasons(raw_lines, tmp_path, home, capsys):
    import pandas as pd

    path = tmp_path / "shop.csv"
    raw_lines.to_csv(path, index=False)
    assert main(["ingest", "--source", "online-retail-ii", str(path)]) == 0
    out = capsys.readouterr().out
    assert "rows read: 11" in out and "accepted: 4" in out and "guest_checkout: 1" in out
    rejects = pd.read_parquet(home / "rejects" / "orders.parquet")
    assert len(rejects) == 7 and rejects["reason"].notna().all()
    # Re-importing the same file gives the same tables, not duplicated rows.
    assert main(["ingest", "--source", "online-retail-ii", str(path)]) == 0
    assert len(pd.read_parquet(home / "tables" / "orders.parquet")) == 4


def test_a_malformed_date_is_refused_with_the_expected_format(capsys):
    with pytest.raises(SystemExit):
        main(["features", "build", "--as-of", "01/09/2011"])
    assert "'01/09/2011' is not a date in YYYY-MM-DD form" in capsys.readouterr().err


def test_each_command_and_its_report_are_kept_in_the_workspace_log(raw_lines, tmp_path, home):
    path = tmp_path / "shop.csv"
    raw_lines.to_csv(path, index=False)
    main(["ingest", "--source", "online-retail-ii", str(path)])
    main(["train", "churn", "--as-of", "1990-01-01"])
    log = (home / "logs" / "shelfwise.log").read_text()
    assert f"$ shelfwise ingest --source online-retail-ii {path}" in log
    assert "rows read: 11" in log
    assert "is before the first order" in log
