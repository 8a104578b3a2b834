import numpy as np
import pytest

from features import numerics


def test_lightgbm_threads_default_to_two_and_follow_the_variable(monkeypatch):
    monkeypatch.delenv("SHELFWISE_LIGHTGBM_THREADS", raising=False)
    assert numerics.lightgbm_threads() == 2
    monkeypatch.setenv("SHELFWISE_LIGHTGBM_THREADS", "1")
    assert numerics.lightgbm_threads() == 1


@pytest.mark.parametrize("value", ["0", "two", "-1", ""])
def test_a_bad_thread_count_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("SHELFWISE_LIGHTGBM_THREADS", value)
    with pytest.raises(ValueError, match="SHELFWISE_LIGHTGBM_THREADS"):
        numerics.lightgbm_threads()


def test_lightgbm_run_parameters_give_the_same_trees_for_a_seed_and_other_trees_for_another():
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = X[:, 0] + rng.normal(size=400)

    def fit(seed):  # row bagging makes the trees depend on the seed
        params = {"objective": "regression", "bagging_fraction": 0.5, "bagging_freq": 1,
                  **numerics.lightgbm_run(seed)}
        return lgb.train(params, lgb.Dataset(X, y), 20).predict(X)

    np.testing.assert_array_equal(fit(1), fit(1))
    assert not np.array_equal(fit(1), fit(2))
