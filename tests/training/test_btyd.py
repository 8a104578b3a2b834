"""BG/NBD and Gamma-Gamma reproduce the published CDNOW estimates (within 1%)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.customer_features import build_rfm_summary
from features.sources.cdnow import read_cdnow
from training.btyd import BetaGeoModel, GammaGammaModel, expected_clv

SAMPLE = Path(__file__).resolve().parents[2] / "data/cdnow/CDNOW_sample.txt"
CALIBRATION_END = pd.Timestamp("1997-10-01")  # 39 weeks: 1997-01-01..1997-09-30


@pytest.fixture(scope="module")
def summary():
    return build_rfm_summary(read_cdnow(SAMPLE), CALIBRATION_END)


def test_cdnow_sample_summary_matches_the_paper(summary):
    assert len(summary) == 2357
    assert (summary["frequency"] > 0).sum() == 946
    assert summary["T"].max() == pytest.approx(38.857, abs=1e-3)


def test_bg_nbd_reproduces_fader_hardie_lee_2005(summary):
    bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert bg.params_[name] == pytest.approx(value, rel=0.01), name
    assert bg.log_likelihood_ == pytest.approx(-9582.4, rel=0.01)


def test_gamma_gamma_reproduces_the_published_spend_model(summary):
    gg = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
    assert gg.n_customers_ == 946
    for name, value in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert gg.params_[name] == pytest.approx(value, rel=0.01), name


def test_probability_alive_is_one_without_repeats_and_falls_with_silence():
    bg = BetaGeoModel()
    bg.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert bg.probability_alive(0, 0, 30) == pytest.approx(1.0)
    # Same two repeat purchases; the one who has been silent longer is less likely alive.
    recent, silent = bg.probability_alive([2, 2], [30, 5], [32, 32])
    assert recent > silent
    # Hand-computed from equation (A.10): 1 / (1 + a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x))
    expected = 1 / (1 + 0.793 / (2.426 + 1) * ((4.414 + 32) / (4.414 + 5)) ** (0.243 + 2))
    assert silent == pytest.approx(expected)


def test_clv_grows_with_horizon_and_shrinks_with_discounting(summary):
    bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    gg = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
    args = (summary["frequency"], summary["recency"], summary["T"], summary["monetary_value"])
    short = expected_clv(bg, gg, *args, horizon=13)
    long = expected_clv(bg, gg, *args, horizon=52)
    discounted = expected_clv(bg, gg, *args, horizon=52, discount_rate=0.01)
    assert (long >= short).all() and (discounted < long).all()
    assert np.isfinite(long).all()


def test_probability_of_no_purchase_mixes_death_and_a_quiet_spell():
    from training.btyd import BetaGeoModel

    bg = BetaGeoModel()
    bg.params_ = {"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 2.0}
    # x = 0: always alive; P(no purchase in t=1) = ((1 + T) / (1 + T + 1)) ** r = 2/3 for T = 1.
    assert bg.probability_no_purchase(1.0, [0], [0], [1.0])[0] == pytest.approx(2 / 3)
    # x = 1, t_x = 1, T = 3: P(alive) = 1 / (1 + a/(b+x-1) * ((alpha+T)/(alpha+t_x))**(r+x)) = 1 / (1 + 0.5*4)
    alive = 1 / (1 + 0.5 * 4)
    expected = 1 - alive + alive * (4 / 5) ** 2
    assert bg.probability_no_purchase(1.0, [1], [1.0], [3.0])[0] == pytest.approx(expected)


def test_fit_accepts_an_optimum_at_infinity_when_purchase_rates_do_not_vary():
    # A shop whose repeat buyers all buy at about one rate: the likelihood keeps rising as r and
    # alpha grow together, so the optimiser runs out of steps without "converging". That limit
    # is a valid model (one Poisson rate), and the fit must not fail the training job.
    from tests.conftest import make_small_shop

    orders = make_small_shop()
    summary = build_rfm_summary(orders, pd.Timestamp("2011-03-27"))
    bg = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])

    assert bg.params_["r"] > 1e4 and bg.params_["alpha"] > 1e4
    p = bg.probability_no_purchase(13.0, summary["frequency"], summary["recency"], summary["T"])
    assert np.isfinite(p).all() and ((p > 0) & (p < 1)).all()


def test_gamma_gamma_recovers_the_parameters_of_simulated_spend_in_pounds_not_dollars():
    # Spend per order in the hundreds (gamma 400) puts the optimum far from the optimiser's
    # start at p = q = gamma = 1; Nelder-Mead alone walked off to p -> infinity from there.
    rng = np.random.default_rng(0)
    p, q, gamma = 2.4, 3.5, 400.0
    scale = rng.gamma(q, 1 / gamma, 3000)  # each customer's nu ~ Gamma(q, gamma)
    repeats = rng.integers(1, 15, 3000)
    mean_spend = np.array([rng.gamma(p, 1 / nu, x).mean() for nu, x in zip(scale, repeats, strict=True)])

    gg = GammaGammaModel().fit(repeats, mean_spend)

    assert gg.params_ == pytest.approx({"p": p, "q": q, "gamma": gamma}, rel=0.05)
