"""Training jobs against a real MLflow registry in a temporary SQLite store."""

import json
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.sources.online_retail import build_items
from features.workspace import Workspace
from training import jobs, registry
from training.jobs.promotion import decide


@pytest.fixture
def workspace(tmp_path, small_shop, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    ws = Workspace(tmp_path / "ws")
    small_shop.to_parquet(ws.table_path("orders"), index=False)
    return ws


def _alias(ws, family, alias):
    return str(MlflowClient(ws.tracking_uri).get_model_version_by_alias(
        registry.MODEL_NAMES[family], alias).version)


def test_first_version_becomes_champion_and_an_equal_one_stays_challenger(workspace, small_shop):
    as_of = pd.Timestamp("2011-03-01")
    first = jobs.train_recs(workspace, small_shop, build_items(small_shop), as_of, log=lambda _: None)
    assert first.promoted and first.reason == "no champion yet"
    assert first.metrics["all_ndcg_at_10"] > first.baseline["all_ndcg_at_10"]
    assert {"popularity", "ease", "als", "bpr", "item_knn", "repurchase", "trending", "blended"} <= set(first.table)

    second = jobs.train_recs(workspace, small_shop, build_items(small_shop), as_of, log=lambda _: None)
    assert not second.promoted and "does not beat champion v1" in second.reason
    assert _alias(workspace, "recs", "champion") == "1"
    assert _alias(workspace, "recs", "challenger") == "2"


def _with_a_newcomer(shop: pd.DataFrame) -> pd.DataFrame:
    """The shop plus customer "new", whose two orders of i3 come in its last month."""
    end = shop["timestamp"].max().normalize()
    rows = shop[shop["item_id"] == "i3"].head(2).copy()
    rows[["order_id", "customer_id"]] = [["n1", "new"], ["n2", "new"]]
    rows["timestamp"] = [end - pd.Timedelta(days=20), end - pd.Timedelta(days=5)]
    return pd.concat([shop, rows], ignore_index=True)


def test_the_served_recommender_knows_the_test_windows_purchases(workspace, small_shop, tmp_path):
    from serving.runtime.models import BlendedRuntime

    shop = _with_a_newcomer(small_shop)
    result = jobs.train_recs(workspace, shop, build_items(shop), None, log=lambda _: None)
    runtime = BlendedRuntime(registry.champion_dir(registry.connect(workspace), "recs", tmp_path)[0])
    assert runtime.meta["tested_as_of"] == result.window.split("train < ")[1][:10]
    assert runtime.purchases_to == str(shop["timestamp"].max().date())
    row = runtime.user_row("new")  # first bought in the test window
    assert row >= 0 and runtime.item_ids[runtime.buy_again(row)[0][0]] == "i3"
    assert any(n.startswith(f"the service's model knows the purchases to {runtime.purchases_to}")
               for n in result.notes)


def test_the_champion_is_scored_on_the_new_runs_history_not_on_the_test_window_it_has_seen(workspace,
                                                                                         small_shop):
    # The first version knows the purchases the second one is tested on: scored on its own
    # history it would look better than the same model does.
    first = jobs.train_recs(workspace, small_shop, build_items(small_shop), None, log=lambda _: None)
    second = jobs.train_recs(workspace, small_shop, build_items(small_shop), None, log=lambda _: None)
    assert first.promoted and not second.promoted
    assert second.champion_score == pytest.approx(second.metrics["all_ndcg_at_10"], abs=1e-12)


def test_a_large_catalogue_leaves_bpr_out_and_samples_the_test_orders_and_says_so(workspace, small_shop,
                                                                                  monkeypatch):
    monkeypatch.setattr(jobs.recs, "is_large", lambda user_items: True)
    monkeypatch.setattr(jobs.recs, "MAX_EVAL_ORDERS", 5)
    result = jobs.train_recs(workspace, small_shop, build_items(small_shop), pd.Timestamp("2011-03-01"),
                             log=lambda _: None, promote=False)
    assert "bpr" not in result.table and {"popularity", "als", "item_knn", "ease", "blended"} <= set(result.table)
    assert any(n.startswith("bpr not fitted above 10,000 items") for n in result.notes)
    fbt = next(n for n in result.notes if n.startswith("frequently bought together"))
    assert " on 5 (a seeded sample) of " in fbt


def test_items_outside_eases_fitted_ones_are_registered_with_what_their_buyers_bought(workspace, small_shop,
                                                                                      tmp_path):
    from serving.runtime.models import BlendedRuntime
    from training.ranker import RankerParams

    logged = []
    params = RankerParams(n_windows=3, window_days=60, max_rounds=30, ease_dense_items=12, ease_neighbours=6)
    jobs.train_recs(workspace, small_shop, build_items(small_shop), pd.Timestamp("2011-03-01"),
                    log=logged.append, params=params, baselines=False)
    assert any("similar items for the 8 bought items outside EASE's 12" in line for line in logged)
    runtime = BlendedRuntime(registry.champion_dir(registry.connect(workspace), "recs", tmp_path)[0])
    tail = np.flatnonzero(np.diff(runtime.item_weights.indptr) == 0)
    assert len(tail) == 8 and all(len(runtime.similar({int(i): 1.0})[0]) for i in tail)


def test_a_champion_that_cannot_be_scored_loses_and_the_reason_names_its_version(workspace, small_shop):
    as_of = pd.Timestamp("2011-03-01")
    jobs.train_recs(workspace, small_shop, build_items(small_shop), as_of, log=lambda _: None, baselines=False)
    seen = []

    def unreadable(path):
        seen.append(path)
        raise ValueError(f"{path}: model format 'shelfwise-recs-v0', this code reads another")

    client = registry.connect(workspace)
    promoted, reason, old_version, _ = decide(client, "recs", "2", 0.1, unreadable, apply=False)
    assert promoted and str(old_version) == "1"
    assert reason.endswith("champion v1 cannot be scored: model format 'shelfwise-recs-v0', this code reads another")
    assert str(seen[0]) not in reason


def test_run_records_window_feature_set_digest_code_version_and_baseline(workspace, small_shop):
    result = jobs.train_customer_model(workspace, small_shop, "churn", pd.Timestamp("2011-03-01"),
                                       horizon_days=60, n_cutoffs=3, log=lambda _: None)
    run = MlflowClient(workspace.tracking_uri).get_run(result.run_id)
    assert run.data.tags["feature_set"] == "customer_v2"
    assert run.data.tags["events"] == "none"
    assert run.data.tags["as_of"] == "2011-03-01"
    assert len(run.data.tags["data_digest"]) == 16 and run.data.tags["code_version"]
    assert {"roc_auc", "baseline_roc_auc"} <= set(run.data.metrics)
    assert str(workspace.artifact_root) in run.info.artifact_uri  # artifacts stay in the workspace


def test_model_without_a_full_test_window_is_registered_but_not_evaluated(workspace, small_shop):
    result = jobs.train_customer_model(workspace, small_shop, "cltv", pd.Timestamp("2011-06-01"),
                                       horizon_days=120, n_cutoffs=2, log=lambda _: None)
    assert result.metrics == {}
    assert any("registered without test metrics" in n for n in result.notes)
    assert result.promoted  # no champion yet


def test_runs_carry_their_evaluation_plots(workspace, small_shop):
    client = MlflowClient(workspace.tracking_uri)
    recs = jobs.train_recs(workspace, small_shop, build_items(small_shop), pd.Timestamp("2011-03-01"),
                           log=lambda _: None)
    churn = jobs.train_customer_model(workspace, small_shop, "churn", pd.Timestamp("2011-03-01"),
                                      horizon_days=60, n_cutoffs=3, log=lambda _: None)
    assert [a.path for a in client.list_artifacts(recs.run_id, "plots")] == [
        "plots/ndcg_by_group.png", "plots/ndcg_by_k.png"]
    assert [a.path for a in client.list_artifacts(churn.run_id, "plots")] == ["plots/churn_deciles.png"]


def test_recs_tuning_trials_are_nested_runs_and_every_model_is_logged(workspace, small_shop):
    client = MlflowClient(workspace.tracking_uri)
    result = jobs.train_recs(workspace, small_shop, build_items(small_shop), pd.Timestamp("2011-03-01"),
                             log=lambda _: None)
    run = client.get_run(result.run_id)
    assert {"all_ndcg_at_10", "discovery_ndcg_at_20", "all_map_at_10", "all_hit_rate_at_20",
            "all_coverage_at_10", "popularity.all_ndcg_at_10", "ease.discovery_ndcg_at_10"} <= set(run.data.metrics)
    assert run.data.tags["feature_set"] == "ranker_v2"
    children = client.search_runs([run.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert sorted(c.data.params["l2"] for c in children) == ["100.0", "1000.0", "300.0"]
    assert all("validation_all_ndcg_at_10" in c.data.metrics for c in children)
    assert float(run.data.params["ease_l2"]) in (100.0, 300.0, 1000.0)


def test_people_can_list_versions_and_override_the_champion(workspace, small_shop, monkeypatch, capsys):
    from training.cli import main

    as_of = pd.Timestamp("2011-03-01")
    for _ in range(2):
        jobs.train_customer_model(workspace, small_shop, "churn", as_of, horizon_days=60, n_cutoffs=3,
                                  log=lambda _: None)
    monkeypatch.setenv("SHELFWISE_HOME", str(workspace.home))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "shelfwise-churn          1  champion" in out and "shelfwise-churn          2  challenger" in out
    assert main(["promote", "churn", "2"]) == 0
    assert "version 2 is now champion; version 1 is challenger" in capsys.readouterr().out
    assert _alias(workspace, "churn", "champion") == "2" and _alias(workspace, "churn", "challenger") == "1"
    assert main(["promote", "churn", "7"]) == 2
    assert "shelfwise-churn has no version 7" in capsys.readouterr().err

    # A version whose files changed in the artifact store since training is never promoted.
    source = MlflowClient(workspace.tracking_uri).get_model_version("shelfwise-churn", "1").source
    booster = Path(source.removeprefix("file://")) / "model.lgb"
    booster.write_bytes(booster.read_bytes()[:-100])
    assert main(["promote", "churn", "1"]) == 2
    err = capsys.readouterr().err
    assert "shelfwise-churn version 1 cannot be served, so it is not promoted" in err
    assert f"{source}/model.lgb" in err and "truncated" in err
    assert _alias(workspace, "churn", "champion") == "2"


def test_churn_is_calibrated_and_compared_with_bgnbd_and_scores_export_with_drivers(workspace, small_shop,
                                                                                    monkeypatch, tmp_path):
    import json

    from serving.runtime.models import CustomerScorer
    from training.cli import main

    as_of = pd.Timestamp("2011-03-01")
    churn = jobs.train_customer_model(workspace, small_shop, "churn", as_of, horizon_days=60, n_cutoffs=4,
                                      log=lambda _: None)
    cltv = jobs.train_customer_model(workspace, small_shop, "cltv", as_of, horizon_days=60, n_cutoffs=4,
                                     log=lambda _: None)
    # "level not matched" appears when the level step passed its validation (here: the lookback
    # model knew the validation cutoff's churn rate better than the churn model).
    assert set(churn.table) == {"recency alone", "BG/NBD", "LightGBM uncalibrated", "LightGBM, level not matched",
                                "LightGBM"}
    assert {"ece", "top_decile_lift", "brier"} <= set(churn.table["LightGBM"])
    assert set(cltv.table) == {"last-period spend", "BG/NBD + Gamma-Gamma", "LightGBM two-part", "LightGBM (Tweedie)"}
    assert {"spearman", "decile_mape"} <= set(cltv.table["LightGBM (Tweedie)"])

    # The exported scores are the service's: calibrated churn, bands, tiers and top drivers.
    monkeypatch.setenv("SHELFWISE_HOME", str(workspace.home))
    out = tmp_path / "scores.csv"
    assert main(["score", "customers", "--out", str(out)]) == 0
    scores = pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id")
    assert len(scores) == small_shop["customer_id"].nunique()
    assert set(scores["risk_band"]) <= {"low", "medium", "high"}
    assert (scores["cltv_tier"] == "top 10%").sum() + (scores["cltv_tier"] == "top 5%").sum() >= 1
    model_dir = next((workspace.home / "mlflow" / "artifacts" / "churn").glob("*/artifacts/model"))
    meta = json.loads((model_dir / "meta.json").read_text())
    assert meta["calibration"]["method"] in ("isotonic", "platt", "none") and meta["served_by"] == "LightGBM"
    cltv_dir = next((workspace.home / "mlflow" / "artifacts" / "cltv").glob("*/artifacts/model"))
    scorer = CustomerScorer(model_dir, cltv_dir, small_shop)
    assert len(scorer.drivers["churn"]["c1"]) == 3
    assert scores.loc["c1", "churn_probability"] == pytest.approx(scorer.score("c1")[0])

    # The same command wrote the table every service worker reads instead of scoring again.
    from serving.runtime.champions import registry_versions
    from serving.runtime.registry import read_registry
    from serving.runtime.score_table import customer_scores

    assert len(list((workspace.home / "scores").glob("customers-*.parquet"))) == 1
    assert len(list((workspace.home / "scores").glob("profiles-*.parquet"))) == 1
    read, was_read = customer_scores(workspace, {"churn": model_dir, "cltv": cltv_dir},
                                     registry_versions(read_registry(workspace.tracking_uri)))
    assert was_read
    read = read.scorer
    pd.testing.assert_frame_equal(read.frame, scorer.frame, check_names=False, check_index_type=False)
    for family in ("churn", "cltv"):
        for customer in ("c1", "c2", "c7"):
            assert read.drivers[family][customer] == scorer.drivers[family][customer]


def test_registered_versions_carry_a_signature_and_an_input_example(workspace, small_shop):
    import mlflow.models

    jobs.train_recs(workspace, small_shop, build_items(small_shop), pd.Timestamp("2011-03-01"),
                    log=lambda _: None, baselines=False)
    jobs.train_customer_model(workspace, small_shop, "churn", pd.Timestamp("2011-03-01"),
                              horizon_days=60, n_cutoffs=3, log=lambda _: None)
    client = MlflowClient(workspace.tracking_uri)
    for family, inputs, output in [("recs", ["customer_id", "k"], "item_ids"),
                                   ("churn", None, "churn_probability")]:
        source = client.get_model_version(registry.MODEL_NAMES[family], "1").source
        path = Path(mlflow.artifacts.download_artifacts(source))
        described = mlflow.models.Model.load(str(path))
        example = described.load_input_example(str(path))
        expected = inputs or json.loads((path / "meta.json").read_text())["feature_columns"]

        assert described.signature.inputs.input_names() == expected
        assert described.signature.outputs.input_names() == [output]
        assert list(example.columns) == expected and len(example) >= 1


LOAD_WITH_MLFLOW = """
import json, sys
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
out = {}
for name, path in zip(("shelfwise-recs", "shelfwise-churn", "shelfwise-cltv"), sys.argv[2:], strict=True):
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    example = pd.read_json(path, orient="split")
    if not name.endswith("recs"):
        example = example.astype(float)  # the features are floats; JSON read whole ones as ints
    out[name] = model.predict(example).iloc[:, 0].tolist()
out["imported serving"] = any(m == "serving" or m.startswith("serving.") for m in sys.modules)
print(json.dumps(out))
"""


def test_champions_load_as_mlflow_pyfunc_models_in_a_fresh_process_without_serving(workspace, small_shop, tmp_path):
    import subprocess
    import sys

    from training.customer_models import CustomerModel
    from training.ranker import BlendedRecommender

    jobs.train_recs(workspace, small_shop, build_items(small_shop), pd.Timestamp("2011-03-01"),
                    log=lambda _: None, baselines=False)
    for family in ("churn", "cltv"):
        jobs.train_customer_model(workspace, small_shop, family, pd.Timestamp("2011-03-01"),
                                  horizon_days=60, n_cutoffs=3, log=lambda _: None)
    client = MlflowClient(workspace.tracking_uri)
    paths = {f: Path(mlflow.artifacts.download_artifacts(client.get_model_version(registry.MODEL_NAMES[f], "1").source,
                                                         dst_path=str(tmp_path / f))) for f in ("recs", "churn", "cltv")}
    recs_in = pd.DataFrame({"customer_id": ["c1", "c2", "nobody"], "k": [5, 3, 5]})
    recs_in.to_json(tmp_path / "recs.json", orient="split", index=False)
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    run = subprocess.run([sys.executable, "-c", LOAD_WITH_MLFLOW, workspace.tracking_uri, str(tmp_path / "recs.json"),
                          str(paths["churn"] / "input_example.json"), str(paths["cltv"] / "input_example.json")],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])

    assert got["imported serving"] is False
    model = BlendedRecommender.load(paths["recs"])
    users, items = model.history_.users, model.history_.items
    for customer, k, listed in zip(["c1", "c2"], [5, 3], got["shelfwise-recs"], strict=False):
        top, _ = model.recommend(np.array([users.index(customer)]), k)
        assert listed == [str(items.ids[i]) for i in top[0] if i >= 0] and len(listed) == k
    assert got["shelfwise-recs"][2] == []
    for family in ("churn", "cltv"):
        example = pd.read_json(paths[family] / "input_example.json", orient="split").astype(float)
        expected = CustomerModel.load(paths[family], family)[0].predict(example)
        assert got[f"shelfwise-{family}"] == pytest.approx(list(expected), rel=1e-9)
        assert {"python_function", "lightgbm"} <= set(mlflow.models.Model.load(str(paths[family])).flavors)


def test_a_list_the_ranker_loses_on_validation_is_served_by_the_best_baseline(workspace, small_shop, monkeypatch,
                                                                               tmp_path):
    from serving.runtime.models import BlendedRuntime
    from training.evaluation import TASKS
    from training.ranker import BlendedRecommender

    class Empty:  # a ranker that recommends nothing: every baseline beats it on validation
        def recommend_tasks(self, rows, k):
            return {task: np.full((len(rows), k), -1) for task in TASKS}

    monkeypatch.setattr(BlendedRecommender, "at_validation", lambda self, cache: Empty())
    logged = []
    result = jobs.train_recs(workspace, small_shop, build_items(small_shop), pd.Timestamp("2011-03-01"),
                             log=logged.append)
    choices = [line for line in logged if "-> serving" in line]
    assert len(choices) == 3 and not any(line.endswith("-> serving blended") for line in choices)
    # What is registered and compared is what is served, measured on the test window.
    assert result.metrics == result.table["served"] and any(n.startswith("served: all by") for n in result.notes)
    path, _ = registry.champion_dir(registry.connect(workspace), "recs", tmp_path)
    runtime = BlendedRuntime(path)
    assert set(runtime.served.values()) <= {"popularity", "trending", "repurchase", "ease", "item_knn"}
    items, _ = runtime.personal(0, 5, True)
    assert len(items) >= 5
    # The MLflow model gives the same list as the service.
    from training.pyfunc import ForYou

    customer = runtime.history.users.ids[0]
    listed = ForYou(path).predict(pd.DataFrame({"customer_id": [customer], "k": [5]}))["item_ids"][0]
    assert listed == [runtime.item_ids[i] for i in items[:5]]


def test_a_history_too_short_for_a_ranker_serves_the_best_baseline_of_each_list(workspace, small_shop, tmp_path):
    from types import SimpleNamespace

    from serving.runtime.champions import Models
    from serving.runtime.models import BlendedRuntime
    from training.pyfunc import ForYou

    logged = []
    # 104 days of history: two ranker windows would be 34 days long and hold under 50 customers.
    result = jobs.train_recs(workspace, small_shop, build_items(small_shop), pd.Timestamp("2010-04-15"),
                             log=logged.append)
    assert result.promoted and any(line.startswith("[recs] no ranker: the history before 2010-04-15 spans 104 days")
                                   for line in logged)
    choices = [line for line in logged if "-> serving" in line]
    # Three validation windows of 26 days, each after as much history: 78 days before as_of.
    assert len(choices) == 3 and all("validation 2010-01-27..2010-04-15 (3 windows)" in line for line in choices)
    assert "blended" not in result.table and result.metrics == result.table["served"]
    # Repurchase is all purchases' default; EASE beats it on validation by far here, so EASE serves.
    scores = dict(part.rsplit(" ", 1) for part in choices[0].split("customers: ")[1].split(" -> ")[0].split(", "))
    assert float(scores["ease"]) > float(scores["repurchase"]) + 0.1 and choices[0].endswith("-> serving ease")
    assert any(note.startswith("served: all by ease") and note.endswith("no ranker)") for note in result.notes)
    path, _ = registry.champion_dir(registry.connect(workspace), "recs", tmp_path)
    runtime = BlendedRuntime(path)
    assert runtime.booster is None and set(runtime.served.values()) <= {"popularity", "trending", "repurchase",
                                                                         "ease", "item_knn"}
    assert json.loads((path / "meta.json").read_text())["model"] == "baselines"
    row = runtime.user_row(runtime.history.users.ids[0])
    items, _ = runtime.personal(row, 5, True)
    own, _ = runtime.buy_again(row)
    assert len(items) >= 5 and set(own) == set(runtime.bought(row))
    customer = runtime.history.users.ids[0]
    listed = ForYou(path).predict(pd.DataFrame({"customer_id": [customer], "k": [5]}))["item_ids"][0]
    assert listed == [runtime.item_ids[i] for i in items[:5]]
    states = Models({"recs": "shelfwise-recs/1"}, SimpleNamespace(recs=runtime), None).families()
    assert states["recs"].startswith("shelfwise-recs/1 (no ranker, the history is too short or thin for one: all by ")


def test_a_simple_model_that_beats_lightgbm_on_validation_is_what_serves(workspace, small_shop, monkeypatch):
    """Recency alone, made the better churn model on the validation cutoff, is served: the
    service ranks and scores customers by it through the map fitted there."""
    from serving.runtime.models import CustomerScorer
    from training.customer_models import CustomerModel

    fit = CustomerModel.fit

    def worse_on_validation(self, training_set, horizon_days, cluster=None):
        fit(self, training_set, horizon_days, cluster)
        if self.validation_ is not None:  # as if LightGBM had ranked the validation cutoff backwards
            y, raw = self.validation_
            self.validation_ = (y, -raw)
        return self

    monkeypatch.setattr(CustomerModel, "fit", worse_on_validation)
    logged = []
    churn = jobs.train_customer_model(workspace, small_shop, "churn", pd.Timestamp("2011-03-01"), horizon_days=60,
                                      n_cutoffs=4, log=logged.append)
    assert any(line.endswith("-> serving recency alone") for line in logged)
    assert not any(line.startswith("[churn] level") for line in logged)  # LightGBM's level: not served
    assert churn.metrics == churn.table["recency alone (served)"]
    # The map to a probability rises strictly: the ranking is recency's.
    assert churn.metrics["roc_auc"] == pytest.approx(churn.table["recency alone"]["roc_auc"])
    cltv = jobs.train_customer_model(workspace, small_shop, "cltv", pd.Timestamp("2011-03-01"), horizon_days=60,
                                     n_cutoffs=4, log=lambda _: None)
    assert "last-period spend (served)" in cltv.table
    dirs = {f: next((workspace.home / "mlflow" / "artifacts" / f).glob("*/artifacts/model")) for f in ("churn", "cltv")}
    scorer = CustomerScorer(dirs["churn"], dirs["cltv"], small_shop)
    frame = scorer.frame
    # Churn probability rises with days since the last order, and is a probability.
    ordered = frame.sort_values("days_since_last_order")["churn_probability"].to_numpy()
    assert (np.diff(ordered) >= -1e-12).all() and ((ordered >= 0) & (ordered <= 1)).all()
    # CLTV is the net spend of the last 60 days before the day after the last order.
    end = small_shop["timestamp"].max().normalize() + pd.Timedelta(days=1)
    recent = small_shop[small_shop["timestamp"] >= end - pd.Timedelta(days=60)].groupby("customer_id")["revenue"].sum()
    np.testing.assert_allclose(frame["predicted_cltv"], recent.reindex(frame.index, fill_value=0).clip(lower=0))
    assert scorer.drivers["churn"]["c1"][0]["feature"] == "recency alone"
    # /v1/status says which simple model serves.
    from serving.runtime.champions import Models

    states = Models({"churn": "shelfwise-churn/1", "cltv": "shelfwise-cltv/1"}, None, scorer).families()
    assert states["churn"] == "shelfwise-churn/1 (served by recency alone, chosen over the trained model on validation)"
    assert states["cltv"].startswith("shelfwise-cltv/1 (served by last-period spend")
    assert states["recs"] == "no champion: run `shelfwise train recs --as-of YYYY-MM-DD`"


@pytest.mark.parametrize("probe_mean, looked_at", [(0.52, False), (0.58, True)])
def test_a_churn_level_step_is_looked_at_only_when_the_model_missed_the_validation_rate(probe_mean, looked_at,
                                                                                       monkeypatch):
    from training.customer_models import CustomerModel
    from training.jobs import customers

    model = CustomerModel("churn")
    labels = np.array([1.0] * 50 + [0.0] * 50)  # half churned at the validation cutoff
    model.validation_ = (labels, np.full(100, probe_mean))
    built = []

    def training_set(*args, **kwargs):
        built.append(kwargs)
        return pd.DataFrame({"cutoff": pd.to_datetime([]), "churned": []})

    monkeypatch.setattr(customers, "build_training_set", training_set)
    said = []
    matched = customers.match_churn_level(model, None, [pd.Timestamp("2011-06-01")], 90,
                                          pd.Timestamp("2011-09-01"), said.append)
    assert matched is False
    assert bool(built) is looked_at
    assert ("within 0.03" in said[0]) is not looked_at


def test_a_lightgbm_the_history_cannot_validate_gives_way_to_the_best_simple_model(workspace, small_shop):
    """Three monthly cutoffs and a 90-day horizon: every earlier cutoff's labels overlap the
    last one's, so LightGBM has nothing to be validated on and the simple model that scores
    best on the last cutoff serves, as the table's served row and the registry say."""
    logged = []
    cltv = jobs.train_customer_model(workspace, small_shop, "cltv", pd.Timestamp("2011-03-01"), horizon_days=90,
                                     n_cutoffs=3, log=logged.append)
    assert any("LightGBM not validated" in line for line in logged)
    served = [name for name in cltv.table if name.endswith("(served)")]
    assert served and served[0].removesuffix(" (served)") in ("last-period spend", "BG/NBD + Gamma-Gamma")
    assert cltv.metrics == cltv.table[served[0]]


def test_a_catalogue_of_three_items_trains_the_ranker_and_serves_lists_of_three(workspace, small_shop, tmp_path):
    """Fewer items than a list's length: every list holds the whole catalogue, ranked."""
    from serving.runtime.models import BlendedRuntime

    shop = small_shop.assign(item_id=small_shop["item_id"].map(lambda i: f"i{int(i[1:]) % 3}"))
    result = jobs.train_recs(workspace, shop, build_items(shop), pd.Timestamp("2011-03-01"), log=lambda _: None)
    assert result.promoted and "blended" in result.table
    path, _ = registry.champion_dir(registry.connect(workspace), "recs", tmp_path)
    runtime = BlendedRuntime(path)
    items, _ = runtime.personal(runtime.user_row(runtime.history.users.ids[0]), 10, True)
    assert sorted(runtime.history.items.ids[items]) == ["i0", "i1", "i2"]
