"""A candidate policy's value estimated from another policy's logged decisions.

The offer policy logs, with every decision, the probability with which it chose the action
it took (its *propensity*: the greedy offer with probability ``1 - epsilon + epsilon / K``,
each of the other ``K - 1`` actions with ``epsilon / K``). A deterministic candidate policy
``pi`` is then valued on those logs without being run:

- **inverse propensity scoring** (IPS; Horvitz & Thompson, JASA 1952): the mean of
  ``1[pi(x) = a] / p * r`` over the logged decisions; unbiased when every action the
  candidate takes had a non-zero propensity, with a variance that grows with ``1 / p``;
- **doubly robust** (DR; Dudik, Langford & Li, ICML 2011): the mean of
  ``q(x, pi(x)) + 1[pi(x) = a] / p * (r - q(x, a))``, where ``q`` is a reward model (here the
  mean logged reward of each action); unbiased when either the propensities or ``q`` are
  right, and usually of lower variance than IPS.

Intervals are normal ones over the per-decision terms. The logging policy's own value (the
mean logged reward) is given beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.experiments.ab import normal_quantile


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int
    matched: int  # logged decisions where the candidate takes the logged action


def _mean_interval(terms: np.ndarray, matched: int, alpha: float) -> Estimate:
    n = len(terms)
    mean = float(terms.mean()) if n else math.nan
    z = normal_quantile(1 - alpha / 2)
    half = z * float(terms.std(ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    return Estimate(mean, mean - half, mean + half, n, matched)


def evaluate(logged: pd.DataFrame, candidate: pd.Series, alpha: float = 0.05) -> dict[str, Estimate]:
    """IPS and DR estimates of ``candidate``'s mean reward per decision, and the logging
    policy's own.

    Parameters
    ----------
    logged
        One row per logged decision: ``action``, ``propensity`` (of that action) and
        ``reward``.
    candidate
        The candidate's action for each logged decision (same index).
    """
    if (logged["propensity"] <= 0).any() or (logged["propensity"] > 1).any():
        raise ValueError("logged propensities must be in (0, 1]")
    a, p, r = logged["action"], logged["propensity"].to_numpy(float), logged["reward"].to_numpy(float)
    match = (candidate.reindex(logged.index) == a).to_numpy()
    q = logged.groupby("action")["reward"].mean()
    q_logged = a.map(q).fillna(0.0).to_numpy(float)
    q_candidate = candidate.reindex(logged.index).map(q).fillna(0.0).to_numpy(float)
    ips = match / p * r
    dr = q_candidate + match / p * (r - q_logged)
    n_match = int(match.sum())
    return {"ips": _mean_interval(ips, n_match, alpha), "dr": _mean_interval(dr, n_match, alpha),
            "logged": _mean_interval(r, len(r), alpha)}


def epsilon_greedy(greedy: str, actions: list[str], epsilon: float, draw: float) -> tuple[str, float, bool]:
    """The action an epsilon-greedy policy takes for a uniform ``draw`` in [0, 1): with
    probability ``epsilon`` one of ``actions`` at random (the greedy one included), else
    ``greedy``. Returns the action, its propensity and whether it was explored."""
    k = len(actions)
    if epsilon > 0 and draw < epsilon:
        chosen = actions[min(int(draw / epsilon * k), k - 1)]
        explored = True
    else:
        chosen, explored = greedy, False
    propensity = (1 - epsilon) * (chosen == greedy) + epsilon / k
    return chosen, propensity, explored
