"""The zoo's chart: the table's figures, one panel a family."""

import numpy as np

from benchmarks.zoo import chart

SERVED = {"shop": "shop-a", "all_trained": 0.40, "served_all": 0.41, "all_best_baseline": ["repurchase", 0.36],
          "discovery_trained": 0.11, "served_discovery": 0.12, "discovery_best_baseline": ["ease", 0.09],
          "churn": {"roc_auc": 0.80, "baseline_roc_auc": 0.76, "btyd_roc_auc": 0.79},
          "cltv": {"normalized_gini": 0.86, "baseline_normalized_gini": 0.81}}
NO_ITEMS = {"shop": "shop-b", "churn": {"roc_auc": 0.84, "baseline_roc_auc": 0.83, "btyd_roc_auc": 0.83},
            "cltv": {"normalized_gini": 0.67, "baseline_normalized_gini": 0.67}}


def test_the_chart_draws_each_trained_family_beside_its_baselines_and_leaves_gaps_for_the_rest(tmp_path):
    fig = chart([SERVED, NO_ITEMS, {"shop": "cdnow", "unavailable": "no data"}])
    panels = {ax.get_title(): ax for ax in fig.axes}
    assert list(panels) == ["for you, all purchases: NDCG@10", "for you, discovery: NDCG@10", "churn: ROC-AUC",
                            "CLTV: normalized Gini"]
    ax = panels["for you, all purchases: NDCG@10"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["shop-a", "shop-b"]  # the unavailable shop is left out
    heights = [p.get_height() for p in ax.patches]  # served for each shop, then the best baseline
    np.testing.assert_allclose(heights, [0.41, np.nan, 0.36, np.nan])
    churn = [p.get_height() for p in panels["churn: ROC-AUC"].patches]
    np.testing.assert_allclose(churn, [0.80, 0.84, 0.76, 0.83, 0.79, 0.83])
    fig.savefig(tmp_path / "zoo.png")
    assert (tmp_path / "zoo.png").read_bytes()[:4] == b"\x89PNG"
