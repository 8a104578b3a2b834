"""Row-wise operations on sparse score matrices (one row per customer, one column per item):
the best entries of each row, an entry's rank in its row, entries at given places.

On a large catalogue a customer's scores from a sparse model are a few hundred stored
entries in a row of 100,000 items; ranking them here costs what the stored entries cost, not
what a dense row would. Items a row does not store score zero. Equal scores go to the lower
column, as a stable sort of the dense row orders them (and as the service ranks).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def row_of(m: sp.csr_matrix) -> np.ndarray:
    """The row of each stored entry of ``m``, in ``m.data`` order."""
    return np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))


def best_per_row(m: sp.csr_matrix, k: int) -> np.ndarray:
    """Positions in ``m.data`` of each row's ``k`` largest entries, row by row and best first
    (ties to the lower column). Sorts ``m``'s indices in place."""
    m.sort_indices()
    row = row_of(m)
    # Stable sorts: by score within the (ascending) columns, then by row. One lexsort of
    # the three keys took twice as long.
    order = np.argsort(-m.data, kind="stable")
    order = order[np.argsort(row[order], kind="stable")]
    rank = np.arange(len(order)) - m.indptr[row[order]]
    return order[rank < k]


def top_per_row(m: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` largest stored entries as ``(columns, values)``, ``(rows, k)`` arrays,
    best first (ties to the lower column); a row with fewer pads with -1 and -inf."""
    best = best_per_row(m, k)
    row = row_of(m)[best]
    rank = np.arange(len(best)) - np.searchsorted(row, row)  # best lists rows in order
    ids = np.full((m.shape[0], k), -1, np.int64)
    values = np.full((m.shape[0], k), -np.inf, np.float32)
    ids[row, rank] = m.indices[best]
    values[row, rank] = m.data[best]
    return ids, values


def gather(m: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``m[rows[j], cols[j]]`` for each ``j`` (0 where ``m`` stores nothing)."""
    m = m.tocsr()
    m.sum_duplicates()
    want = np.asarray(rows, np.int64) * m.shape[1] + np.asarray(cols, np.int64)
    if not m.nnz:
        return np.zeros(len(want), np.float32)
    keys = row_of(m).astype(np.int64) * m.shape[1] + m.indices  # ascending: rows in order, indices sorted
    at = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    return np.where(keys[at] == want, m.data[at], 0.0).astype(np.float32)


def top_k_split(base: np.ndarray, extra: sp.csr_matrix, leave_out: sp.csr_matrix | None, k: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest scores of each row of ``base + extra`` (``base``: one score per item,
    shared by every row; ``extra``: each row's own part), best first, equal scores to the
    lower column, without a dense row per user.

    An item off a row's sparse part scores its ``base``, so the row's best such items are the
    first of ``base``'s order that are neither in that part nor left out; they are looked at
    only when they could beat the row's own entries. Entries of ``leave_out``'s rows are
    never ranked; a row with fewer than ``k`` items left pads with -1 and -inf.
    """
    n_rows, n = extra.shape
    k = min(k, n)
    extra = extra.tocsr()
    extra.sum_duplicates()
    left = sp.csr_matrix((n_rows, n), dtype=np.float32) if leave_out is None else leave_out.tocsr()
    base = np.asarray(base, np.float32)
    order = np.argsort(-base, kind="stable")
    best_base = base[order[0]] if n else -np.inf
    ids = np.full((n_rows, k), -1, np.int64)
    scores = np.full((n_rows, k), -np.inf, np.float32)
    # Row by row: each row's arrays are small, where the whole batch's keys took seconds to
    # hash (millions of entries at 100,000 items).
    for r in range(n_rows):
        cols = extra.indices[extra.indptr[r]:extra.indptr[r + 1]]
        out = left.indices[left.indptr[r]:left.indptr[r + 1]]
        keep = ~np.isin(cols, out) if len(out) else slice(None)
        c = cols[keep].astype(np.int64)
        v = base[c] + extra.data[extra.indptr[r]:extra.indptr[r + 1]][keep].astype(np.float32)
        if len(v) > k:  # the k best and any equal to the k-th (ties go by column)
            sel = v >= np.partition(v, len(v) - k)[len(v) - k]
            c, v = c[sel], v[sel]
        if np.count_nonzero(v > best_base) < k:  # items off the sparse part may make the list
            head = order[:min(n, k + len(cols) + len(out))]
            head = head[~(np.isin(head, cols) | np.isin(head, out))][:k]
            c, v = np.concatenate([c, head]), np.concatenate([v, base[head]])
        best = np.lexsort((c, -v))[:k]
        ids[r, :len(best)], scores[r, :len(best)] = c[best], v[best]
    return ids, scores


def ranks(scores: sp.csr_matrix, pos: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Rank of item ``items[j]`` among all items of row ``pos[j]`` (``pos`` ascending), 1 =
    highest score, equal scores in column order: the dense row's rank, from its stored
    entries (every other item scores zero)."""
    m = scores.tocsr()
    m.sum_duplicates()
    m.eliminate_zeros()
    n = m.shape[1]
    values = gather(m, pos, items)
    out = np.empty(len(pos), np.float32)
    bounds = np.searchsorted(pos, np.arange(m.shape[0] + 1))
    for r in np.flatnonzero(np.diff(bounds)):
        a, b = bounds[r], bounds[r + 1]
        data, cols = m.data[m.indptr[r]:m.indptr[r + 1]], m.indices[m.indptr[r]:m.indptr[r + 1]]
        ranked = np.sort(data)
        v, c = values[a:b], items[a:b]
        below = np.searchsorted(ranked, v, "left")
        above = np.searchsorted(ranked, v, "right")
        higher = len(data) - above + np.where(v < 0, n - len(data), 0)  # zeros beat negatives
        earlier = np.where(v == 0, c - np.searchsorted(cols, c), 0)  # unstored items before c
        for k in np.flatnonzero((above - below > 1) & (v != 0)):
            earlier[k] = np.count_nonzero((data == v[k]) & (cols < c[k]))
        out[a:b] = higher + earlier + 1
    return out
