import pytest

from benchmarks import scale


def test_a_run_from_a_later_step_needs_the_workspace_of_an_earlier_one(tmp_path, capsys):
    with pytest.raises(SystemExit):
        scale.main(["--size", "S", "--from", "train recs"])
    assert "--keep naming the workspace of an earlier run" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        scale.main(["--size", "S", "--from", "train recs", "--keep", str(tmp_path)])


def test_a_run_from_a_later_step_skips_the_steps_before_it(tmp_path, monkeypatch):
    ran = []

    def fake_shelfwise(home, *args, log, module):
        ran.append(" ".join(args[:2]))
        return 0, 1.0, 100.0, ""

    monkeypatch.setattr(scale, "shelfwise", fake_shelfwise)
    monkeypatch.setattr(scale, "_features_as_of", lambda home: "2023-10-03")
    rows = scale.run("S", tmp_path, say=lambda m: None, serve=False, start="train churn")
    assert [r["step"] for r in rows] == ["train churn", "train cltv", "batch scores"]
    assert ran == ["train churn", "train cltv", "score customers"]


def test_skipped_steps_are_left_out_and_the_rest_run(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(scale, "shelfwise", lambda home, *args, log, module: ran.append(" ".join(args[:2]))
                        or (0, 1.0, 100.0, ""))
    monkeypatch.setattr(scale, "_features_as_of", lambda home: "2023-10-03")
    rows = scale.run("S", tmp_path, say=lambda m: None, serve=False, start="features build", skip=["train recs"])
    assert [r["step"] for r in rows] == ["features build", "train churn", "train cltv", "batch scores"]
    assert ran == ["features build", "train churn", "train cltv", "score customers"]


def test_a_step_that_held_a_part_of_the_customers_at_a_time_says_how_many_parts(tmp_path, monkeypatch):
    said = {"features": "[features] 31,000,000 order lines and events: customers built in 3 parts\n",
            "score": "[score] split the order lines and events into 3 parts of customers\n"}
    monkeypatch.setattr(scale, "shelfwise", lambda home, *args, log, module: (0, 1.0, 100.0, said.get(args[0], "")))
    monkeypatch.setattr(scale, "_features_as_of", lambda home: "2023-10-03")
    rows = scale.run("S", tmp_path, say=lambda m: None, serve=False, start="features build")
    notes = {r["step"]: r["note"] for r in rows}
    assert notes["features build"] == notes["batch scores"] == "customers in 3 parts"
    assert notes["train recs"] == ""
