"""Finding the champions in the workspace's MLflow registry (SQLite)."""

import pytest

from features.workspace import Workspace
from serving.runtime.registry import NoChampionError, find_champions
from tests.serving.conftest import register_model


def test_a_workspace_never_trained_has_no_champions_and_gets_no_empty_database(tmp_path):
    ws = Workspace(tmp_path / "ws")

    with pytest.raises(NoChampionError, match=r"no 'champion' model for \['recs', 'churn', 'cltv'\].*train"):
        find_champions(ws.tracking_uri)
    assert not (ws.mlflow_dir / "mlflow.db").exists()


def test_champions_are_found_by_alias_and_the_missing_families_named(tmp_path):
    from training import registry

    ws = Workspace(tmp_path / "ws")
    version = register_model(ws, "churn", "first", tmp_path)
    registry.set_alias(registry.connect(ws), "churn", registry.CHAMPION, version)

    assert find_champions(ws.tracking_uri, ("churn",)) == {"churn": version}
    with pytest.raises(NoChampionError, match=r"\['recs', 'cltv'\]"):
        find_champions(ws.tracking_uri)
    # The service serves what exists: one family with a champion is enough to start.
    assert find_champions(ws.tracking_uri, at_least_one=True) == {"churn": version}
    with pytest.raises(NoChampionError, match=r"\['recs', 'cltv'\]"):
        find_champions(ws.tracking_uri, ("recs", "cltv"), at_least_one=True)


def test_a_worker_reads_and_downloads_from_a_sqlite_registry_without_holding_mlflow(tmp_path):
    import json
    import subprocess
    import sys

    from training import registry

    ws = Workspace(tmp_path / "ws")
    version = register_model(ws, "churn", "first", tmp_path)
    registry.set_alias(registry.connect(ws), "churn", registry.CHAMPION, version)
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from features.workspace import Workspace\n"
        "from serving.runtime.registry import WorkerRegistry\n"
        f"r = WorkerRegistry(Workspace({str(ws.home)!r}))\n"
        "view = r.view()\n"
        "cached = r.cache.fetch(view.champions)['churn'].path\n"
        f"again = r.download('churn', view.champions['churn'], Path({str(tmp_path / 'dl')!r})).path\n"
        "print(json.dumps({'champions': view.champions, 'weights': [(p / 'weights.txt').read_text()\n"
        "                                                           for p in (cached, again)],\n"
        "                  'held': sorted(m for m in ('mlflow', 'sqlalchemy') if m in sys.modules)}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"champions": {"churn": version}, "weights": ["first", "first"], "held": []}


def test_a_worker_asks_the_registry_again_only_when_a_champion_or_test_changed(tmp_path, monkeypatch):
    from serving.runtime import registry as worker_side
    from training import registry

    ws = Workspace(tmp_path / "ws")
    client = registry.connect(ws)
    churn = register_model(ws, "churn", "first", tmp_path)
    registry.set_alias(client, "churn", registry.CHAMPION, churn)
    asked = []
    real = worker_side._in_child
    monkeypatch.setattr(worker_side, "_in_child", lambda *a: asked.append(a[0]) or real(*a))

    reader = worker_side.WorkerRegistry(ws)
    assert reader.view().champions == {"churn": churn}
    assert (reader.cache.root / "shelfwise-churn" / churn / "weights.txt").read_text() == "first"  # fetched too
    assert reader.view().champions == {"churn": churn} and asked == ["view"]  # nothing changed: no child
    # A restart with the registry as it was starts no child either.
    assert worker_side.WorkerRegistry(ws).view().champions == {"churn": churn} and asked == ["view"]

    cltv = register_model(ws, "cltv", "second", tmp_path)  # a run and a version written: no champion yet
    assert reader.view().champions == {"churn": churn} and asked == ["view"]
    registry.set_alias(client, "cltv", registry.CHAMPION, cltv)
    assert reader.view().champions == {"churn": churn, "cltv": cltv} and asked == ["view", "view"]

    reader.max_age = 0  # and at least every max_age seconds, whatever the tables say
    reader.view()
    assert asked == ["view"] * 3


def test_a_worker_hears_in_words_when_the_registry_has_no_champion_or_cannot_be_read(tmp_path, monkeypatch):
    from serving.runtime import registry as worker_side
    from serving.runtime.registry import RegistryError, WorkerRegistry

    ws = Workspace(tmp_path / "ws")
    register_model(ws, "churn", "first", tmp_path)  # registered, never made champion
    with pytest.raises(NoChampionError, match=r"no 'champion' model for \['recs', 'churn', 'cltv'\]"):
        WorkerRegistry(ws).view()

    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database, " * 100)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{broken}")
    with pytest.raises(RegistryError) as caught:
        WorkerRegistry(Workspace(tmp_path / "other")).view()
    assert str(caught.value) == (f"the MLflow registry at sqlite:///{broken} could not be read: "
                                 "(sqlite3.DatabaseError) file is not a database")

    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setitem(worker_side.CHILD_SECONDS, "view", 0.05)  # a registry locked by a long write
    with pytest.raises(RegistryError, match=r"did not answer within 0.05 s \(view\)"):
        WorkerRegistry(ws).view()
