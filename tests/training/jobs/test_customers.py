"""What serves churn and CLTV: LightGBM, or the simple model that beats it on validation."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.customer_features import CHURNED, CUTOFF, build_rfm_summary
from training.btyd import BetaGeoModel
from training.jobs.customers import baseline_predictions, choose_served

HORIZON = 60


@pytest.fixture
def validation(small_shop):
    """The small shop's customers at a validation cutoff with their churn labels, and each
    simple model's scores there."""
    cutoff, orders = pd.Timestamp("2011-01-01"), small_shop
    last = orders[orders["timestamp"] < cutoff].groupby("customer_id")["timestamp"].max()
    val = pd.DataFrame({CUTOFF: cutoff, "customer_id": last.index, "recency_days": (cutoff - last).dt.days.to_numpy()})
    window = orders[(orders["timestamp"] >= cutoff) & (orders["timestamp"] < cutoff + pd.Timedelta(days=HORIZON))]
    val[CHURNED] = (~val["customer_id"].isin(set(window["customer_id"]))).astype(float)
    summary = build_rfm_summary(orders, cutoff)
    bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    simple = baseline_predictions("churn", orders, val, cutoff, HORIZON, summary, bg)
    return val, val[CHURNED].to_numpy(), simple


def best_of(y, simple):
    return max(simple, key=lambda name: roc_auc_score(y, simple[name]))


@pytest.mark.parametrize("rounds", [1, 40])
def test_a_lightgbm_kept_to_one_round_must_beat_the_best_simple_model_instead_of_being_beaten(small_shop, validation,
                                                                                              rounds):
    val, y, simple = validation
    best = best_of(y, simple)
    # LightGBM ranks exactly as the best simple model: a tie, so the incumbent stays.
    model = SimpleNamespace(validation_=(y, simple[best].copy()), best_rounds_=rounds)
    said = []
    served, _ = choose_served("churn", model, val, small_shop, HORIZON, said.append)
    if rounds == 1:  # nothing LightGBM learned helped on validation: the best simple model is the one to beat
        assert served == best and said[0].endswith("the best simple model is the one to beat)")
    else:
        assert served == "LightGBM" and said[0].endswith("-> serving LightGBM")


def test_a_lightgbm_that_gives_everyone_one_score_does_not_serve_however_many_rounds_it_kept(small_shop, validation):
    val, y, simple = validation
    # A dozen validation customers: too few for a simple model to beat even a constant in 97.5%
    # of resamples, so only the turned roles keep the constant from serving.
    val, y, simple = val.head(12), y[:12], {name: p[:12] for name, p in simple.items()}
    model = SimpleNamespace(validation_=(y, np.full(len(y), 0.6)), best_rounds_=40)
    said = []
    served, _ = choose_served("churn", model, val, small_shop, HORIZON, said.append)
    assert served == best_of(y, simple) and "LightGBM learnt nothing that helped on validation" in said[0]


def test_a_lightgbm_that_could_not_be_validated_gives_way_to_the_best_simple_model_on_the_last_cutoff(small_shop,
                                                                                                   validation):
    val, y, simple = validation
    model = SimpleNamespace(validation_=None, best_rounds_=100)
    said = []
    served, mapping = choose_served("churn", model, val, small_shop, HORIZON, said.append)
    assert served == best_of(y, simple) and "LightGBM not validated" in said[0]
    if served == "recency alone":  # days since the last order, mapped to a probability
        assert mapping is not None
    # Labels of one class rank nothing: LightGBM stays, and the log says why.
    said.clear()
    served, _ = choose_served("churn", model, val.assign(**{CHURNED: 0.0}), small_shop, HORIZON, said.append)
    assert served == "LightGBM" and "cannot be scored either" in said[0]
