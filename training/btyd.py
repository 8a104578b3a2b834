""""Buy till you die" models: BG/NBD for purchase counts, Gamma-Gamma for spend.

Implemented from the closed-form likelihoods with numpy/scipy rather than the
``lifetimes`` package, which is no longer maintained and pins versions of numpy and pandas
older than this project's. Fitted on the summary of
:func:`features.customer_features.build_rfm_summary`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

# Bounds on the log-parameters: e^25 stands for infinity (see _fit).
_LOG_BOUND = 25.0
# Nelder-Mead polishes in rounds of this many iterations, restarted while it still improves:
# it converges in about 300 evaluations on Online Retail II and CDNOW, well inside one round,
# while a fit running along a ridge to infinity (small shops, shops whose customers all drop
# out alike) spends whole rounds there before it is accepted: short rounds end it sooner.
_POLISH_ITERATIONS = 300
_POLISH_RESTARTS = 10


def _fit(neg_log_likelihood, n_params: int) -> np.ndarray:
    # Parameters are positive: optimise their logs. A quasi-Newton search (L-BFGS-B) finds
    # the optimum's neighbourhood in a few hundred evaluations; Nelder-Mead, robust where the
    # likelihood is flat in some directions, polishes it from there. Nelder-Mead from the
    # origin alone took up to 50,000 evaluations, and on Online Retail II it ended Gamma-Gamma
    # on a ridge (p -> infinity) 500 log-likelihood units below the optimum.
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * n_params
    options = {"maxiter": _POLISH_ITERATIONS, "xatol": 1e-9, "fatol": 1e-9}
    start = minimize(neg_log_likelihood, np.zeros(n_params), method="L-BFGS-B", bounds=bounds).x
    res = minimize(neg_log_likelihood, start, method="Nelder-Mead", bounds=bounds, options=options)
    for _ in range(_POLISH_RESTARTS):
        if res.success:
            break
        # The optimum can lie at infinity along a ridge where the likelihood no longer changes:
        # with no spread in purchase rates among customers, r and alpha grow together without
        # bound and Gamma(r, alpha) tends to one rate. Accept that limit (up to the bounds, e^25)
        # when a restart cannot improve the likelihood; a fit still improving gets another.
        again = minimize(neg_log_likelihood, res.x, method="Nelder-Mead", bounds=bounds, options=options)
        stalled = res.fun - again.fun <= 1e-6 * max(abs(res.fun), 1.0)
        res = again
        if stalled:
            break
    else:
        if not res.success:
            raise RuntimeError(f"maximum likelihood did not converge: {res.message}")
    return np.exp(res.x)


def _distinct(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of ``columns`` (as columns again) and how many times each occurs."""
    rows, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
    return list(rows.T), counts.astype(float)


class BetaGeoModel:
    """BG/NBD model of repeat purchases (Fader, Hardie & Lee 2005, Marketing Science 24(2)).

    While alive, a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``;
    after each purchase they drop out with probability ``p ~ Beta(a, b)``.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``a``, ``b`` at the maximum of the likelihood.
    log_likelihood_ : float
    """

    @staticmethod
    def _log_likelihood(params, x, t_x, T) -> np.ndarray:
        r, alpha, a, b = params
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                          - (r + x) * np.log(alpha + t_x), -np.inf)
        return a1 + a2 + np.logaddexp(a3, a4)

    def fit(self, frequency, recency, T) -> BetaGeoModel:
        """Maximum-likelihood fit on repeat frequency x, recency t_x and age T per customer."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        if len(x) == 0 or (x < 0).any() or (t_x > T + 1e-9).any():
            raise ValueError("BetaGeoModel.fit: need customers with frequency >= 0 and recency <= T")
        # Customers with the same (x, t_x, T) add the same term: each distinct one is computed once.
        (x, t_x, T), n = _distinct(x, t_x, T)
        params = _fit(lambda lp: -(n * self._log_likelihood(np.exp(lp), x, t_x, T)).sum(), 4)
        self.params_ = dict(zip(("r", "alpha", "a", "b"), params.tolist(), strict=True))
        self.log_likelihood_ = float((n * self._log_likelihood(params, x, t_x, T)).sum())
        return self

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(alive | x, t_x, T), equation (A.10) of the paper's technical note."""
        r, alpha, a, b = self.params_.values()
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-300)
                        * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
        return 1.0 / (1.0 + odds)

    def probability_no_purchase(self, t: float, frequency, recency, T) -> np.ndarray:
        """P(no purchase in the next ``t`` time units | x, t_x, T).

        Dead customers never buy; an alive one buys at rate ``lambda | data ~ Gamma(r + x,
        alpha + T)`` and cannot drop out without buying, so
        ``P = 1 - P(alive) + P(alive) * ((alpha + T) / (alpha + T + t)) ** (r + x)``.
        """
        r, alpha, a, b = self.params_.values()
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        alive = self.probability_alive(x, t_x, T)
        return 1.0 - alive + alive * ((alpha + T) / (alpha + T + t)) ** (r + x)

    def expected_purchases(self, t: float, frequency, recency, T) -> np.ndarray:
        """Expected purchases in the next ``t`` time units given the history (equation 10)."""
        r, alpha, a, b = self.params_.values()
        x, t_x, T = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        num = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
        return num * self.probability_alive(x, t_x, T)


class GammaGammaModel:
    """Gamma-Gamma model of average transaction value (Fader, Hardie & Lee 2005,
    "RFM and CLV: using iso-value curves for customer base analysis", JMR 42(4)).

    Fitted on customers with at least one repeat purchase: x repeat purchases with mean
    value m_x. Assumes spend is independent of purchase frequency.
    """

    @staticmethod
    def _log_likelihood(params, x, m) -> np.ndarray:
        p, q, gamma = params
        return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(gamma)
                + (p * x - 1) * np.log(m) + p * x * np.log(x) - (p * x + q) * np.log(gamma + m * x))

    def fit(self, frequency, monetary_value) -> GammaGammaModel:
        x, m = np.asarray(frequency, dtype=float), np.asarray(monetary_value, dtype=float)
        keep = (x > 0) & (m > 0)
        if not keep.any():
            raise ValueError("GammaGammaModel.fit: no customer with a repeat purchase of positive value")
        x, m = x[keep], m[keep]
        params = _fit(lambda lp: -self._log_likelihood(np.exp(lp), x, m).sum(), 3)
        self.params_ = dict(zip(("p", "q", "gamma"), params.tolist(), strict=True))
        self.log_likelihood_ = float(self._log_likelihood(params, x, m).sum())
        self.n_customers_ = int(keep.sum())
        return self

    def expected_spend(self, frequency, monetary_value) -> np.ndarray:
        """E[M | x, m_x]: a weighted mean of the customer's own mean and the population's."""
        p, q, gamma = self.params_.values()
        x, m = np.asarray(frequency, dtype=float), np.asarray(monetary_value, dtype=float)
        return (gamma + m * x) * p / (p * x + q - 1)


def expected_clv(bg: BetaGeoModel, gg: GammaGammaModel, frequency, recency, T, monetary_value,
                 horizon: float, discount_rate: float = 0.0, step: float = 1.0) -> np.ndarray:
    """Discounted expected revenue over ``horizon`` time units.

    Purchases expected in each ``step`` are valued at the Gamma-Gamma expected spend and
    discounted by ``(1 + discount_rate) ** k`` for the k-th step (``discount_rate`` per step).
    """
    spend = gg.expected_spend(frequency, monetary_value)
    total = np.zeros(len(np.atleast_1d(frequency)))
    previous = 0.0
    for k, t in enumerate(np.arange(step, horizon + 1e-9, step), start=1):
        cumulative = bg.expected_purchases(t, frequency, recency, T)
        total += (cumulative - previous) * spend / (1 + discount_rate) ** k
        previous = cumulative
    return total


def btyd_scores(summary: pd.DataFrame, bg: BetaGeoModel, task: str, horizon: int,
                customers: pd.Index) -> np.ndarray:
    """BG/NBD P(no purchase in the horizon) for churn; BG/NBD + Gamma-Gamma CLV for CLTV.

    ``summary`` is the (x, t_x, T, m_x) summary of all purchases before ``as_of``, in weeks,
    and ``bg`` the BG/NBD model fitted on it.
    """
    summary = summary.reindex(customers)
    x, t_x, big_t = summary["frequency"], summary["recency"], summary["T"]
    weeks = horizon / 7.0
    if task == "churn":
        return bg.probability_no_purchase(weeks, x, t_x, big_t)
    gg = GammaGammaModel().fit(x, summary["monetary_value"])
    # A one-time buyer has no repeat spend of their own: Gamma-Gamma gives the population mean.
    return expected_clv(bg, gg, x, t_x, big_t, summary["monetary_value"].where(x > 0, 0.0), weeks)
