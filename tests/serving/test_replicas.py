"""Two replicas of the service, separate processes with separate workspaces, serve as one:
one Redis live store, one shared store and one MLflow registry on PostgreSQL with its
artifacts in an S3 store, each a real server on 127.0.0.1 (tests/conftest.py starts them)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pandas as pd
import psycopg
import pytest

from benchmarks.service import running_service
from features.sources.online_retail import build_items
from features.workspace import Workspace
from serving.marketing.offers import DEFAULT_CATALOGUE
from tests.conftest import mlflow_tracking_server, server_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _shelfwise(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "training", *args], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def _until(check, seconds: float, what: str):
    """``check()``'s first true answer within ``seconds``, else fail saying ``what``."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what} (last answer: {answer!r})")
        time.sleep(0.05)


def test_two_replicas_with_their_own_disks_share_events_forgets_contacts_promotions_and_experiments(
        postgres_url, s3_store, redis_url, small_shop, tmp_path):
    from serving.api.access import KeyStore, keys_path

    shared = postgres_url("replicas_shared")
    with ExitStack() as stack:
        registry = stack.enter_context(mlflow_tracking_server(postgres_url("replicas_mlflow"), s3_store,
                                                              "replicas", tmp_path / "mlflow.log"))
        common = {"MLFLOW_TRACKING_URI": registry, "SHELFWISE_LIVE_STORE_URL": redis_url.rsplit("/", 1)[0] + "/7",
                  "SHELFWISE_SHARED_STORE_URL": shared, "SHELFWISE_WORKERS": "1",
                  "SHELFWISE_RELOAD_SECONDS": "0"}
        # The trainer (a CronJob's workspace) trains, registers and publishes the scores.
        trainer = Workspace(tmp_path / "trainer")
        trainer.write_table("orders", small_shop, "fixture")
        trainer.write_table("items", build_items(small_shop), "fixture")
        env = server_env(SHELFWISE_HOME=str(trainer.home), **common)
        _shelfwise(env, "train", "all", "--as-of", "2011-03-01", "--horizon-days", "60")
        scored = _shelfwise(env, "score", "customers")
        assert "scored" in scored and "cross-sell bundles of 3 items for" in scored
        assert len(list((trainer.home / "scores").glob("bundles-*.npz"))) == 1

        # Two replicas, each with its own disk holding a copy of the tables, nothing else.
        homes, clients = [tmp_path / "replica-a", tmp_path / "replica-b"], []
        for home in homes:
            shutil.copytree(trainer.home / "tables", home / "tables")
            key = KeyStore(keys_path(home)).create("admin", "replicas")[1]
            _, url = stack.enter_context(running_service(server_env(SHELFWISE_HOME=str(home), **common),
                                                         home / "service.log", timeout=180))
            clients.append(httpx.Client(base_url=url, timeout=20, headers={"Authorization": f"Bearer {key}"}))
        a, b = clients
        statuses = [c.get("/v1/status").json()["models"] for c in clients]
        assert statuses[0] == statuses[1] and statuses[0]["churn"] == "shelfwise-churn/1"
        customer = small_shop["customer_id"].iloc[0]
        answers = [c.post("/customer", json={"customer_id": customer}).json() for c in clients]
        assert answers[0] == answers[1] and 0 <= answers[0]["churn_probability"] <= 1
        # Neither replica scored: both read the trainer's tables from the shared store. (Each keeps
        # its own cross-sell bundles, computed once per recommender.)
        assert not [p for home in homes for p in home.glob("scores/*.parquet")]

        # An event posted to one changes the other's next answer within a second.
        viewed = {"events": [{"session_id": "replica-visitor", "item_id": "i0", "event_type": "view"}]}
        assert a.post("/events", json=viewed).json() == {"received": 1, "stored": 1}
        started = time.monotonic()
        _until(lambda: b.post("/recommend", json={"session_id": "replica-visitor", "k": 5}).json()["items"][0]
               ["source"] == "similar_to_recent", 1.0, "replica B reacting to a view posted to A")
        assert time.monotonic() - started < 1.0

        # A campaign planned through one replica counts against the other's contact limits: a
        # follow-up to the same customers, at most one contact a month.
        follow_up = ('\n[campaigns.spring-follow-up]\noffers = ["cross_sell_bundle", "free_shipping", '
                     '"loyalty_reward"]\nbudget = 3000.0\nmax_contacts = 1\ncontact_window_days = 30\n')
        for home in homes:
            (home / "offers.toml").write_text(DEFAULT_CATALOGUE.read_text() + follow_up)
        plans = {}
        for home, campaign in ((homes[0], "spring-growth"), (homes[1], "spring-follow-up")):
            out = _shelfwise(server_env(SHELFWISE_HOME=str(home), **common), "offers", "plan",
                             "--campaign", campaign, "--out", str(home / f"{campaign}.csv"))
            assert "decisions logged to the shared store" in out
            plans[campaign] = set(pd.read_csv(home / f"{campaign}.csv", dtype=str)["customer_id"])
        assert plans["spring-growth"] and not plans["spring-growth"] & plans["spring-follow-up"]
        assert re.search(r"[1-9][\d,]* at their contact limit", out), out  # the second plan's
        assert not any((home / "offers" / "decisions.jsonl").exists() for home in homes)

        # A forget through one is honoured by both at once and erased from the shared copy once;
        # each replica erases its own disk.
        forgotten = sorted(plans["spring-growth"])[0]
        assert a.delete(f"/customers/{forgotten}").status_code == 202
        assert b.post("/customer", json={"customer_id": forgotten}).status_code == 404
        for client, who in ((a, "api:"), (b, "forgotten through another replica")):
            status = _until(lambda c=client: (s := c.get(f"/customers/{forgotten}/erasure").json())["status"]
                            == "done" and s, 30, "the erasure on each replica")
            assert status["record"]["who"].startswith(who)
            assert "tables/orders.parquet" in status["record"]["removed"]
        for home in homes:
            assert forgotten not in set(pd.read_parquet(home / "tables" / "orders.parquet")["customer_id"])
        with psycopg.connect(shared) as conn:
            erasures = conn.execute("SELECT removed FROM shelfwise_erasures WHERE customer_id = %s",
                                    (forgotten,)).fetchall()
            left = conn.execute("SELECT count(*) FROM shelfwise_offer_decisions WHERE customer_id = %s",
                                (forgotten,)).fetchone()[0]
        assert len(erasures) == 1 and erasures[0][0]["shared store: offer decisions"] >= 1 and left == 0

        # A promotion reaches every replica: a reload asked of one reloads both.
        _shelfwise(env, "train", "churn", "--as-of", "2011-02-01", "--horizon-days", "60")
        _shelfwise(env, "promote", "churn", "2")
        assert a.post("/admin/reload", headers={"Content-Type": "application/json"}).status_code == 200
        _until(lambda: b.get("/v1/status").json()["models"]["churn"] == "shelfwise-churn/2", 60,
               "replica B serving the churn model promoted and reloaded through A")
        _until(lambda: a.get("/v1/status").json()["models"]["churn"] == "shelfwise-churn/2", 60,
               "replica A serving the promoted churn model")
        answers = [c.post("/customer", json={"customer_id": customer}).json() for c in clients]
        assert answers[0] == answers[1] and answers[0]["model_versions"]["churn"] == "shelfwise-churn/2"

        # An A/B test started once reaches both replicas, and each shopper (customers and
        # anonymous sessions alike) gets the same arm from either, request after request.
        version = subprocess.run(
            [sys.executable, "-c", "import sys; from pathlib import Path; from benchmarks.experiments import "
                                   "register_challenger; print(register_challenger(Path(sys.argv[1])))",
             str(trainer.home)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert version.returncode == 0, version.stderr[-3000:]
        version = version.stdout.strip().splitlines()[-1]
        _shelfwise(env, "experiments", "start", "across-replicas", "--challenger", version, "--share", "0.5")
        assert b.post("/admin/reload", headers={"Content-Type": "application/json"}).status_code == 200
        for client in clients:
            _until(lambda c=client: c.get("/v1/status").json()["experiment"], 60,
                   "each replica loading the experiment's challenger")
        shoppers = [{"user_id": c} for c in sorted(set(small_shop["customer_id"]))[:20]]
        shoppers += [{"session_id": f"visitor-{i}"} for i in range(20)]
        arms = {}
        for shopper in shoppers:
            answers = [c.post("/recommend", json={**shopper, "k": 3}).json() for c in (a, b, a, b)]
            assert len({(x["variant"], x["model_version"]) for x in answers}) == 1, (shopper, answers)
            arms[answers[0]["variant"]] = answers[0]["model_version"]
        assert arms == {"champion": "shelfwise-recs/1", "challenger": f"shelfwise-recs/{version}"}
