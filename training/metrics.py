"""Ranking and scoring metrics, written out so they can be checked by hand."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def precision_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the top ``k`` recommended items that are relevant."""
    return sum(1 for i in recommended[:k] if i in relevant) / k


def recall_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the relevant items found in the top ``k``."""
    if not relevant:
        return 0.0
    return sum(1 for i in recommended[:k] if i in relevant) / len(relevant)


def ndcg_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """Binary-relevance NDCG@k (Järvelin & Kekäläinen 2002).

    DCG = sum over hits at 0-based rank r of 1 / log2(r + 2); the ideal DCG puts
    ``min(len(relevant), k)`` hits first.
    """
    dcg = sum(1.0 / np.log2(r + 2) for r, i in enumerate(recommended[:k]) if i in relevant)
    ideal = sum(1.0 / np.log2(r + 2) for r in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def average_precision_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """AP@k: mean of precision@r over the ranks r of hits, divided by min(|relevant|, k)."""
    hits, total = 0, 0.0
    for r, i in enumerate(recommended[:k], start=1):
        if i in relevant:
            hits += 1
            total += hits / r
    return total / min(len(relevant), k) if relevant else 0.0


def hit_rate_at_k(recommended: Sequence[str], relevant: set[str], k: int) -> float:
    """1 when at least one of the top ``k`` is relevant."""
    return float(any(i in relevant for i in recommended[:k]))


METRICS = {"precision": precision_at_k, "recall": recall_at_k, "ndcg": ndcg_at_k,
           "map": average_precision_at_k, "hit_rate": hit_rate_at_k}


def ranking_report(
    recommendations: dict[str, Sequence[str]], truth: dict[str, set[str]], k: int,
    metrics: Sequence[str] = ("precision", "recall", "ndcg"),
) -> dict[str, float]:
    """Mean of each metric at ``k`` over the users in ``truth``, keyed ``<metric>_at_<k>``.

    A user in ``truth`` with no recommendation counts as a miss. The same definitions as the
    functions in ``METRICS``, computed from one hit matrix (users x ranks) instead of one
    Python loop per user and metric: a training run's report calls this ~150 times on a few
    thousand users, which took 17 s per loop.
    """
    if not truth:
        raise ValueError("ranking_report: no users to evaluate")
    unknown = set(metrics) - set(METRICS)
    if unknown:
        raise ValueError(f"ranking_report: unknown metrics {sorted(unknown)}; known: {sorted(METRICS)}")
    hits = np.zeros((len(truth), k), dtype=bool)
    n_relevant = np.empty(len(truth))
    for row, (user, relevant) in enumerate(truth.items()):
        n_relevant[row] = len(relevant)
        for rank, item in enumerate(recommendations.get(user, ())[:k]):
            hits[row, rank] = item in relevant
    n_hits = hits.sum(axis=1)
    ideal_hits = np.minimum(n_relevant, k)
    has_relevant = ideal_hits > 0
    discount = 1.0 / np.log2(np.arange(k) + 2)
    ideal_dcg = np.concatenate([[0.0], np.cumsum(discount)])[ideal_hits.astype(int)]
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, k + 1)

    def safe_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.divide(a, b, out=np.zeros(len(a)), where=has_relevant)

    per_user = {
        "precision": lambda: n_hits / k,
        "recall": lambda: safe_divide(n_hits, n_relevant),
        "ndcg": lambda: safe_divide(hits @ discount, ideal_dcg),
        "map": lambda: safe_divide((precision_at_rank * hits).sum(axis=1), ideal_hits),
        "hit_rate": lambda: (n_hits > 0).astype(float),
    }
    return {f"{m}_at_{k}": float(per_user[m]().mean()) for m in metrics}


def catalogue_coverage(recommendations: dict[str, Sequence[str]], n_items: int, k: int) -> float:
    """Share of the catalogue that appears in at least one top-``k`` list."""
    shown = {i for recs in recommendations.values() for i in recs[:k]}
    return len(shown) / n_items if n_items else 0.0


def normalized_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Gini of ``actual`` ordered by ``predicted``, divided by the Gini of the perfect order.

    1 means the prediction ranks customers exactly as their actual value does, 0 means no
    better than random. Ties in ``predicted`` are broken by row order after a stable sort.
    """
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)

    def gini(order_by: np.ndarray) -> float:
        ranked = actual[np.argsort(-order_by, kind="stable")]
        cum = np.cumsum(ranked) / ranked.sum()
        n = len(actual)
        return cum.sum() / n - (n + 1) / (2 * n)

    return gini(predicted) / gini(actual)


def paired_bootstrap(metric: str, y: np.ndarray, scores: dict[str, np.ndarray], n: int,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """``metric`` (``"roc_auc"`` or ``"normalized_gini"``) of every score on the same ``n``
    bootstrap resamples of the rows (Efron & Tibshirani 1993, ch. 6): an array of ``n`` per score.

    A resample is the count of times each row was drawn, and each metric is computed on
    the rows sorted once, weighted by their counts: the same ROC-AUC as
    :func:`sklearn.metrics.roc_auc_score` on the drawn rows (a tie counts one half), the same
    Gini as :func:`normalized_gini` on them up to the order of tied predictions, without a
    sort per resample. Resamples with one class (ROC-AUC) or no value (Gini) are NaN.
    """
    if metric not in ("roc_auc", "normalized_gini"):
        raise ValueError(f"unknown metric {metric!r}; expected 'roc_auc' or 'normalized_gini'")
    y = np.asarray(y, float)

    def auc(order, tie_group, w):
        wo, yo = w[order], y[order]
        pos = np.bincount(tie_group, weights=wo * yo)
        neg = np.bincount(tie_group, weights=wo * (1 - yo))
        if pos.sum() == 0 or neg.sum() == 0:
            return np.nan
        return np.sum(pos * (np.cumsum(neg) - neg + neg / 2)) / (pos.sum() * neg.sum())

    def gini(order, w):  # of y in the order `order`
        wo, yo = w[order], y[order]
        value, total = wo * yo, wo.sum()
        if value.sum() <= 0:
            return np.nan
        # a row drawn w times adds w copies at once: the value before it w times, plus its
        # own value 1 + 2 + ... + w times
        area = np.sum(wo * (np.cumsum(value) - value) + yo * wo * (wo + 1) / 2)
        return area / (value.sum() * total) - (total + 1) / (2 * total)

    prepared = {}
    for name, score in scores.items():
        score = np.asarray(score, float)
        if metric == "roc_auc":
            order = np.argsort(score, kind="stable")
            ranked = score[order]
            prepared[name] = (order, np.cumsum(np.r_[True, ranked[1:] != ranked[:-1]]) - 1)
        else:
            prepared[name] = (np.argsort(-score, kind="stable"),)
    perfect = np.argsort(-y, kind="stable") if metric == "normalized_gini" else None
    out = {name: np.full(n, np.nan) for name in scores}
    rng = np.random.default_rng(seed)
    for r in range(n):
        w = np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y)).astype(float)
        if metric == "roc_auc":
            for name, args in prepared.items():
                out[name][r] = auc(*args, w)
            continue
        best = gini(perfect, w)
        for name, args in prepared.items():
            out[name][r] = gini(*args, w) / best
    return out


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE: the share-weighted mean |observed rate - mean prediction| over equal-width bins.

    Naeini, Cooper & Hauskrecht (2015), "Obtaining well calibrated probabilities using
    Bayesian binning", AAAI.
    """
    y, p = np.asarray(y, float), np.asarray(p, float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.mean() * abs(y[m].mean() - p[m].mean())
    return float(total)


def top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """Rate of positives among the 10% highest scores, divided by the overall rate."""
    y = np.asarray(y, float)
    top = np.argsort(-np.asarray(score, float), kind="stable")[: max(len(y) // 10, 1)]
    return float(y[top].mean() / y.mean()) if y.mean() > 0 else float("nan")


def decile_mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute percentage error of mean predicted vs mean actual per predicted decile."""
    actual, predicted = np.asarray(actual, float), np.asarray(predicted, float)
    errors = []
    for d in np.array_split(np.argsort(predicted, kind="stable"), 10):
        mean_actual = actual[d].mean()
        if mean_actual != 0:
            errors.append(abs(predicted[d].mean() - mean_actual) / abs(mean_actual))
    return float(np.mean(errors)) if errors else float("nan")


def customer_metrics(task: str, y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The churn (``task="churn"``) or CLTV metrics of docs/results.md's tables, for one prediction."""
    if task == "churn":
        # A baseline scored by recency (days) is a ranking, not a probability: no Brier or ECE.
        prob = pred.min() >= 0 and pred.max() <= 1
        return {"roc_auc": roc_auc_score(y, pred), "pr_auc": average_precision_score(y, pred),
                "brier": brier_score_loss(y, pred) if prob else np.nan,
                "ece": expected_calibration_error(y, pred) if prob else np.nan,
                "top_decile_lift": top_decile_lift(y, pred),
                "mean_probability": float(pred.mean()) if prob else np.nan, "churn_rate": float(y.mean())}
    return {"normalized_gini": normalized_gini(y, pred), "spearman": float(spearmanr(y, pred).statistic),
            "mae": float(np.mean(np.abs(y - pred))), "decile_mape": decile_mape(y, pred),
            "total_revenue_error": float((pred.sum() - y.sum()) / y.sum())}
