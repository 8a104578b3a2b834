"""What serves churn and CLTV: LightGBM, or the simple model that beats it on validation."""

from types import SimpleNamespace

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.customer_features import CUTOFF, build_rfm_summary
from training.btyd import BetaGeoModel
from training.jobs.customers import baseline_predictions, choose_served


@pytest.mark.parametrize("rounds", [1, 40])
def test_a_lightgbm_kept_to_one_round_must_beat_the_best_simple_model_instead_of_being_beaten(small_shop, rounds):
    cutoff, horizon = pd.Timestamp("2011-01-01"), 60
    orders = small_shop
    last = orders[orders["timestamp"] < cutoff].groupby("customer_id")["timestamp"].max()
    val = pd.DataFrame({CUTOFF: cutoff, "customer_id": last.index, "recency_days": (cutoff - last).dt.days.to_numpy()})
    window = orders[(orders["timestamp"] >= cutoff) & (orders["timestamp"] < cutoff + pd.Timedelta(days=horizon))]
    y = (~val["customer_id"].isin(set(window["customer_id"]))).to_numpy(float)
    summary = build_rfm_summary(orders, cutoff)
    bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    simple = baseline_predictions("churn", orders, val, cutoff, horizon, summary, bg)
    best = max(simple, key=lambda name: roc_auc_score(y, simple[name]))
    # LightGBM ranks exactly as the best simple model: a tie, so the incumbent stays.
    model = SimpleNamespace(validation_=(y, simple[best].copy()), best_rounds_=rounds)
    said = []
    served, _ = choose_served("churn", model, val, orders, horizon, said.append)
    if rounds == 1:  # nothing LightGBM learned helped on validation: the best simple model is the one to beat
        assert served == best and said[0].endswith("(LightGBM kept one round: the best simple model is the one to beat)")
    else:
        assert served == "LightGBM" and said[0].endswith("-> serving LightGBM")
