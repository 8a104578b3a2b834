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
