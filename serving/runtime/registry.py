"""The one module of ``serving`` that talks to MLflow: find and download champions.

A service worker asks through :class:`WorkerRegistry`, which keeps MLflow out of the worker
when the registry is the workspace's SQLite file: MLflow and its SQLAlchemy store take about
80 MB of every worker that imports them, for a lookup every ``reload_seconds`` that nearly
always finds nothing new. Its lookups and downloads run in a short-lived child process
(``python -m serving.runtime.registry``, seconds of CPU), and a lookup only when the
registry's aliases or model tags (where A/B tests are kept) changed since the last one: a
read-only query of those two tables tells, so a training run's metrics written to the same
file start no child. A registry behind a tracking server (``http(s)://``) is asked
in-process, as a child per poll would cost more CPU than the HTTP client costs memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from features.messages import first_line

if TYPE_CHECKING:  # annotations only: the child imports what it uses when it uses it
    from features.experiments.ab import Experiment
    from features.workspace import Workspace

MODEL_NAMES = {"recs": "shelfwise-recs", "churn": "shelfwise-churn", "cltv": "shelfwise-cltv"}
CHAMPION = "champion"

# What the registry answers for a model or alias it does not have (anything else: unreadable).
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}


@dataclass(frozen=True)
class LoadedArtifact:
    family: str
    name: str
    version: str
    path: Path

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"


_USERINFO = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^/@\s:]*):[^@\s/]*@")
_SECRET_PARAM = re.compile(r"(?i)\b(password|passwd|pwd|token|secret|access_key|api_key)=[^&\s'\"]+")


def redact(text: str) -> str:
    """``text`` with the credentials of any URI in it blanked (``user:***@host``,
    ``password=***``): registry errors quote the tracking URI, which may hold a password."""
    return _SECRET_PARAM.sub(r"\1=***", _USERINFO.sub(r"\1:***@", text))


class NoChampionError(RuntimeError):
    """A model family has no version with the ``champion`` alias."""


class RegistryError(RuntimeError):
    """The registry could not be read (a child process relays MLflow's error in words)."""


# How a shop makes each family's champion; named by every message about a missing one.
TRAIN_COMMANDS = {f: f"shelfwise train {f} --as-of YYYY-MM-DD" for f in MODEL_NAMES}


class MissingFamilyError(RuntimeError):
    """A request needs a model family the service has no champion of (the API answers 503)."""

    def __init__(self, families: list[str], what: str):
        self.families, self.what = families, what
        super().__init__(
            f"{what} needs the {' and '.join(families)} model{'s' if len(families) > 1 else ''}, which "
            f"{'have' if len(families) > 1 else 'has'} no champion in this workspace yet; "
            f"train {'them' if len(families) > 1 else 'it'} with "
            f"{' and '.join(f'`{TRAIN_COMMANDS[f]}`' for f in families)} "
            "(`shelfwise train all` says why a family could not be trained)")


def _client(tracking_uri: str):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow retries an unreachable tracking server for minutes by default; a service starting
    # or polling would rather fall back to its cached models within seconds (serving.runtime.model_cache).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # as training.registry.connect
    return MlflowClient(tracking_uri)


def find_champions(tracking_uri: str, families: tuple[str, ...] = tuple(MODEL_NAMES),
                   at_least_one: bool = False) -> dict[str, str]:
    """The champion version of every family, without downloading anything.

    With ``at_least_one`` the families that have a champion are returned and the others left
    out (the service serves what exists); otherwise every family must have one.

    Raises
    ------
    NoChampionError
        Naming every family without a champion and the command that makes one (with
        ``at_least_one``: only when no family has a champion).
    MlflowException
        When the registry cannot be read (a tracking server that is down, for example).
    """
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).exists():
        # A workspace registry never written has no champions: say so without importing
        # MLflow, which would also create an empty database (8 s in all).
        raise _no_champion(list(families), tracking_uri)
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    found, missing = {}, []
    for family in families:
        try:
            found[family] = str(client.get_model_version_by_alias(MODEL_NAMES[family], CHAMPION).version)
        except MlflowException as exc:
            if exc.error_code not in _NOT_FOUND:  # the registry could not be read: say so
                raise
            missing.append(family)
    if missing and (not at_least_one or not found):
        raise _no_champion(missing, tracking_uri)
    return found


def find_experiment(tracking_uri: str, family: str = "recs"):
    """The running A/B test of ``family`` (:class:`features.experiments.ab.Experiment`), or
    None. Raises like :func:`find_champions` when the registry cannot be read."""
    import json

    from features.experiments.ab import RUNNING_TAG, TAG_PREFIX, Experiment

    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).exists():
        return None
    from mlflow.exceptions import MlflowException

    try:
        tags = _client(tracking_uri).get_registered_model(MODEL_NAMES[family]).tags
    except MlflowException as exc:
        if exc.error_code not in _NOT_FOUND:
            raise
        return None
    name = tags.get(RUNNING_TAG)
    if not name or TAG_PREFIX + name not in tags:
        return None
    return Experiment.from_dict(json.loads(tags[TAG_PREFIX + name]))


def _no_champion(families: list[str], tracking_uri: str) -> NoChampionError:
    return NoChampionError(
        f"no '{CHAMPION}' model for {families} in the MLflow registry at {tracking_uri}; "
        f"train them first, e.g. `shelfwise train all --as-of YYYY-MM-DD`")


def download_champions(tracking_uri: str, dest: Path, families: tuple[str, ...] = tuple(MODEL_NAMES),
                       at_least_one: bool = False) -> dict[str, LoadedArtifact]:
    """Download the champion of every family (or every one that has a champion) into ``dest``.

    Raises
    ------
    NoChampionError
        As :func:`find_champions`.
    """
    versions = find_champions(tracking_uri, families, at_least_one)
    return {family: download_version(tracking_uri, family, version, dest / family)
            for family, version in versions.items()}


def download_version(tracking_uri: str, family: str, version: str, dest: Path) -> LoadedArtifact:
    """Download one registered version's model directory into ``dest``."""
    import mlflow

    _client(tracking_uri)
    name = MODEL_NAMES[family]
    # By version, not alias: the files are those of the version resolved even if the alias
    # moves meanwhile.
    path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dest))
    return LoadedArtifact(family, name, version, Path(path))


@dataclass(frozen=True)
class RegistryView:
    """What a service worker needs of the registry at one moment: the champion version of every
    family that has one, and the recommender's running A/B test
    (:class:`features.experiments.ab.Experiment`) or None."""

    champions: dict[str, str]
    experiment: Experiment | None = None

    def to_dict(self) -> dict:
        return {"champions": self.champions,
                "experiment": self.experiment.to_dict() if self.experiment is not None else None}

    @classmethod
    def from_dict(cls, d: dict) -> RegistryView:
        from features.experiments.ab import Experiment

        return cls(d["champions"], Experiment.from_dict(d["experiment"]) if d["experiment"] else None)


def read_registry(tracking_uri: str) -> RegistryView:
    """:func:`find_champions` (``at_least_one``) and :func:`find_experiment`, in this process."""
    return RegistryView(find_champions(tracking_uri, at_least_one=True), find_experiment(tracking_uri))


# MLflow's registry tables whose rows name the champions and a running A/B test.
_CHANGE_TABLES = ("registered_model_aliases", "registered_model_tags")


def _sqlite_file(tracking_uri: str) -> Path | None:
    return Path(tracking_uri.removeprefix("sqlite:///")) if tracking_uri.startswith("sqlite:///") else None


class WorkerRegistry:
    """The registry as one service worker reads it: :meth:`view`, and the champions' files
    through :attr:`cache` (a :class:`serving.runtime.model_cache.ModelCache`).

    For a SQLite registry the reads run in a child process: :meth:`view` asks again only when
    the aliases or model tags changed since the last answer (the whole file, when those
    tables cannot be read) or ``max_age_seconds`` passed, and the child that asks also puts
    the champions' files (and a running test's challenger) in the cache, so a worker's start
    takes one child. The last answer is kept beside the cache: a restart with the registry
    unchanged starts none. Other registries are read in this process.
    """

    def __init__(self, workspace: Workspace, max_age_seconds: float = 3600.0):
        from serving.runtime.model_cache import ModelCache

        self.tracking_uri, self.max_age = workspace.tracking_uri, max_age_seconds
        self.home = workspace.home
        self.cache = ModelCache(workspace, download=self.download)
        self._db = _sqlite_file(self.tracking_uri)
        self._saved = self.cache.root / "registry_view.json"
        self._last: tuple[tuple, float, RegistryView] | None = None

    def _signature(self) -> tuple:
        """What changes when a champion or a test changes. The tables are only compared, never
        interpreted (MLflow, in the child, says what they mean); should a future MLflow rename
        them, any change to the file counts."""
        try:
            uri = self._db.resolve().as_uri() + "?mode=ro"
            with closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
                rows = [db.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()  # noqa: S608
                        for table in _CHANGE_TABLES]
            return ("tables", hashlib.sha256(repr(rows).encode()).hexdigest())
        except sqlite3.Error:
            out = []
            for path in (self._db, Path(f"{self._db}-journal"), Path(f"{self._db}-wal")):
                try:
                    st = path.stat()
                    out.append((st.st_mtime_ns, st.st_size, st.st_ino))
                except FileNotFoundError:
                    out.append(None)
            return ("file", *out)

    def view(self) -> RegistryView:
        """The champions and running test now.

        Raises
        ------
        NoChampionError
            No family has a champion.
        RegistryError, MlflowException
            The registry could not be read (from a child process, or in this one).
        """
        if self._db is None or not self._db.exists():  # not SQLite; or no registry yet (no MLflow needed)
            return read_registry(self.tracking_uri)
        signature = self._signature()  # before reading: a write during the read is seen next time
        if self._last is None:
            self._last = self._load_saved(signature)
        if (self._last is not None and self._last[0] == signature
                and time.monotonic() - self._last[1] < self.max_age):
            return self._last[2]
        view = RegistryView.from_dict(_in_child("view", self.tracking_uri, str(self.home)))
        self._last = (signature, time.monotonic(), view)
        if signature[0] == "tables":
            self._save(signature[1], view)
        return view

    def _save(self, digest: str, view: RegistryView) -> None:
        incoming = self._saved.with_name(f".{os.getpid()}-{self._saved.name}")
        try:
            self._saved.parent.mkdir(parents=True, exist_ok=True)
            incoming.write_text(json.dumps({"signature": digest, "view": view.to_dict()}))
            os.replace(incoming, self._saved)
        except OSError:  # a read-only workspace: the next start asks the registry, nothing worse
            incoming.unlink(missing_ok=True)

    def _load_saved(self, signature: tuple) -> tuple[tuple, float, RegistryView] | None:
        try:
            saved = json.loads(self._saved.read_text())
            if signature[0] == "tables" and saved["signature"] == signature[1]:
                return signature, time.monotonic(), RegistryView.from_dict(saved["view"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # none yet, or unreadable: ask the registry
        return None

    def download(self, family: str, version: str, dest: Path) -> LoadedArtifact:
        """:func:`download_version`, in a child process for a SQLite registry."""
        if self._db is None:
            return download_version(self.tracking_uri, family, version, dest)
        path = _in_child("download", self.tracking_uri, family, str(version), str(dest))["path"]
        return LoadedArtifact(family, MODEL_NAMES[family], str(version), Path(path))


CHILD_SECONDS = {"view": 120.0, "download": 1800.0}


def _in_child(*args: str) -> dict:
    # The package's own folder first on the path, wherever the worker was started from.
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    # A registry locked by a long write must not hold the worker's start or its polling for ever.
    timeout = CHILD_SECONDS[args[0]]
    try:
        done = subprocess.run([sys.executable, "-m", "serving.runtime.registry", *args], capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": path, "PYTHONWARNINGS": "ignore"},
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RegistryError(f"the MLflow registry at {redact(args[1])} did not answer within {timeout:g} s "
                            f"({args[0]})") from None
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        tail = " ".join(done.stderr.strip().splitlines()[-3:])
        raise RegistryError(redact(f"reading the MLflow registry failed (exit {done.returncode}): {tail}")
                            ) from None
    if "error" in answer:
        raise (NoChampionError if answer["error"] == "no-champion" else RegistryError)(answer["message"])
    return answer


def _child(argv: list[str]) -> dict:
    try:
        if argv[0] == "view":
            view = read_registry(argv[1])
            _fill_cache(view, argv[1], Path(argv[2]))
            return view.to_dict()
        tracking_uri, family, version, dest = argv[1:]
        return {"path": str(download_version(tracking_uri, family, version, Path(dest)).path)}
    except NoChampionError as exc:
        return {"error": "no-champion", "message": str(exc)}
    except Exception as exc:  # relayed in words: the worker keeps its models and says why
        return {"error": "unreadable",
                "message": redact(f"the MLflow registry at {argv[1]} could not be read: {first_line(exc)}")}


def _fill_cache(view: RegistryView, tracking_uri: str, home: Path) -> None:
    """Put the files of ``view``'s champions and challenger in the workspace's model cache."""
    from features.workspace import Workspace
    from serving.runtime.model_cache import ModelCache

    workspace = Workspace(home)
    if workspace.tracking_uri != tracking_uri:  # not the cache of this registry: the worker fetches
        return
    cache = ModelCache(workspace)
    challenger = [("recs", view.experiment.challenger)] if view.experiment is not None else []
    for family, version in [*view.champions.items(), *challenger]:
        cache.fetch_one(family, version)


if __name__ == "__main__":  # the child of WorkerRegistry; not a user command (that is `shelfwise`)
    print(json.dumps(_child(sys.argv[1:])))
