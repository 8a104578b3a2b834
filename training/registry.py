"""The one module of ``training`` that talks to MLflow: runs, registry and aliases.

Models are directories of portable files (``.npz``, LightGBM text, JSON) logged as run
artifacts and registered as model versions whose source is that directory. ``serving``
downloads ``models:/<name>@champion`` and reads the files; it never imports this package.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from features.artifacts import IncompatibleModelError, check_model
from features.version import code_version
from features.workspace import Workspace

CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_NAMES = {"recs": "shelfwise-recs", "churn": "shelfwise-churn", "cltv": "shelfwise-cltv"}


def connect(ws: Workspace) -> MlflowClient:
    """Point MLflow at the workspace's tracking store and return a client."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    mlflow.set_tracking_uri(ws.tracking_uri)
    # Its "Creating initial MLflow database tables..." lines, on a workspace's first run, are
    # MLflow's business; warnings and errors still show.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    return MlflowClient(ws.tracking_uri)


def experiment_id(client: MlflowClient, ws: Workspace, family: str) -> str:
    """One experiment per model family. Its artifacts go inside the workspace when the
    registry is a database the trainer opens itself; a tracking server keeps them in its own
    artifact store (what every other machine, and the service, can reach)."""
    name = f"shelfwise-{family}"
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    if ws.tracking_uri.startswith(("http://", "https://")):
        return client.create_experiment(name)
    return client.create_experiment(name, artifact_location=(ws.artifact_root / family).as_uri())


def champion_dir(client: MlflowClient, family: str, dest: Path) -> tuple[Path, str] | None:
    """Download the current champion of ``family`` into ``dest``; ``None`` if there is none."""
    name = MODEL_NAMES[family]
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    path = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}@{CHAMPION}", dst_path=str(dest))
    return Path(path), version.version


def log_and_register(
    client: MlflowClient, ws: Workspace, family: str, model_dir: Path, *,
    params: dict, metrics: dict[str, float], tags: dict[str, str], run_name: str,
    plots: list[Path] = (), trials: list[dict] = (),
    example: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> tuple[str, str]:
    """Log one training run and register its model directory as a new version.

    ``trials`` (dicts of ``run_name``, ``params``, ``metrics``) are logged as nested runs
    under it: the tuning trials that chose the run's parameters. ``example`` (a few input
    rows and the model's output for them) becomes the version's signature and input example.

    Returns
    -------
    run_id, version : str
    """
    exp = experiment_id(client, ws, family)
    tags = {"code_version": code_version(), **tags}
    if example is not None:
        describe(model_dir, *example)
    with mlflow.start_run(experiment_id=exp, run_name=run_name) as run:
        mlflow.log_params(params)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.set_tags(tags)
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
        for plot in plots:
            mlflow.log_artifact(str(plot), artifact_path="plots")
        for trial in trials:
            with mlflow.start_run(experiment_id=exp, run_name=trial["run_name"], nested=True):
                mlflow.log_params(trial["params"])
                mlflow.log_metrics({k: float(v) for k, v in trial["metrics"].items()})
                mlflow.set_tags({"trial_of": run.info.run_id, **tags})
    name = MODEL_NAMES[family]
    try:
        client.create_registered_model(name, description=f"shelfwise {family} model")
    except MlflowException:
        pass  # already registered
    version = client.create_model_version(
        name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags=tags)
    return run.info.run_id, str(version.version)


# What a copy of the model needs to load where shelfwise is not installed (pyfunc's code/).
PACKAGES = ("features", "training")
# Its python_env: the packages its loader imports, at the versions this run used.
LOADER_REQUIREMENTS = ("numpy", "pandas", "pyarrow", "scipy", "scikit-learn", "lightgbm", "implicit",
                       "threadpoolctl", "pydantic", "pydantic-settings", "PyYAML", "mlflow")


def describe(model_dir: Path, inputs: pd.DataFrame, outputs: pd.DataFrame) -> None:
    """Make ``model_dir`` an MLflow model: an ``MLmodel`` with the ``python_function`` flavour
    (loaded by :mod:`training.pyfunc` from the portable files, no pickle), LightGBM's own
    flavour for a churn or CLTV booster, the signature inferred from ``inputs`` -> ``outputs``
    and ``inputs`` as the input example, a copy of shelfwise's code and a python_env.
    """
    import shutil
    import sys
    from importlib.metadata import version

    import mlflow.pyfunc
    from mlflow.models import Model, infer_signature

    (model_dir / "input_example.json").write_text(inputs.to_json(orient="split", index=False))
    with warnings.catch_warnings():  # "integer columns cannot hold missing values": ours never miss
        warnings.simplefilter("ignore", UserWarning)
        signature = infer_signature(inputs, outputs)
    root = Path(__file__).resolve().parent.parent
    for package in PACKAGES:
        shutil.copytree(root / package, model_dir / "code" / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"), dirs_exist_ok=True)
    requirements = [f"{name}=={version(name)}" for name in LOADER_REQUIREMENTS]
    (model_dir / "requirements.txt").write_text("\n".join(requirements) + "\n")
    python = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    (model_dir / "python_env.yaml").write_text(
        f"python: {python}\nbuild_dependencies:\n  - pip\ndependencies:\n  - -r requirements.txt\n")
    model = Model(signature=signature,
                  saved_input_example_info={"artifact_path": "input_example.json", "type": "dataframe",
                                            "pandas_orient": "split"})
    mlflow.pyfunc.add_to_model(model, loader_module="training.pyfunc", data=".", code="code",
                               python_env="python_env.yaml")
    if (model_dir / "model.lgb").exists():
        model.add_flavor("lightgbm", lgb_version=version("lightgbm"), data="model.lgb",
                         model_class="lightgbm.basic.Booster", code=None)
    model.save(str(model_dir / "MLmodel"))


def set_alias(client: MlflowClient, family: str, alias: str, version: str) -> None:
    client.set_registered_model_alias(MODEL_NAMES[family], alias, version)


def scratch_dir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="shelfwise-")


def list_versions(client: MlflowClient) -> list[dict]:
    """Every registered version of every family: aliases, run, as-of date and primary metrics."""
    rows = []
    for family, name in MODEL_NAMES.items():
        try:
            model = client.get_registered_model(name)
        except MlflowException:
            continue
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        for v in client.search_model_versions(f"name='{name}'"):
            run = client.get_run(v.run_id)
            rows.append({"family": family, "version": int(v.version),
                         "aliases": sorted(aliases.get(str(v.version), [])),
                         "as_of": run.data.tags.get("as_of", ""), "run_id": v.run_id,
                         "metrics": run.data.metrics, "created": v.creation_timestamp})
    return sorted(rows, key=lambda r: (r["family"], r["version"]))


def check_version(client: MlflowClient, family: str, version: str) -> None:
    """Download a registered version as the service would and check it against this code
    (format, feature set, file checksums): what may become champion must be servable.

    Raises
    ------
    IncompatibleModelError
        Naming the version, the file in the artifact store, and what is wrong with it.
    """
    name = MODEL_NAMES[family]
    source = client.get_model_version(name, version).source
    with scratch_dir() as tmp:
        path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=tmp)
        try:
            check_model(Path(path), family)
        except IncompatibleModelError as exc:
            where = str(exc).replace(str(Path(path)), source)  # the store's file, not our copy's
            raise IncompatibleModelError(f"{name} version {version} cannot be served, so it is not "
                                         f"promoted: {where}") from None


def promote(client: MlflowClient, family: str, version: str) -> str | None:
    """Make ``version`` the champion once it passes :func:`check_version`; the previous
    champion becomes challenger. Returns it."""
    name = MODEL_NAMES[family]
    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        raise ValueError(f"{name} has no version {version} (see `shelfwise models list`)") from exc
    check_version(client, family, version)
    try:
        previous = client.get_model_version_by_alias(name, CHAMPION).version
    except MlflowException:
        previous = None
    client.set_registered_model_alias(name, CHAMPION, version)
    if previous is not None and str(previous) != str(version):
        client.set_registered_model_alias(name, CHALLENGER, str(previous))
    return previous
