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


def download_champions(tracking_uri: str, dest: Path,
                       families: tuple[str, ...] = tuple(MODEL_NAMES)) -> dict[str, LoadedArtifact]:
    """Download the champion of every family into ``dest``.

    Raises
    ------
    NoChampionError
        Naming every family without a champion and the command that makes one.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    found, missing = {}, []
    for family in families:
        name = MODEL_NAMES[family]
        try:
            version = client.get_model_version_by_alias(name, CHAMPION)
        except MlflowException:
            missing.append(family)
            continue
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}@{CHAMPION}", dst_path=str(dest / family))
        found[family] = LoadedArtifact(family, name, str(version.version), Path(path))
    if missing:
        raise NoChampionError(
            f"no '{CHAMPION}' model for {missing} in the MLflow registry at {tracking_uri}; "
            f"train them first, e.g. `shelfwise train all --as-of YYYY-MM-DD`")
    return found
