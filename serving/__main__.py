"""``python -m serving``: check the registry, then run ``bentoml serve`` and watch its start.

BentoML restarts a worker whose start-up fails, forever. Checking for champion models
first turns the commonest failure (nothing trained yet) into a clear message; a registry
that cannot be read is survived when the workspace has cached models from an earlier
start (:mod:`serving.runtime.model_cache`), and is a clear message otherwise; a worker
that still cannot start (a broken artifact, a feature set this code does not know, an
unreachable live store) writes why to a file this process watches, which then stops the server and exits 3.
"""

from __future__ import annotations

from features import numerics

numerics.configure()  # the entry point: before numpy loads, for this process and the workers it starts

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from features.workspace import Settings, Workspace
from serving.api.access import KEYS_ENV, AccessConfigError, keys_path, load_keys
from serving.api.errors import START_FAILURE_ENV, start_failures
from serving.runtime.model_cache import ModelCache, NoCachedModelsError
from serving.runtime.registry import MODEL_NAMES, TRAIN_COMMANDS, NoChampionError, find_champions, redact

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m serving", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--host", default="127.0.0.1")
    args = p.parse_args(argv)
    ws = Workspace.from_settings(Settings())
    try:
        versions = find_champions(ws.tracking_uri, at_least_one=True)
    except NoChampionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the registry cannot be read: start from the cached models if any
        unreadable = redact(f"the MLflow registry at {ws.tracking_uri} cannot be read ({_first_line(exc)})")
        try:
            versions = {f: a.version for f, a in ModelCache(ws).last_good().items()}
        except NoCachedModelsError as none:
            print(f"error: {unreadable}, and {redact(str(none))}", file=sys.stderr)
            return 2
        print(f"warning: {unreadable}; starting from the last good models cached in the workspace. "
              "GET /v1/status says 'degraded' until the registry answers again.", file=sys.stderr, flush=True)
    if not ws.table_path("orders").exists():
        print(f"error: no orders table in {ws.home}; run `shelfwise ingest` first", file=sys.stderr)
        return 2
    try:
        keys = load_keys(ws.home)
    except AccessConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not len(keys):
        print(f"error: no API keys: every endpoint but the probes needs one. Create them with "
              f"`shelfwise keys create --role storefront|catalogue|marketer|admin|monitoring` "
              f"(stored in {keys_path(ws.home)}) or set {KEYS_ENV}=role:key,...", file=sys.stderr)
        return 2
    print(f"serving {', '.join(f'{MODEL_NAMES[f]}/{v}' for f, v in versions.items())} from {ws.home} "
          f"at http://{args.host}:{args.port}", flush=True)
    for family in MODEL_NAMES.keys() - versions.keys():
        print(f"warning: no {family} champion: its endpoints answer 503 until one is trained "
              f"(`{TRAIN_COMMANDS[family]}`)", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="shelfwise-start-") as tmp:
        failure = Path(tmp) / "failure.txt"
        env = {**os.environ, "SHELFWISE_HOME": str(ws.home), "BENTOML_DO_NOT_TRACK": "true",
               "MLFLOW_DISABLE_TELEMETRY": "true", START_FAILURE_ENV: str(failure)}
        cmd = [sys.executable, "-m", "bentoml", "serve", "serving.api.service:Shelfwise",
               "--host", args.host, "--port", str(args.port), "--working-dir", str(PROJECT_ROOT)]
        return _watch(subprocess.Popen(cmd, env=env), failure)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    refused = re.search(r"Failed to establish a new connection: ([^'\")]+)", text)
    return f"cannot connect: {refused.group(1)}" if refused else text.splitlines()[0][:300]


def _watch(server: subprocess.Popen, failure: Path) -> int:
    """Wait for the server; stop it and exit 3 as soon as a worker reports a failed start."""
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    try:
        while server.poll() is None:
            if start_failures(failure):
                time.sleep(1.0)  # the start's other workers fail within it, maybe for another reason
                print(f"error: the service failed to start (its models or its live store), so it is "
                      f"stopping instead of restarting forever:\n{''.join(start_failures(failure))}",
                      file=sys.stderr, flush=True)
                server.terminate()
                server.wait(timeout=30)
                return 3
            time.sleep(0.5)
    except KeyboardInterrupt:  # Ctrl-C reached the server too; let it finish stopping
        server.wait(timeout=30)
    return server.returncode or 0


if __name__ == "__main__":
    sys.exit(main())
