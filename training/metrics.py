"""Ranking and scoring metrics, written out so they can be checked by hand."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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


def ranking_report(
    recommendations: dict[str, Sequence[str]], truth: dict[str, set[str]], k: int
) -> dict[str, float]:
    """Mean precision, recall and NDCG at ``k`` over the users in ``truth``.

    A user in ``truth`` with no recommendation counts as a miss.
    """
    if not truth:
        raise ValueError("ranking_report: no users to evaluate")
    rows = np.array(
        [
            (
                precision_at_k(recommendations.get(u, []), rel, k),
                recall_at_k(recommendations.get(u, []), rel, k),
                ndcg_at_k(recommendations.get(u, []), rel, k),
            )
            for u, rel in truth.items()
        ]
    )
    p, r, n = rows.mean(axis=0)
    return {f"precision_at_{k}": p, f"recall_at_{k}": r, f"ndcg_at_{k}": n}


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
