"""Item features as of a cutoff: popularity and trend, price, category, co-purchases.

Point-in-time like the customer features: only rows strictly before ``as_of`` are read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import schema as s
from features.interactions import IdIndex, basket_matrix
from features.sources.online_retail import build_items

ITEM_FEATURE_SET = "item_v1"
WINDOWS = (7, 30, 90)
EVENT_DAYS = 30  # the browsing counted: the days before the cutoff (the only events read)
ITEM_FEATURE_COLUMNS = (
    *(f"buyers_{d}d" for d in WINDOWS), "orders_30d", "orders_prev_30d", "trend_30d",
    "views_30d", "carts_30d", "price", "co_purchase_items", "co_purchase_orders",
)


def catalogue_as_of(items: pd.DataFrame | None, orders: pd.DataFrame, as_of: pd.Timestamp,
                    derived_from_orders: bool) -> pd.DataFrame | None:
    """The catalogue as it stood before ``as_of``.

    A catalogue derived from the order lines (titles, categories and prices are statistics of
    the sales) is derived again from the lines before ``as_of`` only, so later sales change
    none of it. A shop's own catalogue is a snapshot of its current feed: it keeps its
    titles, categories and prices, but items first seen on or after ``as_of`` are left out.
    """
    if items is None:
        return None
    if derived_from_orders:  # only the columns it reads: at a million customers each copy is GBs
        columns = [s.ITEM_ID, s.TITLE, s.UNIT_PRICE, s.TIMESTAMP, s.IS_RETURN]
        return build_items(orders.loc[orders[s.TIMESTAMP] < as_of, columns])
    if s.FIRST_SEEN in items.columns:
        return items[~(items[s.FIRST_SEEN] >= as_of)]  # an unknown first date keeps the item
    return items


def build_item_features(orders: pd.DataFrame, as_of: pd.Timestamp, items: pd.DataFrame | None = None,
                        events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Features of every item sold (or listed in ``items``) before ``as_of``.

    Returns
    -------
    DataFrame
        Indexed by ``item_id``, with ``category`` (text) and :data:`ITEM_FEATURE_COLUMNS`:

        - ``buyers_{7,30,90}d``: distinct customers who bought it in the last 7/30/90 days;
        - ``orders_30d``, ``orders_prev_30d``: orders with it in the last 30 days and the 30
          before; ``trend_30d`` = (orders_30d + 1) / (orders_prev_30d + 1);
        - ``views_30d``, ``carts_30d``: browsing events in the last 30 days (NaN without events);
        - ``price``: the catalogue price, else the median unit price of its sales;
        - ``co_purchase_items``: distinct other items bought in the same orders;
        - ``co_purchase_orders``: its orders that contain at least one other item.
    """
    sales = orders.loc[(orders[s.TIMESTAMP] < as_of) & ~orders[s.IS_RETURN],
                       [s.ITEM_ID, s.CUSTOMER_ID, s.ORDER_ID, s.UNIT_PRICE, s.TIMESTAMP]]
    ids = pd.Index(np.unique(np.concatenate([
        sales[s.ITEM_ID].unique(), items[s.ITEM_ID].to_numpy(str) if items is not None else []]).astype(str)),
        name=s.ITEM_ID)
    age = (as_of - sales[s.TIMESTAMP]) / pd.Timedelta(days=1)
    f = pd.DataFrame(index=ids)
    for d in WINDOWS:
        f[f"buyers_{d}d"] = _per_item(sales[age < d], s.CUSTOMER_ID, ids)
    f["orders_30d"] = _per_item(sales[age < 30], s.ORDER_ID, ids)
    f["orders_prev_30d"] = _per_item(sales[(age >= 30) & (age < 60)], s.ORDER_ID, ids)
    f["trend_30d"] = (f["orders_30d"] + 1) / (f["orders_prev_30d"] + 1)
    if events is None:
        f["views_30d"] = f["carts_30d"] = np.nan
    else:
        recent = events[(events[s.TIMESTAMP] < as_of)
                        & (events[s.TIMESTAMP] >= as_of - pd.Timedelta(days=EVENT_DAYS))]
        for col, kind in (("views_30d", "view"), ("carts_30d", "add_to_cart")):
            n = recent.loc[recent[s.EVENT_TYPE] == kind, s.ITEM_ID].value_counts()
            f[col] = n.reindex(ids, fill_value=0).astype(float)
    median = sales.groupby(s.ITEM_ID)[s.UNIT_PRICE].median().reindex(ids)
    listed = items.set_index(s.ITEM_ID)[s.PRICE].reindex(ids) if items is not None else median
    f["price"] = listed.fillna(median)
    f[s.CATEGORY] = (items.set_index(s.ITEM_ID)[s.CATEGORY].reindex(ids).fillna("")
                     if items is not None else "")
    f["co_purchase_items"], f["co_purchase_orders"] = _co_purchases(orders, as_of, ids)
    return f[[s.CATEGORY, *ITEM_FEATURE_COLUMNS]]


def _per_item(rows: pd.DataFrame, key: str, ids: pd.Index) -> pd.Series:
    return rows.groupby(s.ITEM_ID)[key].nunique().reindex(ids, fill_value=0).astype(float)


def _co_purchases(orders: pd.DataFrame, as_of: pd.Timestamp, ids: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Distinct co-bought items and multi-item orders per item, from the order x item matrix."""
    x, _ = basket_matrix(orders, None, as_of, IdIndex(ids))
    co = (x.T @ x).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    items_co = np.diff(co.indptr).astype(float)
    multi = (np.asarray(x.sum(axis=1)).ravel() > 1).astype(np.float32)
    orders_co = np.asarray(x.T @ multi).ravel().astype(float)
    return items_co, orders_co
