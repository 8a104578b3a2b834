"""``python -m serving``: check the registry, then start ``bentoml serve``.

BentoML restarts a worker whose start-up fails, forever. Checking for champion models
first turns the commonest failure (nothing trained yet) into a clear message and a
non-zero exit.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from features.workspace import Settings, Workspace
from serving.registry import MODEL_NAMES, NoChampionError, find_champions

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m serving", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--host", default="127.0.0.1")
    args = p.parse_args(argv)
    ws = Workspace.from_settings(Settings())
    try:
        versions = find_champions(ws.tracking_uri)
    except NoChampionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not ws.table_path("orders").exists():
        print(f"error: no orders table in {ws.home}; run `shelfwise ingest` first", file=sys.stderr)
        return 2
    print(f"serving {', '.join(f'{MODEL_NAMES[f]}/{v}' for f, v in versions.items())} from {ws.home} "
          f"at http://{args.host}:{args.port}", flush=True)
    env = {**os.environ, "SHELFWISE_HOME": str(ws.home), "BENTOML_DO_NOT_TRACK": "true",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    cmd = [sys.executable, "-m", "bentoml", "serve", "serving.service:Shelfwise",
           "--host", args.host, "--port", str(args.port), "--working-dir", str(PROJECT_ROOT)]
    os.execve(sys.executable, cmd, env)
    return 0  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
