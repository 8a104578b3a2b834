import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.artifacts import write_checksums
from features.customer_features import build_training_set, monthly_cutoffs
from training.customer_models import CustomerModel, CustomerModelParams

FAST = CustomerModelParams(num_leaves=4, min_child_samples=5, leaves_grid=(4,), min_child_grid=(5,),
                          max_rounds=50)


@pytest.fixture
def training_set(small_shop):
    return build_training_set(small_shop, monthly_cutoffs(pd.Timestamp("2011-03-01"), 60, 4), 60)


def test_churn_model_ranks_churners_above_loyal_customers(training_set):
    model = CustomerModel("churn", FAST).fit(training_set, 60)
    p = model.predict(training_set)
    assert ((0 <= p) & (p <= 1)).all()
    assert roc_auc_score(training_set["churned"], p) > 0.7


@pytest.mark.parametrize("target", [0.2, 0.5, 0.8])
def test_matching_the_churn_level_sets_the_mean_and_keeps_the_ranking(training_set, tmp_path, target):
    model = CustomerModel("churn", FAST).fit(training_set, 60)
    assert model.calibration_ is not None
    before = model.predict(training_set)
    shift = model.match_level(training_set, target, feature_set="customer_v2_210d")
    after = model.predict(training_set)
    assert after.mean() == pytest.approx(target, abs=1e-4)
    assert np.sign(shift) == np.sign(target - before.mean())
    assert roc_auc_score(training_set["churned"], after) == roc_auc_score(training_set["churned"], before)
    # The shift lives in the stored map, which the service applies as it is.
    model.save(tmp_path, {})
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["calibration"]["level"] == {"shift": shift, "target_mean": target, "feature_set": "customer_v2_210d"}
    raw = model.predict(training_set, calibrated=False)
    np.testing.assert_allclose(np.interp(raw, meta["calibration"]["x"], meta["calibration"]["y"]), after)


def test_saved_booster_reloads_with_identical_predictions(training_set, tmp_path):
    model = CustomerModel("cltv", FAST).fit(training_set, 60)
    model.save(tmp_path, {"horizon_days": 60})
    loaded, meta = CustomerModel.load(tmp_path, "cltv")
    assert meta["horizon_days"] == 60 and meta["task"] == "cltv"
    np.testing.assert_allclose(loaded.predict(training_set), model.predict(training_set))


def test_loading_a_model_of_another_feature_set_is_refused(training_set, tmp_path):
    CustomerModel("churn", FAST).fit(training_set, 60).save(tmp_path, {"horizon_days": 60})
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "feature_set": "other_v9"}))
    write_checksums(tmp_path)  # a model trained by code that had that feature set
    with pytest.raises(ValueError, match="feature set 'other_v9'"):
        CustomerModel.load(tmp_path, "churn")


def test_unknown_task_is_rejected_at_fit(training_set):
    with pytest.raises(ValueError, match="unknown task 'ltv'"):
        CustomerModel("ltv").fit(training_set, 60)


def test_tuning_never_learns_from_labels_that_overlap_the_validation_window(training_set, monkeypatch):
    import lightgbm as lgb

    rows = []
    real_train = lgb.train

    def spy(params, train_set, *args, **kwargs):
        rows.append(train_set.data.shape[0])
        return real_train(params, train_set, *args, **kwargs)

    monkeypatch.setattr("training.customer_models.lgb.train", spy)
    params = CustomerModelParams(num_leaves=4, min_child_samples=5, leaves_grid=(4, 8),
                                 min_child_grid=(5,), max_rounds=50)
    model = CustomerModel("churn", params).fit(training_set, 60)
    cutoffs = training_set["cutoff"]
    # Cutoffs are monthly and labels span 60 days: the two cutoffs before the last overlap it.
    clean = (cutoffs + pd.Timedelta(days=60) <= cutoffs.max()).sum()
    assert rows == [clean, clean, len(training_set)]  # two probes, then the refit on everything
    assert [t["num_leaves"] for t in model.tuning_] == [4, 8]
    assert model.num_leaves_ in (4, 8) and model.calibration_ is not None


@pytest.mark.parametrize("helped_a_horizon_back", [True, False])
def test_a_calibration_map_is_kept_only_if_the_same_step_a_horizon_back_helped(small_shop, monkeypatch,
                                                                             helped_a_horizon_back):
    """The map is applied a horizon after it is fitted: it is checked by a probe that learns
    from the cutoffs whose labels end by the validation probe's last cutoff, and whose map
    must lower the Brier score on the validation cutoff."""
    import lightgbm as lgb

    import training.customer_models as cm

    training_set = build_training_set(small_shop, monthly_cutoffs(pd.Timestamp("2011-06-01"), 60, 8), 60)
    rows, real_train, real_choose, maps = [], lgb.train, cm.choose_calibration, []

    def spy(params, train_set, *args, **kwargs):
        rows.append(train_set.data.shape[0])
        return real_train(params, train_set, *args, **kwargs)

    def choose(p, y, seed=0):
        # The first map is the validation cutoff's; the second, a horizon back, is either
        # that same map (it helps there by construction) or one that says everyone churns.
        if not maps:
            maps.append(real_choose(p, y, seed))
            return {**maps[0], "method": "platt"}
        if helped_a_horizon_back:
            return maps[0]
        return {"method": "platt", "x": [0.0, 1.0], "y": [0.99, 0.99]}

    monkeypatch.setattr("training.customer_models.lgb.train", spy)
    monkeypatch.setattr("training.customer_models.choose_calibration", choose)
    model = CustomerModel("churn", FAST).fit(training_set, 60)
    cutoffs = training_set["cutoff"]
    probe_last = cutoffs[cutoffs + pd.Timedelta(days=60) <= cutoffs.max()].max()
    a_horizon_back = (cutoffs + pd.Timedelta(days=60) <= probe_last).sum()
    assert rows == [(cutoffs + pd.Timedelta(days=60) <= cutoffs.max()).sum(), a_horizon_back, len(training_set)]
    check = model.calibration_["out_of_time"]
    assert check["step"] == "a horizon back" and check["fitted_on"] == str(probe_last.date())
    assert (check["brier_mapped"] < check["brier_raw"]) is helped_a_horizon_back
    assert model.calibration_["method"] == ("platt" if helped_a_horizon_back else "none")


@pytest.mark.parametrize("fit", ["isotonic", "monotone"])
def test_a_calibration_map_sets_the_level_and_keeps_the_order_of_the_scores(fit):
    """Isotonic regression's flat steps would tie customers the score tells apart; the stored
    map still rises, so a list of the likeliest churners keeps the score's order."""
    from training.customer_models import calibrate, choose_calibration, monotone_map

    rng = np.random.default_rng(7)  # not 0: choose_calibration draws its folds from seed 0
    if fit == "isotonic":  # two levels of churn the scores do not show: isotonic's steps fit them
        p = rng.uniform(0, 1, 2_000)
        y = (rng.uniform(0, 1, 2_000) < np.where(p < 0.5, 0.2, 0.8)).astype(float)
        mapping = choose_calibration(p, y)
        assert mapping["method"] == "isotonic"
        score = rng.uniform(0, 1, 500)
    else:  # days since the last order
        p = rng.integers(0, 365, 2_000).astype(float)
        y = (rng.uniform(0, 365, 2_000) < p).astype(float)
        mapping = monotone_map(p, y)
        score = rng.uniform(p.min(), p.max(), 500)
    served = calibrate(score, mapping)
    assert (np.diff(served[np.argsort(score)]) > 0).all()
    assert ((served >= 0) & (served <= 1)).all()
    # And the level is the labels'.
    assert calibrate(p, mapping).mean() == pytest.approx(y.mean(), abs=0.01)
