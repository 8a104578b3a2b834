import numpy as np
import pandas as pd
import pytest

from features.experiments.off_policy import epsilon_greedy, evaluate

ACTIONS = ["no offer", "discount", "gift"]


def test_epsilon_greedy_explores_each_action_at_its_stated_propensity():
    draws = np.random.default_rng(0).random(60_000)
    taken = [epsilon_greedy("discount", ACTIONS, 0.3, u) for u in draws]
    shares = pd.Series([a for a, _, _ in taken]).value_counts(normalize=True)
    for action in ACTIONS:  # each at the propensity logged with it
        stated = {round(p, 9) for a, p, _ in taken if a == action}
        assert len(stated) == 1 and shares[action] == pytest.approx(stated.pop(), abs=0.01)
    assert shares["discount"] == pytest.approx(0.7 + 0.1, abs=0.01)
    assert epsilon_greedy("gift", ACTIONS, 0.0, 0.01) == ("gift", 1.0, False)


def _logs(n: int, epsilon: float, seed: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """Decisions of an epsilon-greedy policy around "discount", with rewards drawn from known
    means per action (the truth an estimate should recover)."""
    rng = np.random.default_rng(seed)
    means = {"no offer": 1.0, "discount": 2.0, "gift": 3.0}
    rows = []
    for u in rng.random(n):
        action, p, _ = epsilon_greedy("discount", ACTIONS, epsilon, u)
        rows.append({"action": action, "propensity": p, "reward": rng.exponential(means[action])})
    return pd.DataFrame(rows), means


def test_ips_and_dr_recover_a_candidates_value_that_the_logs_rarely_took():
    logs, means = _logs(40_000, 0.2, seed=1)
    always_gift = pd.Series("gift", index=logs.index)
    got = evaluate(logs, always_gift)
    for name in ("ips", "dr"):
        assert got[name].low < means["gift"] < got[name].high, (name, got[name])
    assert got["dr"].high - got["dr"].low < got["ips"].high - got["ips"].low  # DR's lower variance
    assert got["logged"].value == pytest.approx(0.8 * 2.0 + 0.2 * 2.0, rel=0.05)
    assert got["ips"].matched == (logs["action"] == "gift").sum()


def test_a_candidate_that_copies_the_logging_policy_is_valued_at_the_logged_mean():
    logs, _ = _logs(5_000, 0.1, seed=2)
    same = logs["action"]
    got = evaluate(logs, same)
    assert got["dr"].value == pytest.approx(got["logged"].value, rel=0.02)


def test_a_propensity_of_zero_is_refused():
    with pytest.raises(ValueError, match="propensities"):
        evaluate(pd.DataFrame({"action": ["a"], "propensity": [0.0], "reward": [1.0]}), pd.Series(["a"]))
