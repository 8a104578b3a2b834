"""The one module of ``serving`` that talks to MLflow: find and download champions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MODEL_NAMES = {"recs": "shelfwise-recs", "churn": "shelfwise-churn", "cltv": "shelfwise-cltv"}
CHAMPION = "champion"


@dataclass(frozen=True)
class LoadedArtifact:
    family: str
    name: str
    version: str
    path: Path

    @property
    def label(self) -> str:
        return f"{self.name}/{self.version}"


class NoChampionError(RuntimeError):
    """A model family has no version with the ``champion`` alias."""


def _client(tracking_uri: str):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    return MlflowClient(tracking_uri)


def find_champions(tracking_uri: str,
                   families: tuple[str, ...] = tuple(MODEL_NAMES)) -> dict[str, str]:
    """The champion version of every family, without downloading anything.

    Raises
    ------
    NoChampionError
        Naming every family without a champion and the command that makes one.
    """
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    found, missing = {}, []
    for family in families:
        try:
            found[family] = str(client.get_model_version_by_alias(MODEL_NAMES[family], CHAMPION).version)
        except MlflowException:
            missing.append(family)
    if missing:
        raise NoChampionError(
            f"no '{CHAMPION}' model for {missing} in the MLflow registry at {tracking_uri}; "
            f"train them first, e.g. `shelfwise train all --as-of YYYY-MM-DD`")
    return found


def download_champions(tracking_uri: str, dest: Path,
                       families: tuple[str, ...] = tuple(MODEL_NAMES)) -> dict[str, LoadedArtifact]:
    """Download the champion of every family into ``dest``.

    Raises
    ------
    NoChampionError
        As :func:`find_champions`.
    """
    import mlflow

    versions = find_champions(tracking_uri, families)
    found = {}
    for family, version in versions.items():
        name = MODEL_NAMES[family]
        # By version, not alias: the files are those of the version just resolved even if
        # the alias moves meanwhile.
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=str(dest / family))
        found[family] = LoadedArtifact(family, name, version, Path(path))
    return found
