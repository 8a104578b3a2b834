"""The workspace's cache of champion model files, against a real MLflow registry (SQLite)."""

import pytest

from features.workspace import Workspace
from serving.runtime.model_cache import KEEP_VERSIONS, ModelCache, NoCachedModelsError
from tests.serving.conftest import register_model


@pytest.fixture
def workspace(tmp_path):
    return Workspace(tmp_path / "ws")


def test_versions_are_downloaded_once_and_a_damaged_copy_again(workspace, tmp_path):
    cache = ModelCache(workspace)
    version = register_model(workspace, "churn", "first", tmp_path)
    path = cache.fetch({"churn": version})["churn"].path
    assert path == cache.root / "shelfwise-churn" / version and cache.root.parent == workspace.home / "serving/models"
    assert (path / "weights.txt").read_text() == "first"

    (path / "weights.txt").write_text("edited")  # same size, other content
    marker = path / "marker"
    marker.touch()
    assert cache.fetch({"churn": version})["churn"].path == path
    assert (path / "weights.txt").read_text() == "first" and not marker.exists()  # downloaded again


def test_the_last_set_that_loaded_is_found_without_the_registry(workspace, tmp_path, monkeypatch):
    cache = ModelCache(workspace)
    with pytest.raises(NoCachedModelsError, match="none has loaded here yet"):
        cache.last_good()
    loaded = cache.fetch({"churn": register_model(workspace, "churn", "a", tmp_path),
                          "cltv": register_model(workspace, "cltv", "b", tmp_path)})
    cache.remember(loaded)
    assert cache.last_good() == loaded

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")  # another registry's
    with pytest.raises(NoCachedModelsError, match="no cached models from http://mlflow.example:5000"):
        ModelCache(workspace).last_good()


def test_old_versions_are_pruned_but_the_served_one_is_kept(workspace, tmp_path):
    cache = ModelCache(workspace)
    versions = [register_model(workspace, "recs", f"v{i}", tmp_path) for i in range(KEEP_VERSIONS + 2)]
    for version in versions:
        cache.remember(cache.fetch({"recs": version}))
    kept = sorted(p.name for p in (cache.root / "shelfwise-recs").iterdir())
    assert kept == sorted(versions[-KEEP_VERSIONS:])
    cache.remember(cache.fetch({"recs": versions[0]}))  # rolled back to the first: downloaded, kept
    assert cache.last_good()["recs"].version == versions[0]
    assert (cache.root / "shelfwise-recs" / versions[0] / "weights.txt").read_text() == "v0"
