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


def gather(m: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``m[rows[j], cols[j]]`` for each ``j`` (0 where ``m`` stores nothing)."""
    m = m.tocsr()
    m.sum_duplicates()
    n = m.shape[1]
    keys = row_of(m).astype(np.int64) * n + m.indices  # ascending: rows in order, indices sorted
    want = np.asarray(rows, np.int64) * n + np.asarray(cols, np.int64)
    at = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
    found = (keys[at] == want) if len(keys) else np.zeros(len(want), bool)
    return np.where(found, m.data[at] if len(keys) else 0.0, 0.0).astype(np.float32)


def top_k_split(base: np.ndarray, extra: sp.csr_matrix, leave_out: sp.csr_matrix | None, k: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest scores of each row of ``base + extra`` (a :data:`Split`), best first,
    equal scores to the lower column (as the service ranks), without a dense row per user.

    An item off a row's sparse part scores its ``base``, so the row's best such items are the
    first of ``base``'s order that are neither in that part nor left out: the candidates are
    the row's sparse entries and just enough of that order. Entries of ``leave_out``'s
    rows are never ranked; a row with fewer than ``k`` items left pads with -1 and -inf.
    """
    n_rows, n = extra.shape
    k = min(k, n)
    extra = extra.tocsr()
    extra.sum_duplicates()
    e_rows = row_of(extra)
    if leave_out is None:
        leave_out = sp.csr_matrix((n_rows, n), dtype=np.float32)
    left = leave_out.tocsr()
    left_keys = np.unique(row_of(left).astype(np.int64) * n + left.indices)
    e_keys = e_rows.astype(np.int64) * n + extra.indices
    kept = ~np.isin(e_keys, left_keys, assume_unique=False)
    base = np.asarray(base, np.float32)
    order = np.argsort(-base, kind="stable")
    position = np.empty(n, np.int64)
    position[order] = np.arange(n)
    # Items a row cannot take from base's order, by position in it; a row needs its first k
    # positions that are not blocked, so the head is k plus the blocked positions before them.
    blocked = np.unique(np.concatenate([e_rows.astype(np.int64) * n + position[extra.indices],
                                        row_of(left).astype(np.int64) * n + position[left.indices]]))
    b_rows, b_pos = blocked // n, blocked % n
    free_before = b_pos - (np.arange(len(blocked)) - np.searchsorted(b_rows, b_rows))
    need = k + np.bincount(b_rows[free_before < k], minlength=n_rows)
    head = min(n, int(need.max(initial=k)))
    h_rows = np.repeat(np.arange(n_rows, dtype=np.int64), head)
    h_pos = np.tile(np.arange(head, dtype=np.int64), n_rows)
    free = ~np.isin(h_rows * n + h_pos, blocked)
    rows = np.concatenate([e_rows[kept], h_rows[free]])
    cols = np.concatenate([extra.indices[kept].astype(np.int64), order[h_pos[free]]])
    values = np.concatenate([base[extra.indices[kept]] + extra.data[kept].astype(np.float32),
                             base[order[h_pos[free]]]])
    best = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[best], cols[best], values[best]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
    top = rank < k
    ids = np.full((n_rows, k), -1, np.int64)
    scores = np.full((n_rows, k), -np.inf, np.float32)
    ids[rows[top], rank[top]] = cols[top]
    scores[rows[top], rank[top]] = values[top]
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
