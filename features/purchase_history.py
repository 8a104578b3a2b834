"""Purchase history as of a cutoff, and the candidate features of the "for you" ranker.

:func:`purchase_history` summarises, for every (customer, item) pair bought before
``as_of``, how often, how recently and how regularly it was bought, plus customer and item
statistics. :func:`candidate_features` turns a batch of customers into ranker candidates
(their own items and the best new items of an item-item model) with one feature row each.
Training builds its ranker data with it and the service scores requests with it, so the two
can never disagree about a feature.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import schema as s
from features.interactions import IdIndex, binary_matrix
from features.item_weights import ItemWeights, times, weighted_rows
from features.order_codes import OrderCodes, distinct_per, starts
from features.sparse_rows import gather, ranks, row_of, top_k_split

RANKER_FEATURE_SET = "ranker_v2"  # v2: the seasonal model's score and rank (SEASON_SCORES)
PAIR_STATS = ("orders", "days_since_last", "span_days", "interval_days", "overdue", "decayed",
              "orders_30d", "orders_90d", "orders_last_year_season", "orders_last_year_next30d")
# What is stored per (customer, item) pair; the rest of PAIR_STATS is derived when a candidate
# is scored. Stored pairs are most of a served model's memory, so each is kept small.
PAIR_DAYS = ("days_since_last", "span_days")  # float32
PAIR_COUNTS = ("orders_30d", "orders_90d", "orders_last_year_season", "orders_last_year_next30d")  # uint8
USER_STATS = ("user_orders", "user_days_since_last", "user_order_rate", "user_orders_90d",
              "user_tenure_days")
ITEM_STATS = ("buyers_7d", "buyers_14d", "buyers_30d", "buyers_all", "rebuy_rate",
              "buyers_last_year_season", "buyers_last_year_next30d", "last_year_lift", "price", "trend")
SCORE_FEATURES = ("item_model", "item_model_rank", "item_model_recent", "item_model_recent_rank",
                  "bought", "share_of_orders", "user_overdue")
# A second item-item model: what customers with the same items bought in the same season
# last year (training.ranker's seasonal ridge). NaN where there is no year of history.
SEASON_SCORES = ("season_model", "season_model_rank")
CANDIDATE_FEATURES = SCORE_FEATURES + PAIR_STATS + USER_STATS + ITEM_STATS + SEASON_SCORES
DECAY_HALF_LIFE_DAYS = 60.0
SEASON_DAYS = 100  # "the same season last year": [as_of - 365 d, as_of - 265 d)


def _pair_stats(orders: np.ndarray, decayed: np.ndarray, pair_days: np.ndarray, pair_counts: np.ndarray
                ) -> np.ndarray:
    """:data:`PAIR_STATS` (float32, one row per pair) from the stored per-pair arrays."""
    orders = np.asarray(orders, np.float64)
    days, span = np.asarray(pair_days, np.float64).reshape(-1, 2).T
    # Orders on one day give no interval; NaN rather than 0 keeps "overdue" finite.
    with np.errstate(divide="ignore", invalid="ignore"):
        interval = np.where((orders > 1) & (span > 0), span / (orders - 1), np.nan)
        overdue = days / interval
    return np.column_stack([orders, days, span, interval, overdue, decayed, pair_counts]).astype(np.float32)


@dataclass
class HistoryRows:
    """The pairs of some customers: one row of ``orders`` and ``decayed`` per customer asked
    for, and their :data:`PAIR_DAYS` and :data:`PAIR_COUNTS` in the same (CSR) order."""

    orders: sp.csr_matrix
    decayed: sp.csr_matrix
    pair_days: np.ndarray
    pair_counts: np.ndarray

    def pair_stats(self) -> np.ndarray:
        """:data:`PAIR_STATS` of every pair, in ``orders.data`` order."""
        return _pair_stats(self.orders.data, self.decayed.data, self.pair_days, self.pair_counts)


@dataclass
class PurchaseHistory(HistoryRows):
    """Who bought what before ``as_of``: the :class:`HistoryRows` of every customer, plus
    customer and item statistics, indexed by the two :class:`IdIndex`.

    ``orders`` (distinct orders per pair) and ``decayed`` (the same, each order weighted
    ``0.5 ** (age / 60 days)``) share one sparsity pattern (one ``indices`` array);
    ``pair_days[k]`` and ``pair_counts[k]`` hold the :data:`PAIR_DAYS` and
    :data:`PAIR_COUNTS` of the k-th stored pair, and :meth:`pair_stats` derives all of
    :data:`PAIR_STATS` from them. Values are kept at the precision :class:`PackedHistory`
    stores (whole days, float16 ``decayed``), so a saved model scores exactly as trained.
    """

    as_of: pd.Timestamp
    users: IdIndex
    items: IdIndex
    user_stats: np.ndarray
    item_stats: np.ndarray

    def rows(self, user_rows: np.ndarray) -> HistoryRows:
        user_rows = np.asarray(user_rows, dtype=np.int64)
        ptr = self.orders.indptr
        stored = (np.concatenate([np.arange(ptr[r], ptr[r + 1]) for r in user_rows])
                  if len(user_rows) else np.zeros(0, np.int64))
        return HistoryRows(self.orders[user_rows], self.decayed[user_rows], self.pair_days[stored],
                           self.pair_counts[stored])

    def trending(self) -> np.ndarray:
        """Purchases per item weighted by recency (60-day half-life): the trending list."""
        return np.asarray(self.decayed.sum(axis=0), dtype=np.float64).ravel()

    def pack(self) -> PackedHistory:
        """The history as a service keeps it (:class:`PackedHistory`)."""
        ptr, idx = self.orders.indptr, self.orders.indices
        deltas = np.diff(idx, prepend=0)
        first = ptr[:-1][np.diff(ptr) > 0]
        deltas[first] = idx[first]  # a record's first item column is its own
        columns = (deltas, self.orders.data, self.decayed.data, self.pair_days, self.pair_counts)
        # Every pair's values of each column as bytes, once: a record is slices of them, column
        # by column (a (pairs, k) column is written k values at a time).
        runs = []
        for c, (dtype, k) in zip(columns, _record_layout(len(self.items)), strict=True):
            c = c.astype(dtype).reshape(len(idx), k)
            runs += [(c[:, j].tobytes(), c.itemsize) for j in range(k)]
        blobs = [zlib.compress(b"".join(data[a * size:b * size] for data, size in runs), PACK_LEVEL)
                 for a, b in zip(ptr[:-1].tolist(), ptr[1:].tolist(), strict=True)]
        offsets = np.concatenate([[0], np.cumsum([len(z) for z in blobs])]).astype(np.int64)
        blob = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        return PackedHistory(self.as_of, self.users, self.items, self.user_stats, self.item_stats, offsets,
                             blob)


PACK_LEVEL = 6  # zlib: 4.4 bytes per pair on Online Retail II, about 5 us to decompress a customer


def _record_layout(n_items: int) -> tuple[tuple[type, int], ...]:
    """The columns of a packed record, in order, as (dtype, values per pair): item column
    deltas, orders, decayed, :data:`PAIR_DAYS`, :data:`PAIR_COUNTS`."""
    index = np.uint16 if n_items <= 1 << 16 else np.uint32
    return ((index, 1), (np.uint16, 1), (np.float16, 1), (np.uint16, len(PAIR_DAYS)),
            (np.uint8, len(PAIR_COUNTS)))


@dataclass
class PackedHistory:
    """A :class:`PurchaseHistory` as the service keeps it: one zlib record per customer.

    A record holds the customer's item columns (delta-coded), order counts (uint16),
    ``decayed`` (float16), :data:`PAIR_DAYS` (whole days, uint16) and :data:`PAIR_COUNTS`
    (uint8), column by column (:func:`_record_layout`), which compresses to about 4.4 bytes
    per (customer, item) pair on Online Retail II, where the unpacked arrays take 24.
    :meth:`rows` unpacks the customers a request asks for (about 5 us to decompress one,
    0.14 ms with its matrices); :meth:`items_of` and :meth:`orders_of` unpack less. The
    arrays in :attr:`MAPPED` are saved apart and memory-mapped, so a service's workers
    share one copy.
    """

    as_of: pd.Timestamp
    users: IdIndex
    items: IdIndex
    user_stats: np.ndarray
    item_stats: np.ndarray
    pair_offsets: np.ndarray  # int64, len(users) + 1: customer r's record is pair_blob[o[r]:o[r + 1]]
    pair_blob: np.ndarray  # uint8

    # The arrays that grow with customers: saved apart, so that they can be mapped.
    MAPPED: ClassVar[tuple[str, ...]] = ("user_ids", "user_stats", "pair_offsets", "pair_blob")

    def items_of(self, row: int) -> np.ndarray:
        """Item columns the customer at ``row`` bought (ascending)."""
        return self._columns(row, 1)[0]

    def orders_of(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Item columns the customer at ``row`` bought and their distinct orders of each."""
        items, orders = self._columns(row, 2)
        return items, orders.astype(np.float32)

    def _columns(self, row: int, first: int | None = None) -> list[np.ndarray]:
        """The customer's record unpacked into its columns (the ``first`` ones only, if
        given): item columns (int32), then raw orders, decayed, days and counts."""
        layout = _record_layout(len(self.items))
        raw = zlib.decompress(self.pair_blob[int(self.pair_offsets[row]):int(self.pair_offsets[row + 1])])
        n = len(raw) // sum(np.dtype(dtype).itemsize * k for dtype, k in layout)  # pairs
        columns, at = [], 0
        for dtype, k in layout[:first]:
            values = np.frombuffer(raw, dtype, k * n, at)
            at += values.nbytes
            columns.append(values if k == 1 else values.reshape(k, n).T)
        columns[0] = np.cumsum(columns[0], dtype=np.int32)  # deltas back to item columns
        return columns

    def rows(self, user_rows: np.ndarray) -> HistoryRows:
        parts = [self._columns(r) for r in np.asarray(user_rows, dtype=np.int64).tolist()]
        if parts:
            # One customer (a request's) is used as unpacked, without copies.
            indices, orders, decayed, pair_days, pair_counts = (
                c[0] if len(c) == 1 else np.concatenate(c) for c in zip(*parts, strict=True))
        else:
            indices = np.zeros(0, np.int32)
            orders = decayed = np.zeros(0, np.float16)
            pair_days = np.zeros((0, len(PAIR_DAYS)), np.uint16)
            pair_counts = np.zeros((0, len(PAIR_COUNTS)), np.uint8)
        indptr = np.zeros(len(parts) + 1, np.int32)
        np.cumsum([len(p[0]) for p in parts], out=indptr[1:])
        shape = (len(parts), len(self.items))
        return HistoryRows(sp.csr_matrix((orders.astype(np.float32), indices, indptr), shape=shape),
                           sp.csr_matrix((decayed.astype(np.float32), indices, indptr), shape=shape),
                           pair_days.astype(np.float32), pair_counts)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez`` / ``np.save`` (no pickle); :meth:`from_arrays` is the inverse."""
        return {"as_of": np.array(str(self.as_of)), "user_ids": self.users.ids, "item_ids": self.items.ids,
                "user_stats": self.user_stats, "item_stats": self.item_stats,
                "pair_offsets": self.pair_offsets, "pair_blob": self.pair_blob}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> PackedHistory:
        return cls(pd.Timestamp(str(a["as_of"])), IdIndex(a["user_ids"]), IdIndex(a["item_ids"]),
                   a["user_stats"], a["item_stats"], a["pair_offsets"], a["pair_blob"])


DAY_NS = 86_400 * 10**9


def purchase_history(orders: pd.DataFrame | OrderCodes, as_of: pd.Timestamp) -> PurchaseHistory:
    """Summarise purchases strictly before ``as_of``.

    Pairs whose purchases were all returned (net quantity <= 0) are left out, as in
    :func:`features.interactions.build_interactions`, so its matrix and ``orders`` agree.
    ``orders`` may be the lines' :class:`features.order_codes.OrderCodes`, built once for
    histories at several cutoffs.
    """
    log = orders if isinstance(orders, OrderCodes) else OrderCodes.of(orders)
    t = pd.Timestamp(as_of).as_unit("ns").value
    past = log.timestamp < t
    sale = past & ~log.is_return
    if not sale.any():
        raise ValueError(f"purchase_history: no purchases before {as_of.date()}")
    c, i, o, ts = log.customer[sale], log.item[sale], log.order[sale], log.timestamp[sale]
    per = starts(c, i, o)  # one row per (customer, item, order), at its first line's time
    per_c, per_i, per_ts = c[per], i[per], np.minimum.reduceat(ts, per)
    age = (t - per_ts) / DAY_NS
    pair = starts(per_c, per_i)  # the (customer, item) runs of those rows

    def total(x: np.ndarray) -> np.ndarray:
        return np.add.reduceat(x.astype(np.int64) if x.dtype == bool else x, pair)

    n_items = len(log.item_ids)
    pair_c, pair_i = per_c[pair], per_i[pair]
    keys = pair_c.astype(np.int64) * n_items + pair_i
    # Net quantity of each pair over all lines before as_of, returns included.
    past_c, past_i = log.customer[past], log.item[past]
    runs = starts(past_c, past_i)
    net = np.add.reduceat(log.quantity[past], runs)[
        np.searchsorted(past_c[runs].astype(np.int64) * n_items + past_i[runs], keys)]
    keep = net > 0
    pair_c, pair_i = pair_c[keep], pair_i[keep]
    orders_n = np.diff(np.append(pair, len(per)))[keep]
    last = np.maximum.reduceat(per_ts, pair)[keep]
    first = np.minimum.reduceat(per_ts, pair)[keep]
    decayed = total(0.5 ** (age / DECAY_HALF_LIFE_DAYS))[keep]
    pair_counts = np.column_stack([total(age < 30), total(age < 90),
                                   total((age >= 365 - SEASON_DAYS) & (age < 365)),
                                   total((age >= 335) & (age < 365))])[keep]
    days_since_last, span_days = (t - last) / DAY_NS, (last - first) / DAY_NS

    user_codes, rows = np.unique(pair_c, return_inverse=True)
    item_codes, cols = np.unique(pair_i, return_inverse=True)
    users, items = IdIndex(log.customer_ids[user_codes]), IdIndex(log.item_ids[item_codes])
    shape = (len(users), len(items))
    # At the precision PackedHistory stores (uint16 counts, float16 decayed, whole days).
    counts = sp.csr_matrix((np.minimum(orders_n, 65535).astype(np.float32), (rows, cols)), shape=shape)
    decayed = np.minimum(decayed, 65504).astype(np.float16).astype(np.float32)
    decayed = sp.csr_matrix((decayed, counts.indices, counts.indptr), shape=shape)

    customer_runs = starts(c)
    at = np.searchsorted(c[customer_runs], user_codes)
    tenure = (t - np.minimum.reduceat(ts, customer_runs)[at]) / DAY_NS
    by_order = log.by_customer_order[sale[log.by_customer_order]]
    recent = by_order[log.timestamp[by_order] >= t - 90 * DAY_NS]
    n_customers = len(log.customer_ids)
    u_orders = distinct_per(log.customer[by_order], log.order[by_order], n_customers)[user_codes]
    user_stats = np.column_stack([
        u_orders, (t - np.maximum.reduceat(ts, customer_runs)[at]) / DAY_NS,
        u_orders / np.maximum(tenure, 30),
        distinct_per(log.customer[recent], log.order[recent], n_customers)[user_codes], tenure,
    ]).astype(np.float32)

    sale_age = (t - ts) / DAY_NS
    bought = per[pair]  # where each (customer, item) run of the sales lines begins

    def buyers(mask: np.ndarray | None = None) -> np.ndarray:
        who = bought if mask is None else bought[np.logical_or.reduceat(mask, bought)]
        return np.bincount(i[who], minlength=n_items)[item_codes].astype(float)

    season = buyers((sale_age >= 365 - SEASON_DAYS) & (sale_age < 365))
    before_season = buyers((sale_age >= 365) & (sale_age < 365 + SEASON_DAYS))
    all_buyers = buyers()
    b30 = buyers(sale_age < 30)
    rebuy = (np.bincount(pair_i, weights=orders_n > 1, minlength=n_items)[item_codes]
             / np.bincount(pair_i, minlength=n_items)[item_codes])
    item_stats = np.column_stack([
        buyers(sale_age < 7), buyers(sale_age < 14), b30, all_buyers, rebuy, season,
        buyers((sale_age >= 335) & (sale_age < 365)), (season + 1) / (before_season + 1),
        _median_price(log, sale)[item_codes], b30 / (all_buyers + 1),
    ]).astype(np.float32)
    pair_days = np.column_stack([days_since_last, span_days]).round().clip(0, 65535).astype(np.float32)
    # Orders of one item in 90 days or one season: 255 is beyond any shop's re-order rate.
    pair_counts = np.minimum(pair_counts, 255).astype(np.uint8)
    return PurchaseHistory(counts, decayed, pair_days, pair_counts, as_of, users, items, user_stats,
                           item_stats)


def _median_price(log: OrderCodes, lines: np.ndarray) -> np.ndarray:
    """Median unit price of each item's ``lines`` (a mask), NaN for items without one."""
    sel = log.by_item_price[lines[log.by_item_price]]
    sel = sel[~np.isnan(log.unit_price[sel])]
    item, price = log.item[sel], log.unit_price[sel]
    runs = starts(item)
    n = np.diff(np.append(runs, len(sel)))
    median = np.full(len(log.item_ids), np.nan)
    median[item[runs]] = (price[runs + (n - 1) // 2] + price[runs + n // 2]) / 2
    return median


CANDIDATE_ROWS = 1_024  # customers whose candidates are built at once


def candidate_features(history: PurchaseHistory | PackedHistory, item_weights: ItemWeights,
                       user_rows: np.ndarray, n_new: int = 30, include_purchased: bool = True,
                       season_weights: ItemWeights | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranker candidates and their :data:`CANDIDATE_FEATURES` for a batch of customers.

    Parameters
    ----------
    history : PurchaseHistory or PackedHistory
    item_weights : ndarray or csr_matrix, shape (n_items, n_items)
        An item-item model (EASE's ``B``): a customer's scores are their row times it,
        once with bought-or-not rows (``item_model``) and once with recency-decayed rows
        (``item_model_recent``). Ranks are among all items, 1 = best.
    user_rows : ndarray of int
        Rows of ``history.users``.
    n_new : int
        Items the customer never bought, best ``item_model`` score first.
    include_purchased : bool
        Whether the customer's own items are candidates too.
    season_weights : ndarray or csr_matrix, shape (n_items, n_items), optional
        The seasonal item-item model: ``season_model`` is the customer's bought-or-not row
        times it, ranked like ``item_model``. Without it both are NaN (unknown to the ranker).

    Returns
    -------
    batch_pos : ndarray of int
        Position in ``user_rows`` of each candidate's customer (candidates are grouped by
        customer, in ``user_rows`` order).
    items : ndarray of int
        Item column of each candidate.
    X : ndarray of float32, shape (n_candidates, len(CANDIDATE_FEATURES))

    Customers are taken :data:`CANDIDATE_ROWS` at a time: each batch holds a few dense
    scores of every item per customer.
    """
    user_rows = np.asarray(user_rows, dtype=np.int64)
    parts = [_candidate_features(history, item_weights, user_rows[i:i + CANDIDATE_ROWS], n_new,
                                 include_purchased, season_weights)
             for i in range(0, max(len(user_rows), 1), CANDIDATE_ROWS)]
    if len(parts) == 1:
        return parts[0]
    offsets = np.arange(len(parts)) * CANDIDATE_ROWS
    return (np.concatenate([pos + o for (pos, _, _), o in zip(parts, offsets, strict=True)]),
            np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))



def _candidate_features(history: PurchaseHistory | PackedHistory, item_weights: ItemWeights,
                        user_rows: np.ndarray, n_new: int, include_purchased: bool,
                        season_weights: ItemWeights | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pairs = history.rows(user_rows)
    own = pairs.orders
    binary = own.copy()
    binary.data[:] = 1.0
    # Sparse item weights (a large catalogue) give sparse score rows, ranked as stored.
    score = _product(binary, item_weights)
    recent = _product(pairs.decayed, item_weights)
    own_pos = row_of(own)
    n_new = min(n_new, own.shape[1])
    if sp.issparse(score):
        new_items = top_k_split(np.zeros(own.shape[1], np.float32), score, own, n_new)[0]
        new_ok = new_items >= 0
    else:
        masked = score.copy()
        masked[own_pos, own.indices] = -np.inf
        new_items = (np.argpartition(-masked, n_new - 1, axis=1)[:, :n_new] if n_new
                     else np.zeros((len(user_rows), 0), np.int64))
        new_ok = np.isfinite(np.take_along_axis(masked, new_items, axis=1))
    new_pos = np.repeat(np.arange(len(user_rows)), n_new).reshape(new_items.shape)[new_ok]
    new_items = new_items[new_ok]

    if include_purchased:
        pos = np.concatenate([own_pos, new_pos])
        items = np.concatenate([own.indices, new_items])
        # Pair stats of the customer's own items, in CSR order; NaN for new items.
        ps = np.full((len(items), len(PAIR_STATS)), np.nan, np.float32)
        ps[: len(own.indices)] = pairs.pair_stats()
        bought = np.r_[np.ones(len(own_pos)), np.zeros(len(new_pos))]
    else:
        pos, items = new_pos, new_items
        ps = np.full((len(items), len(PAIR_STATS)), np.nan, np.float32)
        bought = np.zeros(len(items))
    order = np.argsort(pos, kind="stable")
    pos, items, ps, bought = pos[order], items[order], ps[order], bought[order]
    rank, recent_rank = _rank(score, pos, items), _rank(recent, pos, items)
    us = history.user_stats[user_rows[pos]]
    user_orders, days_since, rate = us[:, 0], us[:, 1], us[:, 2]
    X = np.column_stack([
        _at(score, pos, items), rank, _at(recent, pos, items), recent_rank, bought,
        ps[:, 0] / user_orders, days_since * rate, ps, us, history.item_stats[items],
        *_season_scores(binary, season_weights, pos, items),
    ]).astype(np.float32)
    return pos, items, X


def _season_scores(binary: sp.csr_matrix, season_weights: ItemWeights | None, pos: np.ndarray,
                   items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if season_weights is None:
        return np.full(len(pos), np.nan, np.float32), np.full(len(pos), np.nan, np.float32)
    season = _product(binary, season_weights)
    return _at(season, pos, items), _rank(season, pos, items)


def _product(rows: sp.csr_matrix, weights: ItemWeights) -> np.ndarray | sp.csr_matrix:
    """``rows @ weights``: CSR when the weights are sparse, a dense array when they are dense."""
    return (rows @ weights).tocsr() if sp.issparse(weights) else times(rows, weights)


def _at(scores: np.ndarray | sp.csr_matrix, pos: np.ndarray, items: np.ndarray) -> np.ndarray:
    return gather(scores, pos, items) if sp.issparse(scores) else scores[pos, items]


def _rank(scores: np.ndarray | sp.csr_matrix, pos: np.ndarray, items: np.ndarray) -> np.ndarray:
    return ranks(scores, pos, items) if sp.issparse(scores) else _ranks(scores, pos, items)


def season_transitions(orders: pd.DataFrame, as_of: pd.Timestamp, items: IdIndex, window_days: int = 92
                       ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """What customers bought before a year before ``as_of`` and what they then bought in
    the ``window_days`` after that date: bought-or-not matrices ``(X, Y)``, one row per
    customer with purchases before it, columns ``items`` (items outside it are left out).

    A model from ``X`` to ``Y`` learns the season that starts at ``as_of``, a year earlier.
    """
    start = as_of - pd.Timedelta(days=365)
    sales = orders.loc[~orders[s.IS_RETURN] & (orders[s.TIMESTAMP] < start + pd.Timedelta(days=window_days)),
                       [s.CUSTOMER_ID, s.ITEM_ID, s.TIMESTAMP]]
    before = sales[s.TIMESTAMP] < start
    users = IdIndex(np.unique(sales.loc[before, s.CUSTOMER_ID].to_numpy(str)))

    def matrix(part: pd.DataFrame) -> sp.csr_matrix:
        rows, cols = users.indices(part[s.CUSTOMER_ID]), items.indices(part[s.ITEM_ID])
        ok = (rows >= 0) & (cols >= 0)
        return binary_matrix(rows[ok], cols[ok], (len(users), len(items)))

    return matrix(sales[before]), matrix(sales[~before])


def recent_scores(history: PurchaseHistory | PackedHistory, item_weights: ItemWeights, row: int
                  ) -> np.ndarray:
    """One customer's ``item_model_recent`` score of every item (float32, shape (n_items,)):
    their recency-decayed row times the item-item model, as :func:`candidate_features` has it."""
    return times(history.rows(np.array([row])).decayed, item_weights).ravel()


_RECENT = CANDIDATE_FEATURES.index("item_model_recent")
assert CANDIDATE_FEATURES[_RECENT + 1] == "item_model_recent_rank"


def fold_in_recent(items: np.ndarray, X: np.ndarray, recent: np.ndarray, item_weights: ItemWeights,
                   interest: dict[int, float]) -> np.ndarray:
    """One customer's candidate features with interest since ``history.as_of`` (the
    service's live views and carts: item column -> weight) folded into their
    recency-decayed row, without retraining.

    A linear item-item model takes a new row exactly: the row's scores grow by
    ``weights @ item_weights[columns]``. Only ``item_model_recent`` and its rank change;
    the candidates are chosen on the all-time scores, so ``items`` and the other columns of
    ``X`` (:func:`candidate_features` of this one customer) stand. ``recent`` is the
    customer's :func:`recent_scores`.
    """
    cols = np.fromiter(interest, dtype=np.int64, count=len(interest))
    weights = np.fromiter(interest.values(), dtype=np.float32, count=len(interest))
    recent = recent + weighted_rows(cols, weights, item_weights)
    X = X.copy()
    X[:, _RECENT] = recent[items]
    X[:, _RECENT + 1] = _ranks(recent[None, :], np.zeros(len(items), np.int64), items)
    return X


def _ranks(scores: np.ndarray, pos: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Rank of item ``items[k]`` among all items of row ``pos[k]`` (``pos`` ascending), 1 =
    highest score, equal scores in column order (as a stable sort of the row orders them).

    A sorted copy of each row and a binary search per candidate: about half the time of
    ranking every item of the row, which was a sixth of a cold "for you" list.
    """
    ranked = np.sort(scores, axis=1)
    values = scores[pos, items]
    ranks = np.empty(len(pos), np.float32)
    bounds = np.searchsorted(pos, np.arange(len(scores) + 1))
    for r in np.flatnonzero(np.diff(bounds)):
        a, b = bounds[r], bounds[r + 1]
        below = np.searchsorted(ranked[r], values[a:b], "left")
        above = np.searchsorted(ranked[r], values[a:b], "right")
        ranks[a:b] = scores.shape[1] - above + 1  # after every higher score
        for k in np.flatnonzero(above - below > 1):  # and after equal scores in earlier columns
            ranks[a + k] += np.count_nonzero(scores[r, : items[a + k]] == values[a + k])
    return ranks
