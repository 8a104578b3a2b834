"""The one module of ``serving`` that talks to MLflow: find and download champions."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

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
