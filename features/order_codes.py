"""Order lines as sorted integer codes: built once, cut at many dates.

Training builds a purchase history at several cutoffs of the same orders. Turning the id
strings into codes and bringing each (customer, item, order) together is most of the work
of one history when it is done with group-bys; :class:`OrderCodes` does it once, so that each
cutoff is a mask and a few reductions over contiguous runs (``np.ufunc.reduceat``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import schema as s


@dataclass
class OrderCodes:
    """Order lines sorted by (customer, item, order), ids as codes.

    Customer and item codes index the sorted ids (``customer_ids[code]``), so code order is
    id order. ``by_customer_order`` and ``by_item_price`` are the lines in two more orders,
    for the counts that need them (a customer's distinct orders, an item's median price).
    """

    customer_ids: np.ndarray  # str, sorted
    item_ids: np.ndarray  # str, sorted
    customer: np.ndarray  # int32
    item: np.ndarray  # int32
    order: np.ndarray  # int32, in order of first appearance
    timestamp: np.ndarray  # int64, nanoseconds
    quantity: np.ndarray
    unit_price: np.ndarray  # float64
    is_return: np.ndarray  # bool
    by_customer_order: np.ndarray  # int32 line positions sorted by (customer, order)
    by_item_price: np.ndarray  # int32 line positions sorted by (item, unit price)

    @classmethod
    def of(cls, orders: pd.DataFrame) -> OrderCodes:
        customer, customer_ids = pd.factorize(orders[s.CUSTOMER_ID], sort=True)
        item, item_ids = pd.factorize(orders[s.ITEM_ID], sort=True)
        order = pd.factorize(orders[s.ORDER_ID])[0]
        timestamp = orders[s.TIMESTAMP].to_numpy("datetime64[ns]").view(np.int64)
        lines = np.lexsort((order, customer * np.int64(len(item_ids)) + item))
        # int32 codes and positions: a large shop's lines are held for the whole fit.
        customer, item, order = (a[lines].astype(np.int32) for a in (customer, item, order))
        price = orders[s.UNIT_PRICE].to_numpy(np.float64)[lines]
        return cls(np.asarray(customer_ids, dtype=str), np.asarray(item_ids, dtype=str), customer, item,
                   order, timestamp[lines], orders[s.QUANTITY].to_numpy()[lines], price,
                   orders[s.IS_RETURN].to_numpy(bool)[lines],
                   np.lexsort((order, customer)).astype(np.int32), np.lexsort((price, item)).astype(np.int32))


def starts(*keys: np.ndarray) -> np.ndarray:
    """Positions where a run of equal ``keys`` begins (the arrays are sorted by them)."""
    n = len(keys[0])
    if n == 0:
        return np.zeros(0, np.int64)
    change = np.zeros(n, bool)
    change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    return np.flatnonzero(change)


def distinct_per(group: np.ndarray, other: np.ndarray, n: int) -> np.ndarray:
    """Distinct values of ``other`` per value of ``group`` (int64, length ``n``), for lines
    sorted by ``(group, other)``."""
    return np.bincount(group[starts(group, other)], minlength=n)
