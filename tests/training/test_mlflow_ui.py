"""`shelfwise mlflow-ui` serves the workspace's runs, plots and registered models over HTTP."""

import os
import signal
import subprocess
import sys
import time

import httpx
import pandas as pd
import pytest

from benchmarks.service import free_port
from features.workspace import Workspace
from training import jobs


@pytest.mark.slow
def test_the_ui_shows_the_workspace_experiments_plots_and_champions(tmp_path, small_shop, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ws = Workspace(tmp_path / "ws")
    small_shop.to_parquet(ws.table_path("orders"), index=False)
    result = jobs.train_customer_model(ws, small_shop, "churn", pd.Timestamp("2011-03-01"),
                                       horizon_days=60, n_cutoffs=3, log=lambda _: None)
    port = free_port()
    env = {**os.environ, "SHELFWISE_HOME": str(ws.home)}
    proc = subprocess.Popen([sys.executable, "-m", "training.cli", "mlflow-ui", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                found = httpx.get(f"{base}/api/2.0/mlflow/experiments/search", params={"max_results": 10})
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
                assert time.monotonic() < deadline, "the MLflow UI did not answer within 90 s"
                time.sleep(0.5)

        assert "shelfwise-churn" in {e["name"] for e in found.json()["experiments"]}
        assert httpx.get(base).status_code == 200  # the UI's page itself
        plot = httpx.get(f"{base}/get-artifact",
                         params={"path": "plots/churn_deciles.png", "run_uuid": result.run_id})
        assert plot.status_code == 200 and plot.content[:8] == b"\x89PNG\r\n\x1a\n"
        model = httpx.get(f"{base}/api/2.0/mlflow/registered-models/get", params={"name": "shelfwise-churn"})
        assert {"alias": "champion", "version": "1"} in model.json()["registered_model"]["aliases"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
