"""Purchase history as of a cutoff, and the candidate features of the "for you" ranker.

:func:`purchase_history` summarises, for every (customer, item) pair bought before
``as_of``, how often, how recently and how regularly it was bought, plus customer and item
statistics. :func:`candidate_features` turns a batch of customers into ranker candidates
(their own items and the best new items of an item-item model) with one feature row each.
Training builds its ranker data with it and the service scores requests with it, so the two
can never disagree about a feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import schema as s
from features.interactions import IdIndex

RANKER_FEATURE_SET = "ranker_v1"
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
CANDIDATE_FEATURES = SCORE_FEATURES + PAIR_STATS + USER_STATS + ITEM_STATS
DECAY_HALF_LIFE_DAYS = 60.0
SEASON_DAYS = 100  # "the same season last year": [as_of - 365 d, as_of - 265 d)


@dataclass
class PurchaseHistory:
    """Who bought what before ``as_of``, as arrays indexed by the two :class:`IdIndex`.

    ``orders`` (distinct orders per pair) and ``decayed`` (the same, each order weighted
    ``0.5 ** (age / 60 days)``) share one sparsity pattern (one ``indices`` array);
    ``pair_days[k]`` and ``pair_counts[k]`` hold the :data:`PAIR_DAYS` and
    :data:`PAIR_COUNTS` of the k-th stored pair, and :meth:`pair_stats` derives all of
    :data:`PAIR_STATS` from them: 24 bytes per pair instead of 52.
    """

    as_of: pd.Timestamp
    users: IdIndex
    items: IdIndex
    orders: sp.csr_matrix
    decayed: sp.csr_matrix
    pair_days: np.ndarray
    pair_counts: np.ndarray
    user_stats: np.ndarray
    item_stats: np.ndarray

    # The arrays that grow with customers x items: saved apart, so that they can be mapped.
    MAPPED: ClassVar[tuple[str, ...]] = ("indptr", "indices", "orders", "decayed", "pair_days", "pair_counts")

    def pair_stats(self, stored: np.ndarray | None = None) -> np.ndarray:
        """:data:`PAIR_STATS` (float32, one row per pair) of the stored pairs ``stored``
        (positions in ``orders.data``; all pairs by default)."""
        stored = slice(None) if stored is None else stored
        orders = self.orders.data[stored].astype(np.float64)
        days, span = self.pair_days[stored].astype(np.float64).T
        # Orders on one day give no interval; NaN rather than 0 keeps "overdue" finite.
        with np.errstate(divide="ignore", invalid="ignore"):
            interval = np.where((orders > 1) & (span > 0), span / (orders - 1), np.nan)
            overdue = days / interval
        return np.column_stack([orders, days, span, interval, overdue, self.decayed.data[stored],
                                self.pair_counts[stored]]).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez`` (no pickle); :meth:`from_arrays` is the inverse."""
        return {"as_of": np.array(str(self.as_of)), "user_ids": self.users.ids, "item_ids": self.items.ids,
                "indptr": self.orders.indptr, "indices": self.orders.indices, "orders": self.orders.data,
                "decayed": self.decayed.data, "pair_days": self.pair_days, "pair_counts": self.pair_counts,
                "user_stats": self.user_stats, "item_stats": self.item_stats}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> PurchaseHistory:
        users, items = IdIndex(a["user_ids"]), IdIndex(a["item_ids"])
        shape = (len(users), len(items))
        return cls(pd.Timestamp(str(a["as_of"])), users, items,
                   sp.csr_matrix((a["orders"], a["indices"], a["indptr"]), shape=shape),
                   sp.csr_matrix((a["decayed"], a["indices"], a["indptr"]), shape=shape),
                   a["pair_days"], a["pair_counts"], a["user_stats"], a["item_stats"])


def purchase_history(orders: pd.DataFrame, as_of: pd.Timestamp) -> PurchaseHistory:
    """Summarise purchases strictly before ``as_of``.

    Pairs whose purchases were all returned (net quantity <= 0) are left out, as in
    :func:`features.interactions.build_interactions`, so its matrix and ``orders`` agree.
    """
    day = pd.Timedelta(days=1)
    past = orders[orders[s.TIMESTAMP] < as_of]
    sales = past[~past[s.IS_RETURN]]
    if sales.empty:
        raise ValueError(f"purchase_history: no purchases before {as_of.date()}")
    per = sales.groupby([s.CUSTOMER_ID, s.ITEM_ID, s.ORDER_ID], as_index=False)[s.TIMESTAMP].min()
    age = ((as_of - per[s.TIMESTAMP]) / day).to_numpy()
    per["decayed"] = 0.5 ** (age / DECAY_HALF_LIFE_DAYS)
    per["orders_30d"] = age < 30
    per["orders_90d"] = age < 90
    per["season"] = (age >= 365 - SEASON_DAYS) & (age < 365)
    per["next30"] = (age >= 335) & (age < 365)
    g = per.groupby([s.CUSTOMER_ID, s.ITEM_ID])
    pairs = g.agg(orders=(s.ORDER_ID, "size"), last=(s.TIMESTAMP, "max"), first=(s.TIMESTAMP, "min"),
                  decayed=("decayed", "sum"), orders_30d=("orders_30d", "sum"),
                  orders_90d=("orders_90d", "sum"), orders_last_year_season=("season", "sum"),
                  orders_last_year_next30d=("next30", "sum"))
    net = past.groupby([s.CUSTOMER_ID, s.ITEM_ID])[s.QUANTITY].sum()
    pairs = pairs[net.reindex(pairs.index).to_numpy() > 0].reset_index()
    pairs["days_since_last"] = (as_of - pairs["last"]) / day
    pairs["span_days"] = (pairs["last"] - pairs["first"]) / day

    users = IdIndex(np.sort(pairs[s.CUSTOMER_ID].unique()))
    items = IdIndex(np.sort(pairs[s.ITEM_ID].unique()))
    rows, cols = users.indices(pairs[s.CUSTOMER_ID]), items.indices(pairs[s.ITEM_ID])
    order = np.lexsort((cols, rows))  # CSR order, so pair_stats lines up with .data
    pairs = pairs.iloc[order].reset_index(drop=True)
    rows, cols = rows[order], cols[order]
    shape = (len(users), len(items))
    counts = sp.csr_matrix((pairs["orders"].to_numpy(np.float32), (rows, cols)), shape=shape)
    decayed = sp.csr_matrix((pairs["decayed"].to_numpy(np.float32), counts.indices, counts.indptr),
                            shape=shape)

    u_sales = sales[sales[s.CUSTOMER_ID].isin(set(users.ids))]
    ug = u_sales.groupby(s.CUSTOMER_ID)
    tenure = ((as_of - ug[s.TIMESTAMP].min()) / day).reindex(users.ids)
    u_orders = ug[s.ORDER_ID].nunique().reindex(users.ids)
    recent = u_sales[u_sales[s.TIMESTAMP] >= as_of - pd.Timedelta(days=90)]
    user_stats = np.column_stack([
        u_orders, ((as_of - ug[s.TIMESTAMP].max()) / day).reindex(users.ids),
        u_orders / tenure.clip(lower=30), recent.groupby(s.CUSTOMER_ID)[s.ORDER_ID].nunique()
        .reindex(users.ids, fill_value=0), tenure,
    ]).astype(np.float32)

    sale_age = ((as_of - sales[s.TIMESTAMP]) / day).to_numpy()

    def buyers(mask: np.ndarray) -> np.ndarray:
        b = sales[mask].groupby(s.ITEM_ID)[s.CUSTOMER_ID].nunique()
        return b.reindex(items.ids, fill_value=0).to_numpy(float)

    season = buyers((sale_age >= 365 - SEASON_DAYS) & (sale_age < 365))
    before_season = buyers((sale_age >= 365) & (sale_age < 365 + SEASON_DAYS))
    all_buyers = buyers(np.ones(len(sales), bool))
    b30 = buyers(sale_age < 30)
    rebuy = (pairs.assign(again=pairs["orders"] > 1).groupby(s.ITEM_ID)["again"].mean()
             .reindex(items.ids, fill_value=0).to_numpy(float))
    item_stats = np.column_stack([
        buyers(sale_age < 7), buyers(sale_age < 14), b30, all_buyers, rebuy, season,
        buyers((sale_age >= 335) & (sale_age < 365)), (season + 1) / (before_season + 1),
        sales.groupby(s.ITEM_ID)[s.UNIT_PRICE].median().reindex(items.ids).to_numpy(float),
        b30 / (all_buyers + 1),
    ]).astype(np.float32)
    pair_days = pairs[list(PAIR_DAYS)].to_numpy(np.float32)
    # Orders of one item in 90 days or one season: 255 is beyond any shop's re-order rate.
    pair_counts = pairs[list(PAIR_COUNTS)].clip(upper=255).to_numpy(np.uint8)
    return PurchaseHistory(as_of, users, items, counts, decayed, pair_days, pair_counts, user_stats,
                           item_stats)


def candidate_features(history: PurchaseHistory, item_weights: np.ndarray, user_rows: np.ndarray,
                       n_new: int = 30, include_purchased: bool = True,
                       recent_extra: sp.csr_matrix | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranker candidates and their :data:`CANDIDATE_FEATURES` for a batch of customers.

    Parameters
    ----------
    history : PurchaseHistory
    item_weights : ndarray, shape (n_items, n_items)
        An item-item model (EASE's ``B``): a customer's scores are their row times it,
        once with bought-or-not rows (``item_model``) and once with recency-decayed rows
        (``item_model_recent``). Ranks are among all items, 1 = best.
    user_rows : ndarray of int
        Rows of ``history.users``.
    n_new : int
        Items the customer never bought, best ``item_model`` score first.
    include_purchased : bool
        Whether the customer's own items are candidates too.
    recent_extra : sparse matrix, shape (len(user_rows), n_items), optional
        Interest since ``history.as_of`` (the service's live views and carts), added to the
        recency-decayed rows before ``item_model_recent`` is computed: folding the customer
        in without retraining, which a linear item-item model allows exactly.

    Returns
    -------
    batch_pos : ndarray of int
        Position in ``user_rows`` of each candidate's customer (candidates are grouped by
        customer, in ``user_rows`` order).
    items : ndarray of int
        Item column of each candidate.
    X : ndarray of float32, shape (n_candidates, len(CANDIDATE_FEATURES))
    """
    user_rows = np.asarray(user_rows, dtype=np.int64)
    own = history.orders[user_rows]
    binary = own.copy()
    binary.data[:] = 1.0
    score = np.asarray(binary @ item_weights)
    decayed = history.decayed[user_rows]
    if recent_extra is not None:
        decayed = decayed + recent_extra
    recent = np.asarray(decayed @ item_weights)
    rank = _ranks(score)
    recent_rank = _ranks(recent)
    own_pos = np.repeat(np.arange(len(user_rows)), np.diff(own.indptr))
    masked = score.copy()
    masked[own_pos, own.indices] = -np.inf
    n_new = min(n_new, score.shape[1])
    new_items = (np.argpartition(-masked, n_new - 1, axis=1)[:, :n_new] if n_new
                 else np.zeros((len(user_rows), 0), np.int64))
    new_ok = np.isfinite(np.take_along_axis(masked, new_items, axis=1))
    new_pos = np.repeat(np.arange(len(user_rows)), n_new).reshape(new_items.shape)[new_ok]
    new_items = new_items[new_ok]

    if include_purchased:
        pos = np.concatenate([own_pos, new_pos])
        items = np.concatenate([own.indices, new_items])
        # Pair stats of the customer's own items, in CSR order; NaN for new items.
        ptr = history.orders.indptr
        stored = (np.concatenate([np.arange(ptr[r], ptr[r + 1]) for r in user_rows])
                  if len(own.indices) else np.zeros(0, np.int64))
        ps = np.full((len(items), len(PAIR_STATS)), np.nan, np.float32)
        ps[: len(own.indices)] = history.pair_stats(stored)
        bought = np.r_[np.ones(len(own_pos)), np.zeros(len(new_pos))]
    else:
        pos, items = new_pos, new_items
        ps = np.full((len(items), len(PAIR_STATS)), np.nan, np.float32)
        bought = np.zeros(len(items))
    order = np.argsort(pos, kind="stable")
    pos, items, ps, bought = pos[order], items[order], ps[order], bought[order]
    us = history.user_stats[user_rows[pos]]
    user_orders, days_since, rate = us[:, 0], us[:, 1], us[:, 2]
    X = np.column_stack([
        score[pos, items], rank[pos, items], recent[pos, items], recent_rank[pos, items], bought,
        ps[:, 0] / user_orders, days_since * rate, ps, us, history.item_stats[items],
    ]).astype(np.float32)
    return pos, items, X


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Rank of each item in its row, 1 = highest score."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    positions = np.broadcast_to(np.arange(1, scores.shape[1] + 1), scores.shape)
    np.put_along_axis(ranks, order, positions, axis=1)
    return ranks.astype(np.float32)
