"""Starting, reading and stopping A/B tests in the workspace's MLflow registry (SQLite)."""

import pytest

from features.experiments.ab import CHALLENGER, CHAMPION, exposures_needed
from features.workspace import Workspace
from serving.runtime.champions import registry_versions
from serving.runtime.registry import find_experiment, read_registry
from tests.serving.conftest import register_model
from training import experiments, registry


@pytest.fixture
def shop(tmp_path, monkeypatch):
    """A registry with recs versions 1 (champion) and 2, and the workspace's live store. The
    versions are placeholders: the check that a challenger is servable is the registry's own
    (tested in tests/training/jobs/test_training_jobs.py), not repeated here."""
    ws = Workspace(tmp_path / "ws")
    champion, other = (register_model(ws, "recs", name, tmp_path) for name in ("one", "two"))
    client = registry.connect(ws)
    registry.set_alias(client, "recs", registry.CHAMPION, champion)
    monkeypatch.setattr(registry, "check_version", lambda *a: None)
    return ws, client, ws.live_store(), other


@pytest.mark.parametrize("args, message", [
    ({"family": "churn"}, "A/B tests split the recommender's answers"),
    ({"name": "Bad Name"}, "use up to 40 lower-case letters"),
    ({"share": 1.5}, "between 0 and 1"),
    ({"challenger": "9"}, "has no version 9"),
    ({"challenger": "1"}, "is the champion"),
])
def test_a_test_that_cannot_run_is_refused_in_words(shop, args, message):
    ws, client, store, other = shop
    given = {"name": "t1", "family": "recs", "challenger": other, "share": 0.2, **args}
    with pytest.raises(ValueError, match=message):
        experiments.start(client, store, **given)


def test_a_started_test_is_read_by_the_service_and_stopped_once(shop):
    ws, client, store, other = shop
    started, source = experiments.start(client, store, "t1", "recs", other, 0.2, now=1000.0)
    assert source.startswith("assumed: fewer than 1,000 exposures")  # no traffic yet: the default baseline
    needed = exposures_needed(0.02, 0.1)  # a 10% lift on 2%, power 0.8 at 0.05 (about 80,700)
    assert (started.champion, started.baseline_conversion, started.exposures_per_arm) == ("1", 0.02, needed)
    assert find_experiment(ws.tracking_uri) == started
    labels = registry_versions(read_registry(ws.tracking_uri))
    assert labels["experiment"] == "t1: shelfwise-recs/2 to 0.2 of shoppers"
    assert store.signal_count("reload") == 1  # a running service looks at once
    with pytest.raises(ValueError, match="experiment 't1' is running; stop it first"):
        experiments.start(client, store, "t2", "recs", other, 0.2)

    result = experiments.report(client, store, "t1")
    assert result["verdict"].startswith(f"keep running: 0 of the {needed:,} exposures per arm")
    assert list(result["arms"].index) == [CHAMPION, CHALLENGER]
    said = experiments.stop(client, store, "t1", promote=True)
    assert "the champion (shelfwise-recs version 1) stays" in said
    assert find_experiment(ws.tracking_uri) is None
    assert "experiment" not in registry_versions(read_registry(ws.tracking_uri))
    assert experiments.load(client, "t1").status == "stopped"
    with pytest.raises(ValueError, match="stopped already"):
        experiments.stop(client, store, "t1", promote=False)
    with pytest.raises(ValueError, match="already ran; give the new one another name"):
        experiments.start(client, store, "t1", "recs", other, 0.2)
    with pytest.raises(ValueError, match="no experiment named 'nope'; there are t1"):
        experiments.report(client, store, "nope")
