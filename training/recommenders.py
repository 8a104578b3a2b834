"""Recommenders with one interface, saved without pickle.

Every recommender follows implicit's ``RecommenderBase`` surface on integer indices:
``fit(user_items)``, ``recommend(userids, user_items, k) -> (ids, scores)`` batch-first,
and ``save(dir)`` / ``load(dir)`` to a portable ``.npz`` + JSON directory that the
service reads without importing this package.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

FORMAT = "shelfwise-recs-v1"
ARRAYS = "model.npz"
META = "meta.json"


class PopularityRecommender:
    """Ranks items by the number of users who bought them; the baseline and fallback."""

    def fit(self, user_items: sp.csr_matrix) -> PopularityRecommender:
        counts = np.asarray((user_items > 0).sum(axis=0)).ravel().astype(np.float32)
        self.item_scores_ = counts / max(counts.max(), 1.0)
        self.order_ = np.argsort(-self.item_scores_, kind="stable")
        return self

    def recommend(self, userids, user_items, k: int = 10):
        n = len(np.atleast_1d(userids))
        top = self.order_[:k]
        return np.tile(top, (n, 1)), np.tile(self.item_scores_[top], (n, 1))


class ALSRecommender:
    """Implicit-feedback matrix factorisation by alternating least squares.

    Hu, Koren & Volinsky (2008), "Collaborative Filtering for Implicit Feedback Datasets",
    ICDM, via ``implicit``'s CPU solver. Confidence is ``1 + alpha * log1p(r)`` for ``r``
    orders containing the item, damping the wholesalers who re-order weekly.

    Parameters
    ----------
    factors, regularization, iterations, alpha, random_state
        As in ``implicit.als.AlternatingLeastSquares``; ``alpha`` scales the confidence.
    """

    def __init__(self, factors: int = 64, regularization: float = 0.05, iterations: int = 15,
                 alpha: float = 1.0, random_state: int = 0):
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.alpha = alpha
        self.random_state = random_state

    def get_params(self) -> dict:
        return {k: getattr(self, k) for k in
                ("factors", "regularization", "iterations", "alpha", "random_state")}

    def fit(self, user_items: sp.csr_matrix, show_progress: bool = False) -> ALSRecommender:
        # BLAS threads fight implicit's own threads: ALS runs several times slower without this.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        if user_items.nnz == 0:
            raise ValueError("ALSRecommender.fit: the interaction matrix is empty")
        confidence = user_items.copy().astype(np.float32)
        confidence.data = 1.0 + self.alpha * np.log1p(confidence.data)
        # implicit adds 1 to nothing itself: values are the confidence weights.
        model = AlternatingLeastSquares(
            factors=self.factors, regularization=self.regularization,
            iterations=self.iterations, random_state=self.random_state,
            calculate_training_loss=False,
        )
        with threadpool_limits(1, "blas"):
            model.fit(confidence, show_progress=show_progress)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self.popularity_ = PopularityRecommender().fit(user_items)
        return self

    def recommend(self, userids, user_items=None, k: int = 10):
        """Top ``k`` item indices and scores per user; purchased items are not filtered."""
        userids = np.atleast_1d(userids)
        scores = self.user_factors_[userids] @ self.item_factors_.T
        return top_k(scores, k)

    def similar_items(self, itemids, k: int = 10):
        """Items nearest by cosine similarity of their factors, the item itself excluded."""
        itemids = np.atleast_1d(itemids)
        norm = self.item_factors_ / np.maximum(
            np.linalg.norm(self.item_factors_, axis=1, keepdims=True), 1e-12)
        scores = norm[itemids] @ norm.T
        scores[np.arange(len(itemids)), itemids] = -np.inf
        return top_k(scores, k)

    def save(self, path: Path, user_ids: np.ndarray, item_ids: np.ndarray,
             item_titles: np.ndarray, extra_meta: dict) -> None:
        """Write ``model.npz`` (factors, ids, titles, popularity) and ``meta.json``."""
        path.mkdir(parents=True, exist_ok=True)
        np.savez(
            path / ARRAYS,
            user_factors=self.user_factors_, item_factors=self.item_factors_,
            user_ids=np.asarray(user_ids, dtype=str), item_ids=np.asarray(item_ids, dtype=str),
            item_titles=np.asarray(item_titles, dtype=str),
            popularity=self.popularity_.item_scores_,
        )
        meta = {"format": FORMAT, "model": "als", "params": self.get_params(), **extra_meta}
        (path / META).write_text(json.dumps(meta, indent=2, default=str))

    @classmethod
    def load(cls, path: Path) -> tuple[ALSRecommender, dict[str, np.ndarray], dict]:
        """Inverse of :meth:`save`: the model, its id arrays and its metadata."""
        meta = json.loads((path / META).read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        arrays = dict(np.load(path / ARRAYS, allow_pickle=False))
        model = cls(**meta["params"])
        model.user_factors_ = arrays["user_factors"]
        model.item_factors_ = arrays["item_factors"]
        model.popularity_ = PopularityRecommender()
        model.popularity_.item_scores_ = arrays["popularity"]
        model.popularity_.order_ = np.argsort(-arrays["popularity"], kind="stable")
        return model, arrays, meta


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest scores per row, best first."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)
