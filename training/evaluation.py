"""The recommender evaluation harness: held-out time, two tasks, k = 10 and 20, user groups.

Everything is measured on purchases in a window after the training cutoff, by customers
seen before it:

- **all**: every item bought in the window counts (re-orders included); models may
  recommend what the customer bought before;
- **discovery**: only items the customer never bought before count, among customers who
  bought at least one; models must leave out what the customer bought;
- **buy_again**: only re-orders count (items bought before and again in the window), among
  customers who re-ordered; models rank only what the customer bought before.

Groups by orders before the cutoff: ``light`` (1-4) and ``heavy`` (5 or more). Customers
first seen in the window (``new``) cannot be personalised: every model falls back to
popularity for them, so they are reported once, with that fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import schema as s
from features.interactions import IdIndex, purchases_in_window
from features.sparse_rows import row_of, top_per_row
from training.metrics import catalogue_coverage, ranking_report
from training.recommenders import SCORE_ROWS, Recommender, is_large, top_k

KS = (10, 20)
CURVE_KS = (1, 5, 10, 20)  # NDCG by k for the plot
TASKS = ("all", "discovery", "buy_again")
METRIC_NAMES = ("precision", "recall", "ndcg", "map", "hit_rate")
HEAVY_FROM_ORDERS = 5


@dataclass
class TestWindow:
    """Who bought what in the window, split by task and user group."""

    users: list[str]  # customers seen before, who bought in the window
    rows: np.ndarray  # their rows in the training IdIndex
    truth: dict[str, dict[str, set[str]]]  # task -> customer -> items
    group: dict[str, str]  # customer -> light | heavy
    new_truth: dict[str, set[str]]  # customers first seen in the window -> items
    sampled_from: int = 0  # known customers who bought in the window (more than users when sampled)


def seeded_sample(values: np.ndarray, n: int) -> np.ndarray:
    """``n`` of ``values``, sorted, drawn with seed 0: the same sample on every call, so that
    every model of a report is measured on it."""
    return np.sort(np.random.default_rng(0).choice(values, n, replace=False))


def heldout_window(orders: pd.DataFrame, users: IdIndex, as_of: pd.Timestamp,
                   end: pd.Timestamp | None = None, max_customers: int | None = None) -> TestWindow:
    """The test set of purchases in ``[as_of, end)`` (to the end of the data by default).

    With ``max_customers``, a window with more known customers keeps a seeded sample of that
    many (every model is then measured on the same sample; at 50,000 customers the standard
    error of an NDCG@10 is about 0.001)."""
    window = purchases_in_window(orders, as_of, end)
    known = sorted(c for c in window if c in users)
    n_known = len(known)
    if max_customers is not None and n_known > max_customers:
        known = seeded_sample(np.asarray(known, dtype=object), max_customers).tolist()
        orders = orders[orders[s.CUSTOMER_ID].isin(set(known))]
    before = purchases_in_window(orders, orders[s.TIMESTAMP].min(), as_of)
    discovery = {c: window[c] - before.get(c, set()) for c in known}
    past = orders[(orders[s.TIMESTAMP] < as_of) & ~orders[s.IS_RETURN]]
    n_orders = past.groupby(s.CUSTOMER_ID)[s.ORDER_ID].nunique()
    return TestWindow(
        users=known, rows=users.indices(known),
        truth={"all": {c: window[c] for c in known},
               "discovery": {c: v for c, v in discovery.items() if v},
               "buy_again": {c: window[c] & before[c] for c in known if window[c] & before.get(c, set())}},
        group={c: "heavy" if n_orders.get(c, 0) >= HEAVY_FROM_ORDERS else "light" for c in known},
        new_truth={c: v for c, v in window.items() if c not in users},
        sampled_from=n_known,
    )


Recommend = Callable[[np.ndarray, int, str], np.ndarray]
"""``(rows, k, task) -> item columns (rows x k, -1 pads)``; ``task`` is one of :data:`TASKS`."""


def matrix_recommender(model: Recommender, matrix: sp.csr_matrix) -> Recommend:
    """Adapt a :class:`~training.recommenders.Recommender` fitted on ``matrix`` to :func:`evaluate`:
    discovery leaves out what the customer bought, buy again ranks only their own items."""
    def recommend(rows: np.ndarray, k: int, task: str) -> np.ndarray:
        if task != "buy_again":
            return model.recommend(rows, matrix, k, filter_purchased=task == "discovery")[0]
        # Buy it again: the model's order among the customer's own items only.
        own = matrix[rows]
        own.sort_indices()
        pos = row_of(own)
        values = model.pair_scores(rows, matrix, pos, own.indices)
        if is_large(matrix):  # no dense row per customer: the best of each row's own entries
            own = sp.csr_matrix((values.astype(np.float32), own.indices, own.indptr), shape=own.shape)
            return top_per_row(own, k)[0]
        scores = np.full((len(rows), matrix.shape[1]), -np.inf, np.float32)
        scores[pos, own.indices] = values
        ids, values = top_k(scores, k)
        ids[~np.isfinite(values)] = -1
        return ids
    return recommend


def one_pass(recommend_tasks: Callable[[np.ndarray, int], dict[str, np.ndarray]]) -> Recommend:
    """Adapt a model that ranks every task's lists at once (``(rows, k) -> {task: columns}``,
    as :meth:`training.ranker.BlendedRecommender.recommend_tasks`) to :func:`evaluate`, which
    asks once per task: the lists of the last ``(rows, k)`` asked for are kept."""
    last: dict[tuple[bytes, int], dict[str, np.ndarray]] = {}

    def recommend(rows: np.ndarray, k: int, task: str) -> np.ndarray:
        key = (np.asarray(rows).tobytes(), k)
        if key not in last:
            last.clear()
            last[key] = recommend_tasks(rows, k)
        return last[key][task]
    return recommend


def ranked_lists(recommend: Recommend, test: TestWindow, items: IdIndex, tasks: tuple[str, ...], k: int
                 ) -> dict[str, dict[str, list[str]]]:
    """Each task's top ``k`` item ids per customer of ``test``, asked for
    :data:`~training.recommenders.SCORE_ROWS` customers at a time (dense scores of every
    customer at once outgrow memory on a large shop), every task of a batch in turn, so a
    :func:`one_pass` model scores each batch once."""
    lists: dict[str, dict[str, list[str]]] = {task: {} for task in tasks}
    for start in range(0, len(test.users), SCORE_ROWS):
        users, rows = test.users[start:start + SCORE_ROWS], test.rows[start:start + SCORE_ROWS]
        for task in tasks:
            cols = recommend(rows, k, task)
            lists[task].update({c: [items.ids[i] for i in row if i >= 0]
                                for c, row in zip(users, cols, strict=True)})
    return lists


def evaluate(recommend: Recommend, test: TestWindow, items: IdIndex,
             tasks: tuple[str, ...] = TASKS) -> dict[str, float]:
    """Metrics of one model: ``<task>_<metric>_at_<k>``, ``<task>_coverage_at_<k>``, and
    ``all_ndcg_at_10_<group>``, for each of ``tasks`` (each one asks ``recommend`` again)."""
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ValueError(f"evaluate: unknown tasks {sorted(unknown)}; expected some of {list(TASKS)}")
    out: dict[str, float] = {}
    tasks = tuple(t for t in tasks if test.truth[t])
    for task, lists in ranked_lists(recommend, test, items, tasks, max(KS)).items():
        truth = test.truth[task]
        lists = {c: lists[c] for c in truth}
        for k in KS:
            out.update({f"{task}_{m}": v for m, v in ranking_report(lists, truth, k, METRIC_NAMES).items()})
            out[f"{task}_coverage_at_{k}"] = catalogue_coverage(lists, len(items), k)
        for k in set(CURVE_KS) - set(KS):
            out[f"{task}_ndcg_at_{k}"] = ranking_report(lists, truth, k, ("ndcg",))[f"ndcg_at_{k}"]
        if task == "all":
            for g in ("light", "heavy"):
                members = {c: v for c, v in truth.items() if test.group[c] == g}
                if members:
                    out[f"all_ndcg_at_10_{g}"] = ranking_report(lists, members, 10, ("ndcg",))["ndcg_at_10"]
    return out


def evaluate_new_customers(popular: list[str], test: TestWindow) -> dict[str, float]:
    """NDCG@10 of the popularity fallback for customers first seen in the window."""
    if not test.new_truth:
        return {}
    lists = {c: popular for c in test.new_truth}
    return {"all_ndcg_at_10_new": ranking_report(lists, test.new_truth, 10, ("ndcg",))["ndcg_at_10"]}


def evaluate_baskets(recommend: Callable[[list[np.ndarray], int], np.ndarray], baskets, k: int = 10,
                     max_orders: int | None = None) -> dict[str, float]:
    """"Frequently bought together" on held-out orders.

    For every order of two or more known items, the query is one item (the lowest column)
    and the truth is the rest of the order. Returns ``basket_ndcg_at_k`` and
    ``basket_hit_rate_at_k``, the number of orders scored in ``basket_orders`` and of orders
    of two or more known items in ``basket_orders_in_window``. With ``max_orders``, a window
    with more keeps a seeded sample of that many (the same one for every ``recommend``).
    """
    sizes = np.diff(baskets.indptr)
    rows = np.flatnonzero(sizes >= 2)
    if not len(rows):
        return {}
    in_window = len(rows)
    if max_orders is not None and len(rows) > max_orders:
        rows = seeded_sample(rows, max_orders)
    carts = [baskets.indices[baskets.indptr[r]: baskets.indptr[r] + 1] for r in rows]
    truth = {str(r): set(baskets.indices[baskets.indptr[r] + 1: baskets.indptr[r + 1]].tolist())
             for r in rows}
    cols = recommend(carts, k)
    lists = {str(r): [i for i in row if i >= 0] for r, row in zip(rows, cols, strict=True)}
    m = ranking_report(lists, truth, k, ("ndcg", "hit_rate"))
    return {f"basket_{name}": v for name, v in m.items()} | {"basket_orders": float(len(rows)),
                                                             "basket_orders_in_window": float(in_window)}
