import time

import pytest

from features.live.sqlite_store import SQLiteLiveStore
from serving.runtime.champions import Champions, Models


class Registry:
    """A registry whose champion labels a test sets, and that can be unreachable."""

    def __init__(self):
        self.versions = {"recs": "shelfwise-recs/1"}
        self.down = False
        self.broken = False
        self.loads = 0

    def find(self):
        if self.down:
            raise ConnectionError("registry at http://mlflow:5000 unreachable")
        return dict(self.versions)

    def load(self):
        self.find()
        if self.broken:
            raise ValueError("model.npz: not a zip file")
        self.loads += 1
        return Models(dict(self.versions), storefront=f"storefront {self.loads}", customers=None)


def _serves_within(champions, label, seconds):
    """Whether ``champions`` serves ``label`` as its recs model within ``seconds``."""
    deadline = time.monotonic() + seconds
    while champions.models.versions["recs"] != label and time.monotonic() < deadline:
        time.sleep(0.01)
    return champions.models.versions["recs"] == label


@pytest.fixture()
def registry():
    return Registry()


@pytest.fixture()
def store(tmp_path):
    return SQLiteLiveStore(tmp_path / "live.sqlite")


def test_a_new_champion_replaces_the_served_models_and_an_unchanged_one_does_not(registry, store):
    champions = Champions(registry.load, registry.find, store)
    assert not champions.check() and registry.loads == 1
    registry.versions["recs"] = "shelfwise-recs/2"
    assert champions.check()
    assert champions.models.versions == {"recs": "shelfwise-recs/2"} and registry.loads == 2
    assert champions.registry_state == "ok" and champions.last_check is not None


def test_an_unreachable_registry_keeps_the_last_good_models_and_says_so(registry, store):
    champions = Champions(registry.load, registry.find, store)
    served = champions.models
    registry.down = True
    assert not champions.check()
    assert champions.models is served
    assert "unreachable" in champions.registry_state and "serving the loaded models" in champions.registry_state
    registry.down = False
    champions.check()
    assert champions.registry_state == "ok"


def test_a_champion_that_fails_to_load_leaves_the_served_models_in_place(registry, store):
    champions = Champions(registry.load, registry.find, store)
    served = champions.models
    registry.versions["recs"], registry.broken = "shelfwise-recs/2", True
    assert not champions.check()
    assert champions.models is served and "not a zip file" in champions.registry_state


def test_a_reload_asked_of_one_worker_reaches_another_through_the_store(registry, tmp_path):
    # Two workers: separate processes in the service, separate objects sharing the file here.
    answering = Champions(registry.load, registry.find, SQLiteLiveStore(tmp_path / "live.sqlite"))
    other = Champions(registry.load, registry.find, SQLiteLiveStore(tmp_path / "live.sqlite"))
    other.poll(every_seconds=0, tick=0.02)  # 0: never on its own, only when signalled
    try:
        registry.versions["recs"] = "shelfwise-recs/2"
        time.sleep(0.1)
        assert other.models.versions["recs"] == "shelfwise-recs/1"
        answering.request_reload()
        assert _serves_within(other, "shelfwise-recs/2", seconds=5)
    finally:
        other.stop()


def test_polling_picks_up_a_new_champion_on_its_own(registry, store):
    champions = Champions(registry.load, registry.find, store)
    champions.poll(every_seconds=0.05, tick=0.01)
    try:
        registry.versions["recs"] = "shelfwise-recs/2"
        assert _serves_within(champions, "shelfwise-recs/2", seconds=5)
    finally:
        champions.stop()


def test_a_start_without_the_registry_serves_the_cached_models_degraded_until_it_answers(registry, store):
    registry.down = True
    cached = Models({"recs": "shelfwise-recs/1"}, storefront="cached", customers=None)
    champions = Champions(registry.load, registry.find, store, fallback=lambda: cached)
    assert champions.models is cached and champions.degraded
    assert "last good models cached in the workspace" in champions.registry_state
    assert "unreachable" in champions.registry_state
    registry.down = False  # back, and still naming the cached version: nothing to load
    assert not champions.check()
    assert not champions.degraded and champions.models is cached and registry.loads == 0


def test_a_start_with_neither_registry_nor_cache_fails_saying_both(registry, store):
    from serving.runtime.model_cache import NoCachedModelsError

    def nothing():
        raise NoCachedModelsError("no cached models in /ws/serving/models: none has loaded here yet")

    registry.down = True
    with pytest.raises(RuntimeError, match="unreachable; and no cached models to fall back on: no cached"):
        Champions(registry.load, registry.find, store, fallback=nothing)


def test_ten_swaps_keep_one_model_in_memory_and_its_files_mapped_once(registry, store, blended_dir):
    import gc
    import os
    import weakref

    import psutil

    from serving.runtime.models import BlendedRuntime

    path, _ = blended_dir
    loaded = []

    def load():
        registry.loads += 1
        runtime = BlendedRuntime(path)
        runtime.personal(0, 5, True)  # fill its caches, as requests do
        runtime.personal(1, 5, True, {2: 1.0})
        loaded.append(weakref.ref(runtime))
        return Models(dict(registry.versions), storefront=runtime, customers=None)

    def mapped() -> int:
        return sum(str(path) in line for line in open(f"/proc/{os.getpid()}/maps"))

    try:
        champions = Champions(load, registry.find, store)
        registry.versions["recs"] = "shelfwise-recs/2"
        champions.check()
        maps, rss = mapped(), psutil.Process().memory_info().rss
        for v in range(3, 13):
            registry.versions["recs"] = f"shelfwise-recs/{v}"
            assert champions.check()
        assert sum(r() is not None for r in loaded) == 1  # only the one served
        assert mapped() == maps
        assert psutil.Process().memory_info().rss - rss < 50e6
    finally:
        gc.unfreeze()


def test_a_registry_error_never_shows_the_password_in_its_tracking_uri(registry, store):
    from serving.runtime.registry import redact

    champions = Champions(registry.load, registry.find, store)

    def down():
        raise ConnectionError("HTTPConnectionPool: http://ops:s3cret@mlflow:5000/api/2.0 refused; "
                              "postgresql://mlflow@db/mlflow?password=hunter2")

    champions._find = down
    assert not champions.check()
    assert "s3cret" not in champions.registry_state and "hunter2" not in champions.registry_state
    assert "http://ops:***@mlflow:5000" in champions.registry_state
    assert redact("sqlite:////srv/mlflow.db") == "sqlite:////srv/mlflow.db"


def test_a_champion_that_fails_to_load_is_tried_again_after_a_growing_wait_or_at_an_admin_reload(
        registry, store, monkeypatch):
    import serving.runtime.champions as champions_module

    now = [1000.0]
    monkeypatch.setattr(champions_module.time, "monotonic", lambda: now[0])
    attempts = []
    champions = Champions(lambda: (attempts.append(1), registry.load())[1], registry.find, store)
    registry.versions["recs"], registry.broken = "shelfwise-recs/2", True
    assert not champions.check() and len(attempts) == 2
    assert "tried again in 30 s" in champions.registry_state
    assert not champions.check() and len(attempts) == 2  # polls within the wait do not load it again
    now[0] += 31
    assert not champions.check() and len(attempts) == 3 and "tried again in 60 s" in champions.registry_state
    assert not champions.check(force=True) and len(attempts) == 4  # POST /admin/reload
    registry.broken = False
    assert champions.check(force=True) and champions.models.versions["recs"] == "shelfwise-recs/2"
