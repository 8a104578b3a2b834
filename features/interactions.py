"""User-item interaction matrices and the id index that names their rows and columns."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import schema as s


class IdIndex:
    """Two-way map between external string ids and contiguous integer indices.

    Internal code works on indices; ids are translated only at the edges (the idea of
    lightfm's ``Dataset`` mapping).
    """

    def __init__(self, ids: Iterable[str]):
        self.ids = np.asarray(list(ids), dtype=str)
        self._index = {id_: i for i, id_ in enumerate(self.ids)}
        if len(self._index) != len(self.ids):
            raise ValueError("IdIndex: ids must be unique")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, id_: str) -> bool:
        return id_ in self._index

    def index(self, id_: str) -> int:
        """Index of ``id_``; ``KeyError`` naming the id if it is unknown."""
        return self._index[id_]

    def indices(self, ids: Iterable[str]) -> np.ndarray:
        """Indices of ``ids``, -1 for unknown ones."""
        return np.fromiter((self._index.get(i, -1) for i in ids), dtype=np.int64)


def purchases_before(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Sales lines (returns excluded) strictly before ``as_of``."""
    return orders[(orders[s.TIMESTAMP] < as_of) & ~orders[s.IS_RETURN]]


def build_interactions(
    orders: pd.DataFrame, as_of: pd.Timestamp
) -> tuple[sp.csr_matrix, IdIndex, IdIndex]:
    """Build the user x item matrix of purchases strictly before ``as_of``.

    The value is the number of distinct orders in which the user bought the item: a
    wholesaler's quantities span four orders of magnitude, and a repeated order is a
    stronger signal of preference than a large one.

    Returns
    -------
    matrix : csr_matrix of float32, shape (n_users, n_items)
    users, items : IdIndex
        Row and column names, sorted for reproducibility.
    """
    sales = purchases_before(orders, as_of)
    if sales.empty:
        raise ValueError(f"build_interactions: no purchases before {as_of.date()}")
    pairs = sales.groupby([s.CUSTOMER_ID, s.ITEM_ID])[s.ORDER_ID].nunique().reset_index()
    users = IdIndex(np.sort(pairs[s.CUSTOMER_ID].unique()))
    items = IdIndex(np.sort(pairs[s.ITEM_ID].unique()))
    matrix = sp.csr_matrix(
        (
            pairs[s.ORDER_ID].to_numpy(np.float32),
            (users.indices(pairs[s.CUSTOMER_ID]), items.indices(pairs[s.ITEM_ID])),
        ),
        shape=(len(users), len(items)),
    )
    return matrix, users, items


def purchases_in_window(
    orders: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp | None = None
) -> dict[str, set[str]]:
    """Items each customer bought in ``[start, end)`` (returns excluded)."""
    mask = (orders[s.TIMESTAMP] >= start) & ~orders[s.IS_RETURN]
    if end is not None:
        mask &= orders[s.TIMESTAMP] < end
    window = orders.loc[mask, [s.CUSTOMER_ID, s.ITEM_ID]]
    return {c: set(g) for c, g in window.groupby(s.CUSTOMER_ID)[s.ITEM_ID]}
