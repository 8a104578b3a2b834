"""The champion models a worker serves, and how it switches to new ones without downtime.

:class:`Champions` holds one :class:`Models` at a time and replaces it whole, so a request
that took a reference keeps a consistent set while a swap happens. A background thread
checks the registry every ``reload_seconds``, and at once when any worker asks for it
(``POST /admin/reload`` sends a "reload" signal through the shared live store, so the
call reaches every worker process, not only the one that answered it). When the registry
cannot be read or the new champion fails to load, the last good models stay in service and
:attr:`Champions.registry_state` says so. At start-up the same failures fall back on the
models cached in the workspace (:mod:`serving.runtime.model_cache`), and the service is "degraded"
until the registry answers again.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from features import numerics
from features.experiments.ab import CHALLENGER, CHAMPION, Experiment, variant
from features.live.store import RELOAD_SIGNAL, LiveStore
from features.workspace import Workspace
from serving.marketing.tools import Marketing
from serving.runtime.model_cache import ModelCache
from serving.runtime.models import BlendedRuntime, CustomerScorer
from serving.runtime.registry import (
    MODEL_NAMES,
    TRAIN_COMMANDS,
    LoadedArtifact,
    RegistryView,
    redact,
)
from serving.runtime.score_table import customer_scores
from serving.storefront.answers import AnswerCache
from serving.storefront.catalogue import Catalogue
from serving.storefront.lists import Storefront

log = logging.getLogger("shelfwise")
RETRY_SECONDS, MAX_RETRY_SECONDS = 30.0, 3600.0  # after a champion fails to load


@dataclass(frozen=True)
class Arm:
    """What answers a shopper's storefront request: the variant, its storefront and version."""

    variant: str
    storefront: Storefront | None
    version: str | None


@dataclass
class Models:
    """Everything loaded from one set of champion versions; swapped as a whole.

    A family without a champion is left out of :attr:`versions`; without the recommender
    :attr:`storefront` is None and the storefront's endpoints answer 503."""

    versions: dict[str, str]
    storefront: Storefront | None
    customers: CustomerScorer
    marketing: Marketing | None = None
    answers: AnswerCache = field(default_factory=AnswerCache)  # of these models only
    experiment: Experiment | None = None  # a running A/B test of the recommender
    challenger: Storefront | None = None  # its challenger, loaded beside the champion

    def __post_init__(self):
        self._champion = Arm(CHAMPION, self.storefront, self.versions.get("recs"))
        self._challenger = None
        if self.challenger is not None:
            version = f"{MODEL_NAMES['recs']}/{self.experiment.challenger}"
            self._challenger = Arm(CHALLENGER, self.challenger, version)

    def arm(self, shopper: str | None) -> Arm:
        """The champion's storefront, or the challenger's for a shopper the running test gives it."""
        if self._challenger is not None and variant(self.experiment, shopper) == CHALLENGER:
            return self._challenger
        return self._champion

    @property
    def registry_view(self) -> dict[str, str]:
        """What these models are, as :func:`registry_versions` names what the registry holds."""
        return {**self.versions, **({"experiment": experiment_label(self.experiment)}
                                    if self.experiment is not None and self.challenger is not None else {})}

    def families(self) -> dict[str, str]:
        """Each family's state in words: the version served and, when a baseline was chosen over
        the trained model on validation or there is no ranker, which one serves; or what to run
        to get a version."""
        out = {}
        for f in MODEL_NAMES:
            version = self.versions.get(f)
            if version is None:
                out[f] = f"no champion: run `{TRAIN_COMMANDS[f]}`"
                continue
            if f == "recs":
                recs = self.storefront.recs
                by = ", ".join(f"{task} by {name}" for task, name in recs.served.items() if name != "blended")
                if recs.booster is None:
                    out[f] = f"{version} (no ranker, the history is too short or thin for one: {by})"
                    continue
            else:
                served_by = self.customers.meta[f].get("served_by", "LightGBM")
                by = "" if served_by == "LightGBM" else f"served by {served_by}"
            out[f] = f"{version} ({by}, chosen over the trained model on validation)" if by else version
        return out


def load_models(workspace: Workspace, store: LiveStore, artifacts: dict[str, LoadedArtifact],
                experiment: Experiment | None = None, challenger: LoadedArtifact | None = None) -> Models:
    """Build what the service answers from out of the champions' model directories (those of
    the families that have one), over the worker's one connection to the live store; with a
    running ``experiment``, its ``challenger`` recommender beside the champion's."""
    # Scoring (when no worker or batch step has yet) reads the orders table whole and drops
    # it: its Arrow memory goes back to the system then, not at some later allocation.
    numerics.return_arrow_memory_at_once()
    recs = BlendedRuntime(artifacts["recs"].path) if "recs" in artifacts else None
    items = workspace.read_table_if_present("items")
    storefront = (Storefront(recs, Catalogue(recs.item_ids, recs.titles, items), store)
                  if recs is not None else None)
    path = {f: a.path for f, a in artifacts.items()}
    versions = {f: a.label for f, a in artifacts.items()}
    # Read from the workspace's score tables, or scored (drivers too) and written for the other workers.
    scored, _ = customer_scores(workspace, path, versions)
    marketing = Marketing.build(workspace, scored, recs, versions, items)
    other = None
    if storefront is not None and challenger is not None:
        rival = BlendedRuntime(challenger.path)
        other = Storefront(rival, Catalogue(rival.item_ids, rival.titles, items), store)
    return Models(versions, storefront, scored.scorer, marketing, experiment=experiment if other else None,
                  challenger=other)


def load_champions(workspace: Workspace, store: LiveStore, cache: ModelCache, view: RegistryView) -> Models:
    """The champions (and a running test's challenger) ``view`` names, through the workspace's
    cache; the champions are remembered once they load."""
    artifacts = cache.fetch(view.champions)
    experiment = view.experiment
    challenger = cache.fetch_one("recs", experiment.challenger) if experiment is not None else None
    models = load_models(workspace, store, artifacts, experiment, challenger)
    cache.remember(artifacts)
    return models


def experiment_label(e: Experiment) -> str:
    """How /v1/status names a running test."""
    return f"{e.name}: {MODEL_NAMES[e.family]}/{e.challenger} to {e.share:g} of shoppers"


def registry_versions(view: RegistryView) -> dict[str, str]:
    """The champion labels (``name/version``) ``view`` names, as in :attr:`Models.versions`, and
    the running A/B test's (:attr:`Models.registry_view`)."""
    found = {f: f"{MODEL_NAMES[f]}/{v}" for f, v in view.champions.items()}
    experiment = view.experiment
    if experiment is not None and "recs" in found:
        found["experiment"] = experiment_label(experiment)
    return found


def refreeze() -> None:
    """Collect what is no longer referenced, then freeze what is left.

    Loaded models never change, so the service moves them out of the collector's way
    (``gc.freeze``: fewer and shorter collections under load). Frozen objects are never
    collected, though: unfrozen first, the models a swap replaced are freed here, with the
    files they map."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@dataclass
class LoadFailure:
    """Champions that failed to load: which, how often, and when to try them again."""

    versions: dict[str, str]
    failures: int
    retry_at: float  # time.monotonic()

    @classmethod
    def after(cls, previous: LoadFailure | None, versions: dict[str, str]) -> LoadFailure:
        """The record after one more failure to load ``versions``: the wait doubles each time."""
        failures = previous.failures + 1 if previous is not None and previous.versions == versions else 1
        wait = min(RETRY_SECONDS * 2 ** (failures - 1), MAX_RETRY_SECONDS)
        return cls(versions, failures, time.monotonic() + wait)

    def waiting(self, versions: dict[str, str]) -> bool:
        return self.versions == versions and time.monotonic() < self.retry_at


class Champions:
    """The models one worker serves, swapped when the registry's champions change.

    Parameters
    ----------
    load, find :
        Build a :class:`Models`; return the champion labels the registry names now. Both
        may raise (registry unreachable, broken artifact): the current models then stay.
    store :
        Where the reload signal of any worker is seen.
    fallback :
        Build the last good :class:`Models` without the registry, for a start-up whose
        ``load`` fails (:meth:`serving.runtime.model_cache.ModelCache.last_good`).
    """

    def __init__(self, load: Callable[[], Models], find: Callable[[], dict[str, str]], store: LiveStore,
                 fallback: Callable[[], Models] | None = None):
        self._load, self._find, self._store = load, find, store
        self.registry_state = "ok"
        try:
            self.models = load()
        except Exception as exc:
            if fallback is None:
                raise
            try:
                self.models = fallback()
            except Exception as none:  # NoCachedModelsError, or a cached model that fails its checks
                raise RuntimeError(redact(f"{exc}; and no cached models to fall back on: {none}")) from None
            self.registry_state = ("serving the last good models cached in the workspace, because "
                                   f"loading the registry's champions failed: {redact(str(exc))}")
            log.warning("%s", self.registry_state)
        self.last_check: str | None = None
        self._lock = threading.Lock()
        self._signals_seen = store.signal_count(RELOAD_SIGNAL)
        self._stop = threading.Event()
        self._failed: LoadFailure | None = None

    def check(self, force: bool = False) -> bool:
        """Load the registry's champions if they differ from the served ones; True if swapped.

        Champions that failed to load are tried again only after a wait that doubles with each
        failure (30 s to an hour), so a broken artifact is not downloaded and loaded at every
        poll; ``force`` (an admin's reload) tries at once.
        """
        with self._lock:
            self.last_check = datetime.now(UTC).isoformat(timespec="seconds")
            try:
                found = self._find()
                swapped = found != self.models.registry_view
                if swapped and not force and self._failed is not None and self._failed.waiting(found):
                    return False  # registry_state still says why the last try failed
                if swapped:
                    try:
                        new = self._load()
                    except Exception as exc:
                        failed = self._failed = LoadFailure.after(self._failed, found)
                        wait = failed.retry_at - time.monotonic()
                        raise RuntimeError(f"{exc} (failed {failed.failures} time(s); tried again in "
                                           f"{wait:.0f} s or at POST /admin/reload)") from exc
                    self._failed = None
                    old, self.models = self.models, new  # one assignment: old or new, never half
                    log.info("champions changed: %s -> %s", old.registry_view, self.models.registry_view)
                    del old  # requests that still hold it keep it until they finish
                    refreeze()
                self.registry_state = "ok"
                return swapped
            except Exception as exc:  # unreachable registry, broken artifact: keep the last good models
                self.registry_state = f"last check failed, serving the loaded models: {redact(str(exc))}"
                log.warning("registry check failed: %s", redact(str(exc)))
                return False

    @property
    def degraded(self) -> bool:
        """The last attempt to read the registry's champions failed: what is served may not be
        the champion (readiness says so; requests are still answered)."""
        return self.registry_state != "ok"

    def request_reload(self) -> int:
        """Ask every worker (this one included) to check the registry within a second."""
        return self._store.send_signal(RELOAD_SIGNAL)

    def poll(self, every_seconds: float, tick: float = 1.0) -> threading.Thread:
        """Check the registry every ``every_seconds`` (0: only on request) and within
        ``tick`` seconds of a reload signal, in a daemon thread."""
        def run() -> None:
            waited = 0.0
            while not self._stop.wait(tick):
                waited += tick
                try:
                    signals = self._store.signal_count(RELOAD_SIGNAL)
                except Exception as exc:  # a locked or missing store must not end the polling
                    log.warning("reading the reload signal failed: %s", exc)
                    signals = self._signals_seen
                asked = signals != self._signals_seen
                if asked or (every_seconds and waited >= every_seconds):
                    self._signals_seen, waited = signals, 0.0
                    self.check(force=asked)

        thread = threading.Thread(target=run, daemon=True, name="registry-poll")
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
