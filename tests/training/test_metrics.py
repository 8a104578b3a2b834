import numpy as np
import pytest

from training.metrics import ndcg_at_k, normalized_gini, precision_at_k, ranking_report, recall_at_k


def test_ranking_metrics_match_hand_computed_values():
    recommended = ["a", "b", "c", "d"]
    relevant = {"b", "d", "e"}
    assert precision_at_k(recommended, relevant, 4) == 0.5
    assert recall_at_k(recommended, relevant, 4) == pytest.approx(2 / 3)
    dcg = 1 / np.log2(3) + 1 / np.log2(5)
    idcg = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert ndcg_at_k(recommended, relevant, 4) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["b", "d", "e"], relevant, 4) == pytest.approx(1.0)


def test_a_user_without_recommendations_counts_as_a_miss():
    report = ranking_report({"u1": ["a"]}, {"u1": {"a"}, "u2": {"b"}}, k=1)
    assert report["precision_at_1"] == 0.5
    assert report["ndcg_at_1"] == 0.5


def test_normalized_gini_is_one_for_perfect_order_and_below_for_reversed():
    actual = np.array([0.0, 10.0, 2.0, 5.0])
    assert normalized_gini(actual, actual) == pytest.approx(1.0)
    assert normalized_gini(actual, -actual) == pytest.approx(-1.0)
    assert normalized_gini(actual, np.array([1.0, 4.0, 2.0, 3.0])) == pytest.approx(1.0)


def test_map_hit_rate_and_coverage_match_hand_computed_values():
    from training.metrics import average_precision_at_k, catalogue_coverage, hit_rate_at_k

    recommended, relevant = ["a", "b", "c", "d"], {"b", "d", "e"}
    # hits at ranks 2 and 4: (1/2 + 2/4) / min(3, 4)
    assert average_precision_at_k(recommended, relevant, 4) == pytest.approx((0.5 + 0.5) / 3)
    assert average_precision_at_k(recommended, relevant, 1) == 0.0
    assert hit_rate_at_k(recommended, relevant, 1) == 0.0
    assert hit_rate_at_k(recommended, relevant, 2) == 1.0
    assert catalogue_coverage({"u1": ["a", "b"], "u2": ["b", "c"]}, n_items=8, k=2) == 3 / 8
    report = ranking_report({"u1": recommended}, {"u1": relevant}, 4, metrics=("map", "hit_rate"))
    assert report == {"map_at_4": pytest.approx(1 / 3), "hit_rate_at_4": 1.0}


def test_calibration_lift_and_decile_error_by_hand():
    from training.metrics import decile_mape, expected_calibration_error, top_decile_lift

    y = np.array([0, 0, 1, 1])
    p = np.array([0.05, 0.05, 0.95, 0.55])
    # bins: [0.0,0.1) has 2 with rate 0 vs 0.05; [0.5,0.6) 1 with 1 vs .55; [0.9,1.0] 1 with 1 vs .95
    assert expected_calibration_error(y, p) == pytest.approx(0.5 * 0.05 + 0.25 * 0.45 + 0.25 * 0.05)
    scores = np.arange(20, dtype=float)
    labels = np.r_[np.zeros(18), np.ones(2)]
    assert top_decile_lift(labels, scores) == pytest.approx(1.0 / 0.1)
    actual = np.arange(1, 11, dtype=float)
    assert decile_mape(actual, actual) == 0.0
    assert decile_mape(actual, actual * 1.5) == pytest.approx(0.5)


def test_the_report_is_the_mean_of_each_metric_over_users_with_short_lists_and_misses():
    from training.metrics import METRICS

    truth = {"u1": {"b", "d", "e"}, "u2": {"a"}, "u3": {"x", "y"}, "u4": {"c", "a", "b", "d", "e", "f"}}
    recommended = {"u1": ["a", "b", "c", "d"], "u2": ["a"], "u4": ["f", "z", "a", "b"], "u5": ["a"]}
    for k in (1, 3, 4, 6):
        report = ranking_report(recommended, truth, k, metrics=tuple(METRICS))
        for name, metric in METRICS.items():
            by_hand = np.mean([metric(recommended.get(u, []), rel, k) for u, rel in truth.items()])
            assert report[f"{name}_at_{k}"] == pytest.approx(by_hand), (name, k)


def test_paired_bootstrap_scores_each_resample_as_the_metric_scores_the_drawn_rows():
    from sklearn.metrics import roc_auc_score

    from training.metrics import paired_bootstrap

    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0], float)
    tied = np.array([0.9, 0.9, 0.5, 0.5, 0.5, 0.1, 0.8, 0.2, 0.1, 0.3])  # ties count one half
    other = np.arange(10.0)
    got = paired_bootstrap("roc_auc", y, {"tied": tied, "other": other}, n=30, seed=4)
    rng = np.random.default_rng(4)
    for r in range(30):
        drawn = rng.integers(0, len(y), len(y))
        if 0 < y[drawn].sum() < len(y):
            assert got["tied"][r] == pytest.approx(roc_auc_score(y[drawn], tied[drawn]))
            assert got["other"][r] == pytest.approx(roc_auc_score(y[drawn], other[drawn]))
        else:
            assert np.isnan(got["tied"][r]) and np.isnan(got["other"][r])

    spend = np.array([0.0, 120.0, 0.0, 35.0, 8.0, 0.0, 60.0, 2.5])
    predicted = np.array([1.0, 90.0, 3.0, 20.0, 15.0, 2.0, 70.0, 4.0])  # no ties
    got = paired_bootstrap("normalized_gini", spend, {"p": predicted}, n=20, seed=1)
    rng = np.random.default_rng(1)
    for r in range(20):
        drawn = rng.integers(0, len(spend), len(spend))
        if spend[drawn].sum() > 0:
            assert got["p"][r] == pytest.approx(normalized_gini(spend[drawn], predicted[drawn]))
