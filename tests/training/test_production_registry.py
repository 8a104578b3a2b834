"""Training registers in, and the service loads from, MLflow as production teams run it: a
tracking server whose backend store is PostgreSQL and whose artifacts go to an S3-compatible
object store, each a real server on 127.0.0.1 (tests/conftest.py starts them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from benchmarks.service import running_service
from features.workspace import Workspace
from tests.conftest import mlflow_tracking_server, server_env

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "mlflow"
pytestmark = [pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture(scope="module")
def tracking_server(postgres_url, s3_store, tmp_path_factory):
    log = tmp_path_factory.mktemp("mlflow-server") / "server.log"
    with mlflow_tracking_server(postgres_url("mlflow"), s3_store, BUCKET, log) as url:
        yield url


def _shelfwise(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "training", *args], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def test_models_are_registered_in_postgresql_and_s3_and_served_from_there(tracking_server, postgres_url, s3_store,
                                                                          small_shop, tmp_path):
    import psycopg

    from serving.api.access import KeyStore, keys_path

    home = tmp_path / "ws"
    small_shop.to_parquet(Workspace(home).table_path("orders"), index=False)
    # The trainer and the service know the server's URL, no database password, no S3 key.
    env = server_env(SHELFWISE_HOME=str(home), MLFLOW_TRACKING_URI=tracking_server, SHELFWISE_WORKERS="1",
               SHELFWISE_RELOAD_SECONDS="0")
    for family, as_of in (("churn", "2011-03-01"), ("cltv", "2011-03-01")):
        out = _shelfwise(env, "train", family, "--as-of", as_of, "--horizon-days", "60")
        assert "alias: champion (no champion yet)" in out
    _shelfwise(env, "score", "customers")

    # The registry is PostgreSQL's ...
    with psycopg.connect(postgres_url("mlflow")) as conn:
        aliases = conn.execute("SELECT name, alias, version FROM registered_model_aliases ORDER BY name").fetchall()
    assert aliases == [("shelfwise-churn", "champion", 1), ("shelfwise-cltv", "champion", 1)]
    # ... the model files are in the bucket ...
    listed = s3_store["client"]().list_objects_v2(Bucket=BUCKET, Prefix="artifacts/")
    keys = [o["Key"] for o in listed.get("Contents", [])]
    for name in ("model.lgb", "meta.json"):
        assert sum(k.endswith(f"/model/{name}") for k in keys) == 2, keys
    # ... and nothing of the registry is in the workspace.
    assert not (home / "mlflow" / "mlflow.db").exists()
    assert not any((home / "mlflow" / "artifacts").rglob("*.lgb"))

    key = KeyStore(keys_path(home)).create("admin", "production-registry")[1]
    with running_service(env, tmp_path / "service.log", timeout=180) as (_, url):
        client = httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {key}"})
        models = client.get("/v1/status").json()["models"]
        assert (models["churn"], models["cltv"]) == ("shelfwise-churn/1", "shelfwise-cltv/1")
        customer = small_shop["customer_id"].iloc[0]
        body = client.post("/customer", json={"customer_id": customer}).json()
        assert 0.0 <= body["churn_probability"] <= 1.0 and body["predicted_cltv"] >= 0, body
        assert body["model_versions"] == {"churn": "shelfwise-churn/1", "cltv": "shelfwise-cltv/1"}
        # Recommendations were never trained: their endpoints say so, the rest serves.
        assert client.post("/recommend", json={"user_id": customer}).status_code == 503
