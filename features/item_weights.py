"""Item-item weight matrices (EASE's ``B``, the seasonal ridge's), dense or sparse.

A customer's scores from an item-item model are their items' rows of it summed: ``x W``.
Dense, ``W`` is ``4 n^2`` bytes for ``n`` items: 85 MB at 4,600 items, 3.6 GB at 30,000,
40 GB at 100,000, and EASE inverts a matrix of that size. So above :data:`DENSE_ITEMS`
items, training fits the models on the :data:`DENSE_ITEMS` most-bought items and keeps each
row's :data:`NEIGHBOURS` largest weights by magnitude, as a CSR matrix over the whole
catalogue: pruned EASE, the simplest of the sparse approximations of its inverse (SANSA,
Spisak et al. 2023, "Scalable Approximate NonSymmetric Autoencoder for Collaborative
Filtering", RecSys, is a finer one). An item outside them is never an item-model
candidate and adds nothing to a customer's scores; it can still be ranked as one of the
customer's own items. How the threshold was chosen is in ``docs/experiments.md``.

Everything that multiplies by ``W`` goes through this module, so training and serving take
either form.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from features import sparse_rows

ItemWeights = np.ndarray | sp.csr_matrix

DENSE_ITEMS = 10_000
NEIGHBOURS = 200
_PRUNE_ROWS = 1_024  # rows of the dense block pruned at a time (bounds the temporaries)
# Pseudo-customers of :func:`co_bought`'s m-estimate, chosen on validation windows across the
# zoo's shops (docs/experiments.md).
SMOOTHING = 10.0
_CO_BOUGHT_ROWS = 2_048  # items whose co-purchases are counted at a time


def is_dense_size(n_items: int, dense_items: int = DENSE_ITEMS) -> bool:
    """Whether a catalogue of ``n_items`` keeps its item-item models dense."""
    return n_items <= dense_items


def most_bought(counts: np.ndarray, limit: int) -> np.ndarray:
    """The columns of the ``limit`` largest ``counts`` (ties to the lower column), ascending."""
    if len(counts) <= limit:
        return np.arange(len(counts))
    order = np.argsort(-np.asarray(counts), kind="stable")[:limit]
    return np.sort(order)


def prune(block: np.ndarray, rows: np.ndarray, cols: np.ndarray, n_items: int,
          neighbours: int = NEIGHBOURS) -> sp.csr_matrix:
    """``block`` (weights of items ``rows`` to items ``cols``) as an ``n_items`` x ``n_items``
    CSR matrix keeping each row's ``neighbours`` largest weights by magnitude (zeros dropped)."""
    keep = min(neighbours, block.shape[1])
    parts_cols, parts_vals = [], []
    for start in range(0, block.shape[0], _PRUNE_ROWS):
        chunk = block[start:start + _PRUNE_ROWS]
        top = np.argpartition(-np.abs(chunk), keep - 1, axis=1)[:, :keep] if keep else \
            np.zeros((len(chunk), 0), np.int64)
        top.sort(axis=1)
        parts_cols.append(cols[top])
        parts_vals.append(np.take_along_axis(chunk, top, axis=1))
    indices = np.concatenate(parts_cols) if parts_cols else np.zeros((0, keep), np.int64)
    data = np.concatenate(parts_vals) if parts_vals else np.zeros((0, keep), np.float32)
    return _rows_to_csr(rows, indices, data, n_items)


def _rows_to_csr(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_items: int) -> sp.csr_matrix:
    """An ``n_items`` x ``n_items`` float32 CSR matrix whose row ``rows[i]`` holds
    ``cols[i, j] -> values[i, j]`` (zero values and columns of -1 left out), each row's
    indices sorted. ``rows`` may come in any order; CSR wants them ascending."""
    kept = (cols >= 0) & (values != 0)
    counts = np.zeros(n_items, np.int64)
    counts[rows] = kept.sum(axis=1)
    order = np.argsort(rows, kind="stable")
    kept, cols, values = kept[order], cols[order], values[order]
    w = sp.csr_matrix((values[kept].astype(np.float32), cols[kept].astype(np.int32),
                       np.concatenate([[0], np.cumsum(counts)])), shape=(n_items, n_items))
    w.sort_indices()
    return w


def uncovered(weights: ItemWeights, user_items: sp.spmatrix) -> np.ndarray:
    """Items bought in ``user_items`` whose row of ``weights`` stores nothing (ascending): on a
    pruned model, the bought items outside the fitted ones; none on a dense one."""
    if not sp.issparse(weights):
        return np.zeros(0, np.int64)
    bought = np.asarray(user_items.getnnz(axis=0)).ravel() > 0
    return np.flatnonzero(bought & (np.diff(weights.indptr) == 0))


def co_bought(user_items: sp.spmatrix, rows: np.ndarray, neighbours: int = NEIGHBOURS,
              smoothing: float = SMOOTHING) -> sp.csr_matrix:
    """For each item of ``rows``, the ``neighbours`` items its buyers most likely bought too.

    "Customers who bought this also bought" (Linden, Smith & York 2003, "Amazon.com
    recommendations: item-to-item collaborative filtering"), as the probability that a buyer
    of ``i`` bought ``j``, estimated by Cestnik's m-estimate (1990, "Estimating probabilities:
    a crucial task in machine learning"): ``(c_ij + m p_j) / (n_i + m)``, with ``c_ij`` the
    customers who bought both, ``n_i`` those who bought ``i``, ``p_j`` the share of customers
    who bought ``j`` and ``m`` = ``smoothing``. An item of few buyers leans on what is
    popular; one of many, on its buyers. The item itself is left out.

    Counted ``_CO_BOUGHT_ROWS`` items at a time on the sparse matrix, never a dense row.

    Returns
    -------
    csr_matrix of float32, shape (n_items, n_items)
        Only the rows of ``rows`` store entries, at most ``neighbours`` each.
    """
    x = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
    x.data[:] = 1.0
    xt = x.T.tocsr()
    n_users, n_items = x.shape
    buyers = np.diff(xt.indptr).astype(np.float32)
    prior = smoothing * buyers / max(n_users, 1)
    # Below every stored pair's score sit only items nobody bought with i, ranked by p_j: the
    # `neighbours + 1` most popular (one may be i itself) are all a row can need of them.
    popular = np.argsort(-buyers, kind="stable")[: neighbours + 1]
    rows = np.asarray(rows, np.int64)
    keep = min(neighbours, n_items)
    parts_ids, parts_vals = [np.zeros((0, keep), np.int64)], [np.zeros((0, keep), np.float32)]
    for start in range(0, len(rows), _CO_BOUGHT_ROWS):
        r = rows[start:start + _CO_BOUGHT_ROWS]
        common = (xt[r] @ x).tocoo()
        pad_rows = np.repeat(np.arange(len(r)), len(popular))
        scores = sp.csr_matrix((np.concatenate([common.data, np.zeros(len(pad_rows), np.float32)]),
                                (np.concatenate([common.row, pad_rows]),
                                 np.concatenate([common.col, np.tile(popular, len(r))]))),
                               shape=(len(r), n_items))
        scores.sum_duplicates()
        row = sparse_rows.row_of(scores)
        scores.data = (scores.data + prior[scores.indices]) / (buyers[r][row] + smoothing)
        scores.data[scores.indices == r[row]] = 0.0  # not the item itself
        top, values = sparse_rows.top_per_row(scores, keep)
        parts_ids.append(top)
        parts_vals.append(values)
    return _rows_to_csr(rows, np.concatenate(parts_ids), np.concatenate(parts_vals), n_items)


def times(rows: sp.spmatrix | np.ndarray, weights: ItemWeights) -> np.ndarray:
    """``rows @ weights`` as a dense float array: each row's summed item-item weights."""
    out = rows @ weights
    return out.toarray() if sp.issparse(out) else np.asarray(out)


def weighted_rows(cols: np.ndarray, values: np.ndarray, weights: ItemWeights) -> np.ndarray:
    """``sum_k values[k] * weights[cols[k]]``: one row of scores from a weighted set of items."""
    cols = np.asarray(cols, np.int64)
    if not sp.issparse(weights):
        return np.asarray(values, np.float32) @ weights[cols]
    row = sp.csr_matrix((np.asarray(values, np.float32), cols, [0, len(cols)]), shape=(1, weights.shape[0]))
    return times(row, weights).ravel()


def column_sums(weights: ItemWeights, cols: np.ndarray) -> np.ndarray:
    """``weights[:, cols].sum(axis=1)``: how much each item points at the items ``cols``."""
    if not sp.issparse(weights):
        return weights[:, cols].sum(axis=1)
    indicator = np.zeros(weights.shape[1], np.float32)
    indicator[cols] = 1.0
    return np.asarray(weights @ indicator).ravel()


def to_arrays(name: str, weights: ItemWeights) -> dict[str, np.ndarray]:
    """Arrays to save: ``{name: W}`` dense, or its CSR parts as ``name_data``, ``name_indices``,
    ``name_indptr``."""
    if not sp.issparse(weights):
        return {name: weights}
    return {f"{name}_{part}": getattr(weights, part) for part in ("data", "indices", "indptr")}


def from_arrays(arrays: dict[str, np.ndarray], name: str, n_items: int) -> ItemWeights | None:
    """Inverse of :func:`to_arrays` (None when neither form is there); memory-mapped arrays
    stay mapped."""
    if name in arrays:
        return arrays[name]
    if f"{name}_data" not in arrays:
        return None
    return sp.csr_matrix((arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]),
                         shape=(n_items, n_items))
