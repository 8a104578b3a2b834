"""`shelfwise score customers`: the batch scores the service reads."""

from serving.marketing.score import main


def test_scoring_a_workspace_with_nothing_ingested_says_what_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SHELFWISE_HOME", str(tmp_path / "empty"))
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no 'orders' table in workspace") and "run `shelfwise ingest` first" in err
    assert "Traceback" not in err
