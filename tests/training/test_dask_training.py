"""`shelfwise train --dask local:2`: the churn model trained on a local Dask cluster, both
workers at work, against the same command in one process."""

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from features.workspace import Workspace
from tests.conftest import server_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _train(home: Path, *extra: str) -> str:
    out = subprocess.run([sys.executable, "-m", "training", "train", "churn", "--as-of", "2011-03-01",
                          "--horizon-days", "60", *extra], env=server_env(SHELFWISE_HOME=str(home)),
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def _test_auc(home: Path) -> float:
    from mlflow import MlflowClient

    client = MlflowClient(Workspace(home).tracking_uri)
    run = client.get_run(client.get_model_version("shelfwise-churn", "1").run_id)
    return run.data.metrics["roc_auc"]


def test_churn_trained_on_a_local_cluster_uses_both_workers_and_matches_one_process(small_shop, tmp_path):
    homes = {}
    for name in ("here", "cluster"):
        homes[name] = tmp_path / name
        Workspace(homes[name]).write_table("orders", small_shop, "fixture")
    here = _train(homes["here"])
    out = _train(homes["cluster"], "--dask", "local:2")
    found = re.search(r"\[dask\] ([\d,]+) tasks on 2 workers of local:2: (.*)", out)
    assert found, out[-2000:]
    per_worker = [int(n.replace(",", "")) for n in re.findall(r"tcp://\S+ ([\d,]+)", found.group(2))]
    assert len(per_worker) == 2 and min(per_worker) > 0  # both workers built parts and grew trees

    # The same training set, row for row; the same tree size and rounds chosen; a model as good within 0.05 of ROC-AUC
    # (LightGBM's data-parallel fit sums histograms across workers in another order).
    sets = [pd.read_parquet(next((homes[n] / "features").rglob("training_set.parquet"))) for n in homes]
    pd.testing.assert_frame_equal(sets[0], sets[1])
    chosen = [re.search(r"LightGBM fitted: (\d+ leaves, min \d+ rows per leaf, \d+ rounds)", o) for o in (here, out)]
    assert chosen[0] and chosen[0].group(1) == chosen[1].group(1)
    assert _test_auc(homes["cluster"]) == pytest.approx(_test_auc(homes["here"]), abs=0.05)
