"""Recommenders with one interface, saved without pickle.

Every recommender follows implicit's ``RecommenderBase`` surface on integer indices:
``fit(user_items)``, ``recommend(userids, user_items, k) -> (ids, scores)`` batch-first,
and ``save(dir)`` / ``load(dir)`` to a portable ``.npz`` + JSON directory that the
service reads without importing this package.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from features.item_weights import DENSE_ITEMS, NEIGHBOURS, is_dense_size, most_bought, prune, times
from features.sparse_rows import gather, row_of, top_k_split, top_per_row

Split = tuple[np.ndarray, sp.csr_matrix]
"""Scores as ``base + extra``: one score per item shared by every user, plus a sparse part per user."""

FORMAT = "shelfwise-recs-v1"
ARRAYS = "model.npz"
META = "meta.json"
# Users scored at a time: their dense scores are this many rows of every item (1 GB at 128k items).
SCORE_ROWS = 2_048


class Recommender:
    """The interface every recommender shares (implicit's surface, batch-first).

    Subclasses implement ``fit(user_items)`` and ``scores(userids, user_items)``; items are
    integer column indices and users integer row indices: external ids are translated only
    at the edges (:class:`features.interactions.IdIndex`).
    """

    def fit(self, user_items: sp.csr_matrix) -> Recommender:  # pragma: no cover - interface
        raise NotImplementedError

    def scores(self, userids: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:  # pragma: no cover
        """Dense ``(len(userids), n_items)`` scores; higher is better."""
        raise NotImplementedError

    def recommend(self, userids, user_items: sp.csr_matrix | None = None, k: int = 10,
                  filter_purchased: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` item indices and scores per user, best first.

        With ``filter_purchased``, items in the user's row of ``user_items`` are left out.
        """
        userids = np.atleast_1d(userids)
        parts = [self._recommend(userids[i:i + SCORE_ROWS], user_items, k, filter_purchased)
                 for i in range(0, len(userids), SCORE_ROWS)]
        if not parts:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _recommend(self, userids, user_items, k, filter_purchased):
        split = self.split_scores(userids, user_items) if is_large(user_items) else None
        if split is not None:
            return top_k_split(*split, user_items[userids] if filter_purchased else None, k)
        s = np.array(self.scores(userids, user_items), dtype=np.float32, copy=True)
        if filter_purchased:
            rows = user_items[userids]
            s[row_of(rows), rows.indices] = -np.inf
        return top_k(s, k)

    def split_scores(self, userids: np.ndarray, user_items: sp.csr_matrix) -> Split | None:
        """The users' scores as a :data:`Split`, for models whose scores have that form
        (popularity, repurchase, sparse item-item weights); None for the rest. Above
        :data:`~features.item_weights.DENSE_ITEMS` items lists are ranked from it without a
        dense row per user (:func:`top_k_split`)."""
        return None

    def pair_scores(self, userids: np.ndarray, user_items: sp.csr_matrix, pos: np.ndarray,
                    cols: np.ndarray) -> np.ndarray:
        """Scores of user ``userids[pos[j]]`` for item ``cols[j]``."""
        split = self.split_scores(userids, user_items) if is_large(user_items) else None
        if split is None:
            return np.asarray(self.scores(userids, user_items))[pos, cols]
        base, extra = split
        return base[cols] + gather(extra, pos, cols)

    def item_similarity(self) -> np.ndarray | sp.spmatrix:  # pragma: no cover - interface
        raise NotImplementedError(f"{type(self).__name__} has no item similarity")

    def similar_items(self, itemids, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Most similar items per item, the item itself excluded."""
        itemids = np.atleast_1d(itemids)
        sim = self.item_similarity()
        rows = sim[itemids]
        s = np.array(rows.toarray() if sp.issparse(rows) else rows, dtype=np.float32)
        s[np.arange(len(itemids)), itemids] = -np.inf
        return top_k(s, k)

    def get_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}


class PopularityRecommender(Recommender):
    """Ranks items by the number of users who bought them; the baseline and fallback."""

    def fit(self, user_items: sp.csr_matrix) -> PopularityRecommender:
        counts = np.asarray((user_items > 0).sum(axis=0)).ravel().astype(np.float32)
        self.item_scores_ = counts / max(counts.max(), 1.0)
        self.order_ = np.argsort(-self.item_scores_, kind="stable")
        return self

    def scores(self, userids, user_items=None) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(np.atleast_1d(userids)), len(self.item_scores_)))

    def split_scores(self, userids, user_items) -> Split:
        return self.item_scores_, sp.csr_matrix((len(np.atleast_1d(userids)), len(self.item_scores_)),
                                                dtype=np.float32)


class TrendingRecommender(PopularityRecommender):
    """Ranks items by summed, recency-weighted interactions.

    Fit it on a matrix built with a half-life (``InteractionWeights(half_life_days=...)``),
    so each purchase counts ``0.5 ** (age / half_life)``: what sells now, not what sold.
    """

    def fit(self, user_items: sp.csr_matrix) -> TrendingRecommender:
        total = np.asarray(user_items.sum(axis=0)).ravel().astype(np.float32)
        self.item_scores_ = total / max(total.max(), 1e-12)
        self.order_ = np.argsort(-self.item_scores_, kind="stable")
        return self


class RepurchaseRecommender(Recommender):
    """"Your most-bought items": the user's own row, popularity breaking ties.

    The obvious buy-it-again baseline for a shop whose customers re-order.
    """

    def fit(self, user_items: sp.csr_matrix) -> RepurchaseRecommender:
        self.popularity_ = PopularityRecommender().fit(user_items)
        return self

    def scores(self, userids, user_items) -> np.ndarray:
        own = user_items[np.atleast_1d(userids)].toarray()
        return own + 1e-3 * self.popularity_.item_scores_

    def split_scores(self, userids, user_items) -> Split:
        return 1e-3 * self.popularity_.item_scores_, user_items[np.atleast_1d(userids)].astype(np.float32)


class EASERecommender(Recommender):
    """Embarrassingly Shallow Autoencoder: a closed-form item-item model.

    Steck (2019), "Embarrassingly Shallow Autoencoders for Sparse Data", WWW. With
    ``G = X^T X + lambda I`` and ``P = G^-1``, ``B = -P / diag(P)`` with a zero diagonal;
    a user's scores are ``x_u B``. ``X`` is binarised. Memory and time grow with the
    square and cube of the number of items, so a catalogue of more than ``dense_items``
    items is fitted on its ``dense_items`` most-bought items and ``B`` kept sparse, each
    row's ``neighbours`` largest weights (:mod:`features.item_weights`).
    """

    def __init__(self, l2: float = 300.0, dense_items: int = DENSE_ITEMS, neighbours: int = NEIGHBOURS):
        self.l2 = l2
        self.dense_items = dense_items
        self.neighbours = neighbours

    def fit(self, user_items: sp.csr_matrix) -> EASERecommender:
        x = (user_items > 0).astype(np.float32)
        n = x.shape[1]
        if is_dense_size(n, self.dense_items):
            self.item_weights_ = _ease(x, self.l2)
        else:
            top = most_bought(x.getnnz(axis=0), self.dense_items)
            self.item_weights_ = prune(_ease(x[:, top], self.l2), top, top, n, self.neighbours)
        return self

    def scores(self, userids, user_items) -> np.ndarray:
        x = (user_items[np.atleast_1d(userids)] > 0).astype(np.float32)
        return times(x, self.item_weights_)

    def split_scores(self, userids, user_items) -> Split | None:
        if not sp.issparse(self.item_weights_):
            return None
        x = (user_items[np.atleast_1d(userids)] > 0).astype(np.float32)
        return np.zeros(self.item_weights_.shape[1], np.float32), (x @ self.item_weights_).tocsr()

    def item_similarity(self) -> np.ndarray | sp.csr_matrix:
        return self.item_weights_


def _ease(x: sp.spmatrix, l2: float) -> np.ndarray:
    """EASE's dense ``B`` for the binary matrix ``x`` (float32)."""
    from scipy.linalg import lapack

    gram = (x.T @ x).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += l2
    # G is symmetric positive definite: invert it through its Cholesky factor (LAPACK
    # potrf + potri), about twice as fast as solving against the identity.
    factor, info = lapack.spotrf(gram, lower=0, overwrite_a=1)
    if info == 0:
        p, info = lapack.spotri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise ValueError(f"EASERecommender.fit: Gram matrix not positive definite (LAPACK info {info})")
    diag = np.diag(p).copy()
    # potri fills the upper triangle only; mirror it in place (the temporaries of
    # triu(p) + triu(p, 1).T took 0.3-0.5 s a fit at 4,400 items).
    b = np.triu(p)
    del gram, factor, p  # only b is needed from here: n x n floats each
    b += b.T
    b /= -diag
    b[np.diag_indices_from(b)] = 0.0
    return b


class ItemKNNRecommender(Recommender):
    """Item-item nearest neighbours from implicit (cosine or BM25-weighted co-occurrence).

    Sarwar et al. (2001), "Item-based collaborative filtering recommendation algorithms";
    BM25 weighting as in Robertson & Zaragoza (2009). Keeps ``neighbours`` per item.
    """

    def __init__(self, neighbours: int = 100, weighting: str = "bm25"):
        self.neighbours = neighbours
        self.weighting = weighting

    def fit(self, user_items: sp.csr_matrix) -> ItemKNNRecommender:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

        cls = {"bm25": BM25Recommender, "cosine": CosineRecommender}[self.weighting]
        model = cls(K=self.neighbours)
        with warnings.catch_warnings():
            # implicit's own BM25 weighting hands its fit a COO matrix and then warns about it.
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            model.fit((user_items > 0).astype(np.float32).tocsr(), show_progress=False)
        self.similarity_ = model.similarity.tocsr().astype(np.float32)
        return self

    def scores(self, userids, user_items) -> np.ndarray:
        x = (user_items[np.atleast_1d(userids)] > 0).astype(np.float32)
        return np.asarray((x @ self.similarity_).todense())

    def split_scores(self, userids, user_items) -> Split:
        x = (user_items[np.atleast_1d(userids)] > 0).astype(np.float32)
        return np.zeros(self.similarity_.shape[1], np.float32), (x @ self.similarity_).tocsr()

    def item_similarity(self) -> sp.csr_matrix:
        return self.similarity_


class FactorRecommender(Recommender):
    """A model scoring users by the dot products of their factors and the items' (fitted into
    ``user_factors_`` and ``item_factors_``)."""

    def scores(self, userids, user_items=None) -> np.ndarray:
        return self.user_factors_[np.atleast_1d(userids)] @ self.item_factors_.T

    def _recommend(self, userids, user_items, k, filter_purchased):
        if not is_large(user_items):
            return super()._recommend(userids, user_items, k, filter_purchased)
        from implicit.cpu.topk import topk

        # implicit's blocked top-k: no dense row of every item per user.
        ids, values = topk(self.item_factors_, self.user_factors_[userids], min(k, user_items.shape[1]),
                           filter_query_items=user_items[userids] if filter_purchased else None)
        return ids.astype(np.int64), values.astype(np.float32)

    def pair_scores(self, userids, user_items, pos, cols) -> np.ndarray:
        if not is_large(user_items):
            return super().pair_scores(userids, user_items, pos, cols)
        return np.einsum("ij,ij->i", self.user_factors_[np.asarray(userids)[pos]], self.item_factors_[cols])

    def item_similarity(self) -> np.ndarray:
        return _cosine(self.item_factors_)


class BPRRecommender(FactorRecommender):
    """Bayesian Personalized Ranking matrix factorisation (implicit's CPU solver).

    Rendle et al. (2009), "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI.
    """

    def __init__(self, factors: int = 64, learning_rate: float = 0.05, regularization: float = 0.01,
                 iterations: int = 100, random_state: int = 0):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.random_state = random_state

    def fit(self, user_items: sp.csr_matrix) -> BPRRecommender:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        model = BayesianPersonalizedRanking(
            factors=self.factors, learning_rate=self.learning_rate, regularization=self.regularization,
            iterations=self.iterations, random_state=self.random_state)
        model.fit((user_items > 0).astype(np.float32).tocsr(), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        return self


class FrequentlyBoughtTogether:
    """Items bought in the same orders: association rules i -> j.

    Agrawal, Imielinski & Swami (1993), "Mining association rules between sets of items in
    large databases", SIGMOD. For orders ``O``: support(i, j) = |O_i & O_j| / |O|,
    confidence(i -> j) = |O_i & O_j| / |O_i|, lift(i -> j) = confidence(i -> j) / (|O_j| / |O|).
    Rules need ``min_orders`` orders together; the ``neighbours`` best rules by ``rank_by``
    are kept per item, and a cart is scored by summing that measure over its items' rules.
    Confidence is the default: on Online Retail II, lift favours rare pairs and ranks worse
    (held-out NDCG@10 0.09-0.12 against 0.16 for confidence).
    """

    def __init__(self, min_orders: int = 5, neighbours: int = 50, rank_by: str = "confidence"):
        if rank_by not in ("confidence", "lift"):
            raise ValueError(f"rank_by must be 'confidence' or 'lift', got {rank_by!r}")
        self.min_orders = min_orders
        self.neighbours = neighbours
        self.rank_by = rank_by

    def get_params(self) -> dict:
        return {"min_orders": self.min_orders, "neighbours": self.neighbours, "rank_by": self.rank_by}

    def fit(self, baskets: sp.csr_matrix) -> FrequentlyBoughtTogether:
        """Fit on a binary order x item matrix."""
        n_orders = max(baskets.shape[0], 1)
        counts = np.asarray(baskets.sum(axis=0)).ravel().astype(np.float32)
        co = (baskets.T @ baskets).tocoo()
        keep = (co.row != co.col) & (co.data >= self.min_orders)
        i, j, n = co.row[keep], co.col[keep], co.data[keep].astype(np.float32)
        confidence = n / counts[i]
        lift = confidence / (counts[j] / n_orders)
        # Keep the best `neighbours` rules per antecedent item.
        order = np.lexsort((-(confidence if self.rank_by == "confidence" else lift), i))
        i, j, lift, confidence, n = i[order], j[order], lift[order], confidence[order], n[order]
        rank = np.arange(len(i)) - np.searchsorted(i, i)
        top = rank < self.neighbours
        shape = (baskets.shape[1], baskets.shape[1])
        self.lift_ = sp.csr_matrix((lift[top], (i[top], j[top])), shape=shape)
        self.confidence_ = sp.csr_matrix((confidence[top], (i[top], j[top])), shape=shape)
        self.support_ = sp.csr_matrix((n[top] / n_orders, (i[top], j[top])), shape=shape)
        self.item_counts_ = counts
        self.score_ = self.confidence_ if self.rank_by == "confidence" else self.lift_
        return self

    def recommend(self, carts: list[np.ndarray], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` items for each cart (an array of item columns), cart items left out.

        Items without a rule get no score (-1 / -inf pad the row); equal scores go to the
        lower column. All carts in one sparse product: one at a time took 0.6 ms each.
        """
        cols = [np.asarray(c, np.int64).ravel() for c in carts]
        indptr = np.concatenate([[0], np.cumsum([len(c) for c in cols], dtype=np.int64)])
        cart = sp.csr_matrix((np.ones(indptr[-1], np.float32), np.concatenate([np.zeros(0, np.int64), *cols]),
                              indptr), shape=(len(carts), self.score_.shape[0]))
        summed = (cart @ self.score_).tocsr()  # cart order kept: sums as one cart at a time did
        summed = (summed - summed.multiply(cart > 0)).tocsr()  # never the cart's own items
        summed.data[summed.data <= 0] = 0.0  # an item twice in a cart was subtracted twice
        summed.eliminate_zeros()
        return top_per_row(summed, k)


class ALSRecommender(FactorRecommender):
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

    def fit(self, user_items: sp.csr_matrix, show_progress: bool | None = None) -> ALSRecommender:
        """Fit on ``user_items`` (counts); ``show_progress`` draws implicit's epoch bar (default:
        when standard error is a terminal)."""
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
        if show_progress is None:
            show_progress = sys.stderr.isatty()
        # BLAS threads fight implicit's own threads: ALS runs several times slower without this,
        # even where the user asked for more BLAS threads than training/__init__.py sets.
        with threadpool_limits(1, "blas"):
            model.fit(confidence, show_progress=show_progress)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self.popularity_ = PopularityRecommender().fit(user_items)
        return self


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


def _cosine(factors: np.ndarray) -> np.ndarray:
    norm = factors / np.maximum(np.linalg.norm(factors, axis=1, keepdims=True), 1e-12)
    return norm @ norm.T


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest scores per row, best first; equal scores go to
    the lower column, as the service ranks them (a sparse shop's lists end in ties at zero,
    and a partition alone would pick among them at random)."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part_scores = np.take_along_axis(scores, part, axis=1)
    # Rows where the k-th score is shared with a column left out: ranked whole, stably.
    kth = part_scores.min(axis=1, keepdims=True)
    tied = np.flatnonzero((scores == kth).sum(axis=1) > (part_scores == kth).sum(axis=1))
    if len(tied):
        part[tied] = np.argsort(-scores[tied], axis=1, kind="stable")[:, :k]
        part_scores[tied] = np.take_along_axis(scores[tied], part[tied], axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


def is_large(user_items: sp.spmatrix | None) -> bool:
    """Whether lists over ``user_items``' catalogue are ranked without a dense row of every item
    per user (above :data:`~features.item_weights.DENSE_ITEMS` items: 0.4 GB per 1,000 users at
    100,000 items, and most of an evaluation's time). Smaller catalogues keep :func:`top_k`."""
    return user_items is not None and not is_dense_size(user_items.shape[1])
