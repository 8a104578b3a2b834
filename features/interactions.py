"""User-item interaction matrices and the id index that names their rows and columns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import schema as s
from features.order_codes import starts
from features.sparse_rows import gather


class IdIndex:
    """Two-way map between external string ids and contiguous integer indices.

    Internal code works on indices; ids are translated only at the edges (the idea of
    lightfm's ``Dataset`` mapping).
    """

    def __init__(self, ids: Iterable[str]):
        # A str array (memory-mapped, say) is kept as it is, not copied.
        kept = isinstance(ids, np.ndarray) and ids.dtype.kind == "U"
        self.ids = ids if kept else np.asarray(list(ids), dtype=str)
        # Sorted ids (those of a model) are looked up by binary search: no hash table of
        # Python strings, which costs about 100 bytes per id in every process.
        self._sorted = bool(np.all(self.ids[1:] > self.ids[:-1]))
        self._index = None if self._sorted else pd.Index(self.ids)
        if self._index is not None and not self._index.is_unique:
            raise ValueError("IdIndex: ids must be unique")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, id_: str) -> bool:
        if self._index is not None:
            return id_ in self._index
        try:
            self.index(id_)
        except KeyError:
            return False
        return True

    def index(self, id_: str) -> int:
        """Index of ``id_``; ``KeyError`` naming the id if it is unknown."""
        if self._index is not None:
            return int(self._index.get_loc(id_))
        if isinstance(id_, str):
            pos = int(np.searchsorted(self.ids, id_))
            if pos < len(self.ids) and self.ids[pos] == id_:
                return pos
        raise KeyError(id_)

    def indices(self, ids: Iterable[str]) -> np.ndarray:
        """Indices of ``ids``, -1 for unknown ones."""
        values = ids if isinstance(ids, (pd.Series, np.ndarray)) else list(ids)
        if self._index is not None:
            return self._index.get_indexer(pd.Index(values, dtype=str)).astype(np.int64)
        return self._search(np.asarray(pd.Index(values, dtype=str), dtype=str))

    def _search(self, values: np.ndarray) -> np.ndarray:
        if not len(self.ids):
            return np.full(len(values), -1, np.int64)
        pos = np.minimum(np.searchsorted(self.ids, values), len(self.ids) - 1)
        return np.where(self.ids[pos] == values, pos, -1).astype(np.int64)

    def ids_of(self, indices: Iterable[int]) -> np.ndarray:
        """External ids of ``indices`` (the way back from matrix rows or columns)."""
        return self.ids[np.asarray(indices, dtype=np.int64)]


@dataclass(frozen=True)
class InteractionWeights:
    """How much each kind of interaction counts, and how fast it fades.

    A purchase counts ``purchase`` per distinct order; an event type counts its weight per
    distinct session in which it happened (five views of an item in one visit are one
    view). ``remove_from_cart`` and ``search`` count nothing unless given a weight.
    """

    purchase: float = 1.0
    add_to_cart: float = 0.3
    wishlist: float = 0.2
    view: float = 0.05
    remove_from_cart: float = 0.0
    half_life_days: float | None = None  # None: no time decay
    drop_fully_returned: bool = True  # a pair whose net quantity is <= 0 is no purchase

    def __post_init__(self):
        if not self.purchase >= self.add_to_cart >= self.view >= 0:
            raise ValueError(f"weights must satisfy purchase >= add_to_cart >= view >= 0, got {self}")
        if self.half_life_days is not None and self.half_life_days <= 0:
            raise ValueError(f"half_life_days must be positive, got {self.half_life_days}")


PURCHASES_ONLY = InteractionWeights(add_to_cart=0.0, wishlist=0.0, view=0.0)


def build_interactions(
    orders: pd.DataFrame, as_of: pd.Timestamp, events: pd.DataFrame | None = None,
    weights: InteractionWeights = PURCHASES_ONLY,
) -> tuple[sp.csr_matrix, IdIndex, IdIndex]:
    """Build the user x item matrix of interactions strictly before ``as_of``.

    Purchases count distinct orders rather than quantities: a wholesaler's quantities span
    four orders of magnitude, and a repeated order is a stronger signal than a large one.
    Events of known users add their type's weight per distinct session; anonymous events
    (blank ``user_id``) have no row. With ``half_life_days``, each order or session counts
    ``0.5 ** (age_days / half_life_days)`` of its weight, its age taken from ``as_of``.

    Parameters
    ----------
    orders : DataFrame
        Canonical ``orders``; returns reduce a pair's net quantity.
    as_of : Timestamp
    events : DataFrame, optional
        Canonical ``events``; ``purchase`` events are skipped because ``orders`` has them.
    weights : InteractionWeights
        Default: purchases only.

    Returns
    -------
    matrix : csr_matrix of float32, shape (n_users, n_items)
    users, items : IdIndex
        Row and column names, sorted for reproducibility.
    """
    # Ids become integer codes first (of every line: no copy of the past's strings): millions
    # of pairs group and sum as integers and a sparse matrix, where grouping them as strings
    # held several copies of every id.
    before = (orders[s.TIMESTAMP] < as_of).to_numpy()
    sale = before & ~orders[s.IS_RETURN].to_numpy(bool)
    if not sale.any():
        raise ValueError(f"build_interactions: no purchases before {as_of.date()}")
    u, user_ids = pd.factorize(orders[s.CUSTOMER_ID])
    i, item_ids = pd.factorize(orders[s.ITEM_ID])
    lines = pd.DataFrame({"u": u[sale], "i": i[sale], "o": pd.factorize(orders[s.ORDER_ID])[0][sale],
                          "ts": orders[s.TIMESTAMP].to_numpy()[sale]})
    per_order = lines.groupby(["u", "i", "o"], sort=False)["ts"].max().reset_index()
    del lines
    rows, cols = per_order["u"].to_numpy(np.int64), per_order["i"].to_numpy(np.int64)
    w = weights.purchase * _decay(per_order["ts"], as_of, weights.half_life_days)
    del per_order
    if weights.drop_fully_returned:
        net = sp.csr_matrix((orders[s.QUANTITY].to_numpy(np.float64)[before], (u[before], i[before])),
                            shape=(len(user_ids), len(item_ids)))  # quantities summed per pair
        bought = gather(net, rows, cols) > 0
        rows, cols, w = rows[bought], cols[bought], w[bought]
        del net
    del u, i
    parts = [(rows, cols, w)]
    if events is not None:
        kinds = {k: w for k, w in (("add_to_cart", weights.add_to_cart), ("wishlist", weights.wishlist),
                                   ("view", weights.view), ("remove_from_cart", weights.remove_from_cart))
                 if w != 0}
        if kinds:
            eu, event_users, ei, event_items, ew = _event_weights(events, kinds, as_of,
                                                                  weights.half_life_days)
            user_ids, to_user = _extend(user_ids, event_users)
            item_ids, to_item = _extend(item_ids, event_items)
            parts.append((to_user[eu], to_item[ei], ew))
    summed = sp.csr_matrix((np.concatenate([p[2] for p in parts]),
                            (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))),
                           shape=(len(user_ids), len(item_ids)))  # repeated pairs summed
    summed.data[summed.data < 0] = 0.0
    summed.eliminate_zeros()
    user_ids, item_ids = np.asarray(user_ids, dtype=str), np.asarray(item_ids, dtype=str)
    used_users = np.flatnonzero(np.diff(summed.indptr))
    used_users = used_users[np.argsort(user_ids[used_users], kind="stable")]
    used_items = np.flatnonzero(np.bincount(summed.indices, minlength=len(item_ids)))
    used_items = used_items[np.argsort(item_ids[used_items], kind="stable")]
    matrix = summed[used_users][:, used_items].astype(np.float32)
    matrix.sort_indices()
    return matrix, IdIndex(user_ids[used_users]), IdIndex(item_ids[used_items])


Interactions = tuple[sp.csr_matrix, IdIndex, IdIndex]  # the matrix, its users and its items


def stack_users(parts: list[Interactions]) -> Interactions:
    """One matrix of :func:`build_interactions`'s from its parts over disjoint sets of users
    (parts of whole customers, :mod:`features.customer_parts`): the rows of all, users and
    items sorted as one build over every part's rows gives them."""
    items = np.unique(np.concatenate([p[2].ids for p in parts]))
    users = np.concatenate([p[1].ids for p in parts])
    blocks = []
    for m, _, part_items in parts:
        coo = m.tocoo()
        blocks.append(sp.csr_matrix((coo.data, (coo.row, np.searchsorted(items, part_items.ids)[coo.col])),
                                    shape=(m.shape[0], len(items)), dtype=np.float32))
    order = np.argsort(users, kind="stable")
    matrix = sp.vstack(blocks, format="csr")[order]
    matrix.sort_indices()
    return matrix, IdIndex(users[order]), IdIndex(items)


EVENT_PART = 20_000_000  # events weighed at a time, at most (whole sessions)
KEY_BITS = 62  # a row's codes as the digits of one int64 below 2 ** KEY_BITS, else re-coded


def _extend(ids: pd.Index, more: pd.Index) -> tuple[pd.Index, np.ndarray]:
    """``ids`` with the ids of ``more`` it lacks appended, and where each of ``more`` is in it."""
    at = pd.Index(ids).get_indexer(more)
    new = at < 0
    at[new] = len(ids) + np.arange(np.count_nonzero(new))
    return pd.Index(ids).append(pd.Index(more)[new]), at


def column_codes(column: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes of a column and the values they stand for (-1: missing); a categorical's
    own codes, without a copy of its values."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy(), column.cat.categories
    codes, uniques = pd.factorize(column)
    return codes, pd.Index(uniques)


def _event_weights(events: pd.DataFrame, kinds: dict[str, float], as_of: pd.Timestamp,
                   half_life_days: float | None
                   ) -> tuple[np.ndarray, pd.Index, np.ndarray, pd.Index, np.ndarray]:
    """Weight per (user, item): each event type's weight once per session it occurs in.

    Events of anonymous visitors (blank ``user_id``) and at or after ``as_of`` are skipped.
    Returns user codes and the ids they stand for, item codes and theirs, and the weights.
    """
    # Columns become integer codes and one int64 key per (user, item, type, session), so
    # millions of events group in about a second; strings are looked up only at the end.
    cols = (s.USER_ID, s.ITEM_ID, s.EVENT_TYPE, s.SESSION_ID)
    codes, uniques = zip(*(column_codes(events[c]) for c in cols), strict=True)
    type_weight = np.append(pd.Index(uniques[2]).map(lambda t: kinds.get(t, 0.0)).to_numpy(float), 0.0)
    known = np.append(np.asarray(uniques[0], dtype=object) != "", False)  # code -1 (missing): last
    keep = ((events[s.TIMESTAMP] < as_of).to_numpy() & known[codes[0]] & (codes[1] >= 0)
            & (type_weight[codes[2]] != 0))
    # A key never spans two sessions, so sessions are taken a range of them at a time: the
    # keys of 87 million events at once held several GB.
    sessions = codes[3]
    parts = max(1, -(-int(np.count_nonzero(keep)) // EVENT_PART))
    edges = np.linspace(-1, len(uniques[3]), parts + 1).round().astype(np.int64)
    users, items, weights = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0)]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        rows = np.flatnonzero(keep & (sessions >= lo) & (sessions < hi))
        if not len(rows):
            continue
        key = _row_keys([c[rows] for c in codes], [len(u) for u in uniques])
        ts = events[s.TIMESTAMP].to_numpy()[rows]
        # Each key's row, in the order the keys first appear (the order of the weights summed
        # per (user, item) later, so the same floats whichever way the keys were numbered).
        if half_life_days is None:
            pick = np.sort(np.unique(key, return_index=True)[1])
        else:  # the latest event of each key dates it
            order = np.lexsort((ts, key))
            runs = starts(key[order])
            last = order[np.append(runs[1:], len(order)) - 1]
            pick = last[np.argsort(np.minimum.reduceat(order, runs), kind="stable")]
        users.append(codes[0][rows[pick]])
        items.append(codes[1][rows[pick]])
        weights.append(type_weight[codes[2][rows[pick]]] * _decay(pd.Series(ts[pick]), as_of, half_life_days))
    return (np.concatenate(users), pd.Index(uniques[0]), np.concatenate(items), pd.Index(uniques[1]),
            np.concatenate(weights))


def _row_keys(codes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """One int64 per row, equal for rows of equal codes: the codes (-1: missing) as the digits
    of one number when it fits (:data:`KEY_BITS`), else re-coded densely after each column."""
    fits = np.prod([float(n) + 1 for n in sizes]) < 2.0 ** KEY_BITS
    key = np.zeros(len(codes[0]), np.int64)
    for c, n in zip(codes, sizes, strict=True):
        key = key * (n + 1) + c.astype(np.int64) + 1
        if not fits:  # re-coded after each column, so the key stays below rows x ids: no overflow
            key = pd.factorize(key)[0].astype(np.int64)
    return key


def _decay(ts: pd.Series, as_of: pd.Timestamp, half_life_days: float | None) -> np.ndarray:
    if half_life_days is None:
        return np.ones(len(ts))
    age = ((as_of - ts) / pd.Timedelta(days=1)).to_numpy(float)
    return np.power(0.5, age / half_life_days)


def purchases_in_window(
    orders: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp | None = None
) -> dict[str, set[str]]:
    """Items each customer bought in ``[start, end)`` (returns excluded)."""
    mask = (orders[s.TIMESTAMP] >= start) & ~orders[s.IS_RETURN]
    if end is not None:
        mask &= orders[s.TIMESTAMP] < end
    # Distinct pairs sorted by customer, cut into runs: a groupby building one set per group
    # took 1.2 s on the demo's two years, this 0.4 s.
    pairs = orders.loc[mask, [s.CUSTOMER_ID, s.ITEM_ID]].drop_duplicates().sort_values(s.CUSTOMER_ID)
    customers = pairs[s.CUSTOMER_ID].to_numpy(object)
    if not len(customers):
        return {}
    items = pairs[s.ITEM_ID].tolist()
    starts = np.flatnonzero(np.r_[True, customers[1:] != customers[:-1]])
    ends = np.r_[starts[1:], len(customers)]
    return {customers[b]: set(items[b:e]) for b, e in zip(starts, ends, strict=True)}


def basket_matrix(orders: pd.DataFrame, start: pd.Timestamp | None, end: pd.Timestamp,
                  items: IdIndex) -> tuple[sp.csr_matrix, np.ndarray]:
    """Binary order x item matrix of sales in ``[start, end)`` over the columns of ``items``.

    Items outside ``items`` are dropped; so are orders left with no item. Returns the
    matrix and the order ids of its rows (in order of first appearance).
    """
    mask = (orders[s.TIMESTAMP] < end) & ~orders[s.IS_RETURN]
    if start is not None:
        mask &= orders[s.TIMESTAMP] >= start
    sales = orders.loc[mask, [s.ORDER_ID, s.ITEM_ID]]
    cols = items.indices(sales[s.ITEM_ID])
    sales = sales[cols >= 0]
    codes, order_ids = pd.factorize(sales[s.ORDER_ID])
    return binary_matrix(codes, cols[cols >= 0], (len(order_ids), len(items))), np.asarray(order_ids)


def binary_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """Bought-or-not float32 CSR matrix with a 1 at each ``(rows[k], cols[k])``; a pair given
    twice (an item on two lines of one order, say) is still one purchase."""
    x = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
    x.data[:] = 1.0  # the constructor summed repeated pairs
    return x
