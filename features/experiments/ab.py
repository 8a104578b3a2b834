"""A/B tests between a family's champion and a challenger version: who sees which, how many
exposures a test needs, and what its numbers say.

Design: a **fixed-horizon** test (Kohavi, Tang & Xu, *Trustworthy Online Controlled
Experiments*, 2020, ch. 17). The primary metric is **conversion**: the share of exposures
credited with a purchase (:mod:`features.experiments.attribution`). Before the test starts,
:func:`exposures_needed` sets the number of exposures per arm that detects a relative lift of
``mde`` with probability ``power`` at two-sided level ``alpha`` (the normal approximation for
two proportions, Fleiss, Levin & Paik, *Statistical Methods for Rates and Proportions*, 2003,
eq. 4.14). The verdict is read once both arms have that many: the two-proportion z-test at
``alpha``. Reading it earlier and stopping on the first significant look inflates false
positives, so :func:`verdict` says "keep running" until then, whatever the interim numbers.

Shoppers are split by a hash of the experiment's name and their id (:func:`variant`), the
same on every worker and replica and for every request, anonymous sessions included.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from features import schema as s
from features.experiments import attribution
from features.live.store import RECOMMENDATION_ID

_NORMAL = NormalDist()

CHAMPION, CHALLENGER = "champion", "challenger"
# Registered-model tags that hold the tests (read by the service, written by `shelfwise
# experiments`): the running test's name, and each test's definition as JSON under its name.
RUNNING_TAG = "shelfwise.experiment"
TAG_PREFIX = "shelfwise.experiment."
# The answers of the recommender, which a test of the "recs" family splits.
RECS_ENDPOINTS = ("/recommend", "/similar_items", "/frequently_bought_together", "/buy_again", "/trending")


@dataclass(frozen=True)
class Experiment:
    """A running or finished A/B test of one model family."""

    name: str
    family: str
    champion: str  # registered version served to the champion arm
    challenger: str
    share: float  # of shoppers given the challenger
    started_at: float  # seconds since the epoch
    exposures_per_arm: int
    baseline_conversion: float
    mde: float
    alpha: float
    power: float
    status: str = "running"
    stopped_at: float | None = None
    winner: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Experiment:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def bucket(name: str, shopper: str) -> float:
    """A number in [0, 1) fixed by the experiment's name and the shopper's id (a hash, not
    Python's ``hash``, which differs between processes)."""
    digest = hashlib.blake2b(f"{name}\x1f{shopper}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def variant(experiment: Experiment | None, shopper: str | None) -> str:
    """The arm a shopper (customer id, else session id) is in; champion without a test or
    without an id."""
    if experiment is None or shopper is None:
        return CHAMPION
    return CHALLENGER if bucket(experiment.name, shopper) < experiment.share else CHAMPION


def normal_quantile(q: float) -> float:
    """The standard normal's ``q`` quantile. The standard library's, not SciPy's: every service
    worker imports this module, and ``scipy.stats`` would add its import time and memory."""
    return _NORMAL.inv_cdf(q)


def exposures_needed(baseline: float, mde: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Exposures per arm to detect conversion ``baseline * (1 + mde)`` against ``baseline``
    (two-sided ``alpha``, probability ``power``)."""
    p1, p2 = baseline, min(baseline * (1 + mde), 1.0)
    if not 0 < p1 < 1 or p2 == p1:
        raise ValueError(f"a baseline conversion of {baseline} and a lift of {mde} leave nothing to detect")
    z_a, z_b = normal_quantile(1 - alpha / 2), normal_quantile(power)
    mean = (p1 + p2) / 2
    spread = z_a * math.sqrt(2 * mean * (1 - mean)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(spread**2 / (p2 - p1) ** 2)


def wilson(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson's score interval for a proportion (Wilson, JASA 1927)."""
    if n == 0:
        return (0.0, 1.0)
    z = normal_quantile(1 - alpha / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # At 0 or n successes a bound is exactly 0 or 1; the subtraction leaves rounding there.
    low = 0.0 if successes == 0 else max(centre - half, 0.0)
    return (low, 1.0 if successes == n else min(centre + half, 1.0))


def mean_interval(total: float, sum_squares: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Normal interval of a mean from its sum and sum of squares (revenue per exposure)."""
    if n < 2:
        return (math.nan, math.nan)
    mean = total / n
    var = max(sum_squares / n - mean * mean, 0.0) * n / (n - 1)
    half = normal_quantile(1 - alpha / 2) * math.sqrt(var / n)
    return (mean - half, mean + half)


@dataclass(frozen=True)
class Comparison:
    lift: float  # relative, challenger against champion
    lift_low: float
    lift_high: float
    p_value: float


def compare(conv_a: int, n_a: int, conv_b: int, n_b: int, alpha: float = 0.05) -> Comparison:
    """Challenger ``b`` against champion ``a`` on conversion: the relative lift with its
    interval (delta method on the log of the ratio) and the two-proportion z-test's p-value."""
    pa, pb = conv_a / n_a if n_a else math.nan, conv_b / n_b if n_b else math.nan
    pooled = (conv_a + conv_b) / (n_a + n_b) if n_a + n_b else math.nan
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b)) if n_a and n_b else math.nan
    p_value = math.erfc(abs(pb - pa) / se0 / math.sqrt(2)) if se0 and se0 > 0 else 1.0  # 2 P(Z > |z|)
    if conv_a and conv_b:
        log_ratio = math.log(pb / pa)
        se = math.sqrt((1 - pa) / conv_a + (1 - pb) / conv_b)
        z = normal_quantile(1 - alpha / 2)
        low, high = math.exp(log_ratio - z * se) - 1, math.exp(log_ratio + z * se) - 1
    else:
        low = high = math.nan
    lift = pb / pa - 1 if pa else math.nan
    return Comparison(lift, low, high, p_value)


def verdict(experiment: Experiment, n_a: int, n_b: int, comparison: Comparison) -> str:
    """The decision rule stated at the start, applied: keep running until both arms reach
    the planned exposures, then the winner if the z-test rejects equality at ``alpha``."""
    short = experiment.exposures_per_arm - min(n_a, n_b)
    if short > 0:
        return (f"keep running: {min(n_a, n_b):,} of the {experiment.exposures_per_arm:,} exposures per arm "
                f"planned (the verdict is read only then)")
    if comparison.p_value >= experiment.alpha:
        return (f"no difference at {experiment.alpha:g} (p = {comparison.p_value:.3f}): keep the champion")
    better = CHALLENGER if comparison.lift > 0 else CHAMPION
    return f"{better} wins (p = {comparison.p_value:.3g}, lift {comparison.lift:+.1%})"


def winner(experiment: Experiment, n_a: int, n_b: int, comparison: Comparison) -> str | None:
    """The arm the rule names once the planned exposures are reached, or None."""
    if min(n_a, n_b) < experiment.exposures_per_arm or comparison.p_value >= experiment.alpha:
        return None
    return CHALLENGER if comparison.lift > 0 else CHAMPION


def arms(experiment: Experiment, exposures: pd.DataFrame, credited: pd.DataFrame) -> pd.DataFrame:
    """Per arm, over the test's exposures (its family's answers shown while it ran):
    exposures, conversion and click-through with Wilson intervals, revenue per thousand
    exposures with a normal interval, and the guardrails: the share of answers that failed
    and the answers' p50 and p99 latency (ms)."""
    e = exposures[exposures["endpoint"].isin(RECS_ENDPOINTS) & (exposures["at"] >= experiment.started_at)
                  & exposures["variant"].isin([CHAMPION, CHALLENGER])]
    if experiment.stopped_at is not None:
        e = e[e["at"] <= experiment.stopped_at]
    ok = e[e["status"] == 200]
    c = credited[credited[RECOMMENDATION_ID].isin(ok[RECOMMENDATION_ID])]
    bought = c[c[s.EVENT_TYPE] == "purchase"]
    revenue = attribution.revenue(bought).groupby(bought[RECOMMENDATION_ID]).sum()
    converted = set(bought[RECOMMENDATION_ID])
    clicked = set(c.loc[c[s.EVENT_TYPE] == "view", RECOMMENDATION_ID])
    rows = []
    for arm in (CHAMPION, CHALLENGER):
        ids = ok.loc[ok["variant"] == arm, RECOMMENDATION_ID]
        n = len(ids)
        per = revenue.reindex(ids).fillna(0.0).to_numpy()
        conv, clicks = int(ids.isin(converted).sum()), int(ids.isin(clicked).sum())
        low, high = wilson(conv, n, experiment.alpha)
        c_low, c_high = wilson(clicks, n, experiment.alpha)
        r_low, r_high = mean_interval(float(per.sum()), float((per**2).sum()), n, experiment.alpha)
        answers = e[e["variant"] == arm]
        ms = answers["ms"].dropna()
        rows.append({"variant": arm, "exposures": n, "conversions": conv,
                     "conversion": conv / n if n else np.nan, "conversion_low": low, "conversion_high": high,
                     "click_through": clicks / n if n else np.nan, "click_through_low": c_low,
                     "click_through_high": c_high, "revenue_per_1000": 1000 * per.mean() if n else np.nan,
                     "revenue_per_1000_low": 1000 * r_low, "revenue_per_1000_high": 1000 * r_high,
                     "error_rate": float((answers["status"] != 200).mean()) if len(answers) else np.nan,
                     "p50_ms": float(ms.quantile(0.5)) if len(ms) else np.nan,
                     "p99_ms": float(ms.quantile(0.99)) if len(ms) else np.nan})
    return pd.DataFrame(rows).set_index("variant")
