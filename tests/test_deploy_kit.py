"""The deployment kit (docs/deploy/) kept true: its manifests parse and refer to each other,
probe endpoints the service has, set only variables shelfwise reads, and run real commands."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / "docs" / "deploy"
PACKAGES = ("features", "training", "serving")


def _documents() -> list[dict]:
    docs = []
    for path in sorted((KIT / "kubernetes").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _one(kind: str, docs: list[dict] | None = None) -> dict:
    (found,) = [d for d in (docs or _documents()) if d["kind"] == kind]
    return found


def _pod(kind: str) -> dict:
    doc = _one(kind)
    return doc["spec"]["template"]["spec"] if kind == "Deployment" else \
        doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) of every instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (KIT / "Dockerfile").read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def variables_read() -> set[str]:
    """Every environment variable shelfwise reads: its settings (``SHELFWISE_`` + field), the
    names its code looks up in ``os.environ`` (or keeps in a ``*_ENV`` constant), and the
    variables MLflow documents."""
    import mlflow.environment_variables as mlflow_env

    from serving.api.settings import ServiceSettings

    names = {f"SHELFWISE_{field.upper()}" for field in ServiceSettings.model_fields}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args \
                        and node.func.attr in ("get", "setdefault", "getenv", "pop") \
                        and "environ" in ast.unparse(node.func.value) + node.func.attr:
                    first = node.args[0]
                elif isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("environ"):
                    first = node.slice
                elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id.endswith("_ENV")
                                                          for t in node.targets):
                    first = node.value
                else:
                    continue
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.add(first.value)
    names |= {v.name for v in vars(mlflow_env).values() if isinstance(getattr(v, "name", None), str)}
    return names


def test_the_manifests_parse_and_hold_the_whole_deployment():
    kinds = sorted(d["kind"] for d in _documents())
    assert kinds == ["ConfigMap", "CronJob", "Deployment", "PersistentVolumeClaim", "PodDisruptionBudget",
                     "Secret", "Secret", "Service"]


def test_every_variable_the_kit_sets_is_one_shelfwise_reads():
    read = variables_read()
    assert "SHELFWISE_LIVE_STORE_URL" in read and "MLFLOW_TRACKING_URI" in read and "SHELFWISE_API_KEYS" in read
    assert "SHELFWISE_LIVE_STORE" not in read  # a misspelt name would be caught
    docs = _documents()
    set_here = set(_one("ConfigMap", docs)["data"])
    set_here |= {name for d in docs if d["kind"] == "Secret" for name in d["stringData"]}
    for kind in ("Deployment", "CronJob"):
        for container in _pod(kind)["containers"]:
            set_here |= {e["name"] for e in container.get("env", [])}
    for instruction, args in _dockerfile():
        if instruction == "ENV":
            set_here |= {pair.split("=", 1)[0] for pair in shlex.split(args)}
    assert set_here - read == set()
    # The settings say where the workspace, the registry, the live store and the shared store are.
    assert {"SHELFWISE_HOME", "MLFLOW_TRACKING_URI", "SHELFWISE_LIVE_STORE_URL", "SHELFWISE_SHARED_STORE_URL"} <= set_here


def test_the_service_probes_endpoints_it_has_and_mounts_what_the_kit_defines():
    from serving.api.access import OPEN_PATHS

    docs = _documents()
    deployment = _one("Deployment", docs)
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (port,) = container["ports"]
    assert container["command"] == ["python", "-m", "serving", "--host", "0.0.0.0",
                                    "--port", str(port["containerPort"])]
    probes = {name: container[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz" and probes["livenessProbe"]["path"] == "/livez"
    assert all(p["path"] in OPEN_PATHS and p["port"] == port["name"] for p in probes.values())  # no key needed
    assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]
    # Every reference names something the kit defines.
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for kind in ("Deployment", "CronJob"):
        spec = _pod(kind)
        for container in spec["containers"]:
            for ref in container.get("envFrom", []):
                (key, value), = ref.items()
                assert ({"configMapRef": "ConfigMap", "secretRef": "Secret"}[key], value["name"]) in names
            mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
            assert mounts["workspace"] == _one("ConfigMap", docs)["data"]["SHELFWISE_HOME"]
        claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]}
        assert claims <= {n for k, n in names if k == "PersistentVolumeClaim"}
    service = _one("Service", docs)
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]


def test_the_retrain_job_runs_a_shelfwise_command():
    from training.cli import build_parser, cmd_retrain

    cronjob = _one("CronJob")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = _pod("CronJob")["containers"]
    program, *args = container["command"]
    assert program == "shelfwise"
    assert build_parser().parse_args(args).func is cmd_retrain


def test_the_image_installs_the_lock_copies_every_package_and_starts_the_service_as_deployed():
    instructions = _dockerfile()
    copied = [source for args in (shlex.split(a) for i, a in instructions if i == "COPY") for source in args[:-1]]
    assert all((ROOT / source).exists() for source in copied), copied
    assert set(PACKAGES) <= set(copied) and "requirements.lock" in copied
    runs = " ".join(args for instruction, args in instructions if instruction == "RUN")
    assert "pip install --no-cache-dir -r requirements.lock" in runs and "--no-deps ." in runs
    (cmd,) = [args for instruction, args in instructions if instruction == "CMD"]
    (container,) = _pod("Deployment")["containers"]
    assert yaml.safe_load(cmd) == container["command"]
    exposed = [args for instruction, args in instructions if instruction == "EXPOSE"]
    assert exposed == [str(container["ports"][0]["containerPort"])]
