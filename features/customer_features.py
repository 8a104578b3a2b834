"""Customer features as of a cutoff, and the churn and CLTV labels that follow it.

Everything here is point-in-time: features at ``as_of`` read only rows strictly before
``as_of``; labels read only rows in ``[as_of, as_of + horizon)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import schema as s
from features.interactions import column_codes

CUTOFF = "cutoff"
CHURNED = "churned"
FUTURE_REVENUE = "future_revenue"

RFM_COLUMNS = (
    "recency_days", "frequency", "monetary", "tenure_days", "avg_order_value",
    "orders_last_90d", "revenue_last_90d", "return_rate", "distinct_items",
)
PURCHASE_COLUMNS = (
    "orders_last_30d", "ipi_mean_days", "ipi_std_days", "recency_over_ipi",
    "avg_basket_lines", "avg_basket_quantity", "basket_diversity", "repeat_item_share",
    "is_home_country", "season_sin", "season_cos",
)
BROWSING_WINDOWS = (7, 30, 90)
BROWSING_COLUMNS = (
    *(f"{kind}_{d}d" for kind in ("views", "carts", "sessions") for d in BROWSING_WINDOWS),
    "cart_abandonment_90d", "days_since_last_visit",
)
# A session converts when the shopper orders within this long after its last event.
CONVERSION_GRACE = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class FeatureSet:
    """A named, versioned list of feature columns this code can build.

    A model records the name of the feature set it was trained on; serving looks it up
    here and refuses a model whose feature set is unknown or whose columns differ
    (Feast's FeatureService idea). A change to a feature's meaning needs a new name.
    """

    name: str
    columns: tuple[str, ...]
    description: str
    # Purchases older than this many days before the cutoff are ignored (``recency_days``
    # and ``is_home_country`` still read every purchase), so that every feature means the
    # same at a cutoff near the start of the data as at a later one. None: all history.
    lookback_days: int | None = None


FEATURE_SETS = {
    fs.name: fs for fs in (
        FeatureSet("customer_rfm_v1", RFM_COLUMNS, "recency, frequency, monetary value and returns"),
        FeatureSet("customer_v2", RFM_COLUMNS + PURCHASE_COLUMNS + BROWSING_COLUMNS,
                   "v1 + inter-purchase intervals, baskets, item affinity, country, season, "
                   "browsing 7/30/90 days"),
        # Online Retail II starts 2009-12-01; the first of twelve monthly churn cutoffs
        # before 2011-09-01 (2010-07-08) has 219 days of history behind it.
        FeatureSet("customer_v2_210d", RFM_COLUMNS + PURCHASE_COLUMNS + BROWSING_COLUMNS,
                   "customer_v2 over the last 210 days of purchases, recency over all of them",
                   lookback_days=210),
    )
}
DEFAULT_FEATURE_SET = "customer_v2"
# The churn model's level is matched to a model on these (training.jobs.customers.match_churn_level).
LEVEL_FEATURE_SET = "customer_v2_210d"


def get_feature_set(name: str) -> FeatureSet:
    """The feature set called ``name``; ``KeyError`` listing the known ones if there is none."""
    try:
        return FEATURE_SETS[name]
    except KeyError:
        raise KeyError(f"unknown feature set {name!r}; this code builds {sorted(FEATURE_SETS)}") from None


# The events' columns feature building and training read (History, item features, interactions,
# and whether the log was simulated).
EVENT_COLUMNS = [s.USER_ID, s.SESSION_ID, s.ITEM_ID, s.EVENT_TYPE, s.TIMESTAMP, s.SIMULATED]


class History:
    """Orders and events prepared once for feature building at many cutoffs.

    Parameters
    ----------
    orders : DataFrame
        Canonical ``orders``.
    events : DataFrame, optional
        Canonical ``events``. Without them, browsing features are NaN (unknown), not 0.
    """

    def __init__(self, orders: pd.DataFrame, events: pd.DataFrame | None = None):
        o = orders
        self.orders = orders
        self.baskets = baskets(o)
        # Days between consecutive purchase days (orders on one day merged, as in BTYD
        # models), each gap timed at the later day's first order.
        sales = self.baskets[~self.baskets[s.IS_RETURN]]
        days = sales.assign(day=sales["ts"].dt.normalize()).drop_duplicates([s.CUSTOMER_ID, "day"])
        by_customer = days.groupby(s.CUSTOMER_ID)
        gap = by_customer["day"].diff() / pd.Timedelta(days=1)
        self.gaps = pd.DataFrame({s.CUSTOMER_ID: days[s.CUSTOMER_ID], "ts": days["ts"], "gap": gap,
                                  "prev_ts": by_customer["ts"].shift()}).dropna()
        # When each (customer, item) pair was first and second bought, for counts at any cutoff.
        # Columns picked before rows: a row filter copies every column, and the string ones
        # (titles, countries) cost seconds on a million lines.
        per_order = (o.loc[~o[s.IS_RETURN], [s.CUSTOMER_ID, s.ITEM_ID, s.ORDER_ID, s.TIMESTAMP]]
                     .groupby([s.CUSTOMER_ID, s.ITEM_ID, s.ORDER_ID], as_index=False)
                     [s.TIMESTAMP].min().sort_values(s.TIMESTAMP, kind="stable"))
        self.item_orders = per_order  # for item counts over a lookback window
        rank = per_order.groupby([s.CUSTOMER_ID, s.ITEM_ID]).cumcount()
        self.first_buys = per_order.loc[rank == 0, [s.CUSTOMER_ID, s.TIMESTAMP]]
        self.second_buys = per_order.loc[rank == 1, [s.CUSTOMER_ID, s.TIMESTAMP]]
        self.events = None
        if events is not None:
            # Known shoppers' events in time order, taken in one copy (filtering, then sorting,
            # held two: 3 GB at 87 million events).
            known = np.flatnonzero((events[s.USER_ID] != "").to_numpy(bool))
            order = known[np.argsort(events[s.TIMESTAMP].to_numpy()[known], kind="stable")]
            del known
            self.events = (events[[s.USER_ID, s.SESSION_ID, s.EVENT_TYPE, s.TIMESTAMP]].iloc[order]
                           .reset_index(drop=True))
            self.event_ts = self.events[s.TIMESTAMP].to_numpy()
            # Shoppers and sessions as integer codes, once: each cutoff's browsing counts are
            # then bincounts, not group-bys and look-ups of millions of strings.
            self.event_user, self.event_users = column_codes(self.events[s.USER_ID])
            self.event_session = column_codes(self.events[s.SESSION_ID])[0]


def baskets(orders: pd.DataFrame) -> pd.DataFrame:
    """One row per order and direction (sale or return): its customer, first time, revenue,
    lines, units and country, by customer and time."""
    agg = {"ts": (s.TIMESTAMP, "min")}
    if {s.REVENUE, s.QUANTITY, s.ITEM_ID} <= set(orders.columns):  # not read for the home country alone
        agg |= {"revenue": (s.REVENUE, "sum"), "lines": (s.ITEM_ID, "size"), "quantity": (s.QUANTITY, "sum")}
    agg["country"] = (s.COUNTRY, "first")
    keys = [s.CUSTOMER_ID, s.ORDER_ID, s.IS_RETURN]
    return (orders.groupby(keys, as_index=False, sort=False, observed=True)
            .agg(**agg).sort_values([s.CUSTOMER_ID, "ts", s.ORDER_ID], kind="stable").reset_index(drop=True))


# The orders' columns :func:`home_country`'s baskets need, all a large shop's reading needs, and
# those of them read as categoricals (a million customers' ids as codes).
HOME_COLUMNS = [s.CUSTOMER_ID, s.ORDER_ID, s.IS_RETURN, s.TIMESTAMP, s.COUNTRY]
HOME_CODED = [s.CUSTOMER_ID, s.ORDER_ID, s.COUNTRY]


def home_country(basket_rows: pd.DataFrame, as_of: pd.Timestamp) -> str | None:
    """The shop's home country as of ``as_of``: the country of most orders (sales and returns)
    before it, the first in sort order on a tie; None before any order.

    ``basket_rows`` are :func:`baskets` rows. Building features a part of the customers at a
    time, the home country is taken from every customer's orders once and passed to each
    part, which alone would see only its own customers'."""
    countries = basket_rows.loc[basket_rows["ts"] < as_of, "country"]
    return None if countries.empty else countries.astype(str).mode().iloc[0]


def build_customer_features(orders: pd.DataFrame | History, as_of: pd.Timestamp,
                            events: pd.DataFrame | None = None,
                            feature_set: str = DEFAULT_FEATURE_SET, home: str | None = None) -> pd.DataFrame:
    """Features of every customer with a purchase strictly before ``as_of``.

    Parameters
    ----------
    orders : DataFrame or History
        Canonical ``orders`` (and ``events``), or a :class:`History` prepared from them.
    as_of : Timestamp
        Cutoff; rows at or after it are ignored.
    events : DataFrame, optional
        Canonical ``events``; ignored when ``orders`` is a :class:`History`.
    feature_set : str
        Name in :data:`FEATURE_SETS`.
    home : str, optional
        The shop's home country (:func:`home_country`); default: that of these orders.

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``, the feature set's columns:

        - ``recency_days``: days from the last purchase to ``as_of``;
        - ``frequency``: number of distinct purchase orders;
        - ``monetary``: net revenue (sales minus returns);
        - ``tenure_days``: days from the first purchase to ``as_of``;
        - ``avg_order_value``: sales revenue / frequency;
        - ``orders_last_{30,90}d``, ``revenue_last_90d``: over the last 30 or 90 days;
        - ``return_rate``: returned value / sales value;
        - ``distinct_items``: number of distinct items bought;
        - ``ipi_mean_days``, ``ipi_std_days``: mean and standard deviation of the days
          between consecutive purchase days (NaN with one such day; std NaN with two);
        - ``recency_over_ipi``: recency / mean interval: how overdue the next order is;
        - ``avg_basket_lines``, ``avg_basket_quantity``: lines and units per order;
        - ``basket_diversity``: distinct items / lines bought (1: never re-orders an item);
        - ``repeat_item_share``: share of distinct items bought in two or more orders;
        - ``is_home_country``: 1 when the last order's country is the shop's most common;
        - ``season_sin``, ``season_cos``: the cutoff's day of the year on the unit circle, so
          a model trained on cutoffs around the year can tell a pre-Christmas window apart;
        - ``{views,carts,sessions}_{7,30,90}d``: browsing in the last 7/30/90 days;
        - ``cart_abandonment_90d``: share of the last 90 days' sessions with a cart add
          that did not end in an order within an hour (NaN without such sessions);
        - ``days_since_last_visit``: days since the last event (NaN: none in 90 days).
    """
    fs = get_feature_set(feature_set)
    h = orders if isinstance(orders, History) else History(orders, events)
    day = pd.Timedelta(days=1)
    b_all = h.baskets[h.baskets["ts"] < as_of]
    sales_all = b_all[~b_all[s.IS_RETURN]]
    if sales_all.empty:
        return pd.DataFrame(columns=list(fs.columns), index=pd.Index([], name=s.CUSTOMER_ID), dtype=float)
    g_all = sales_all.groupby(s.CUSTOMER_ID)
    start = as_of - pd.Timedelta(days=fs.lookback_days) if fs.lookback_days else None
    b = b_all if start is None else b_all[b_all["ts"] >= start]
    sales, returns = b[~b[s.IS_RETURN]], b[b[s.IS_RETURN]]
    g = sales.groupby(s.CUSTOMER_ID)
    f = pd.DataFrame({"recency_days": (as_of - g_all["ts"].max()) / day})
    ix = f.index
    f["frequency"] = g.size().reindex(ix, fill_value=0).astype(float)
    f["tenure_days"] = ((as_of - g["ts"].min()) / day).reindex(ix)
    sales_value = g["revenue"].sum().reindex(ix, fill_value=0.0)
    returned = -returns.groupby(s.CUSTOMER_ID)["revenue"].sum().reindex(ix, fill_value=0.0)
    f["monetary"] = sales_value - returned
    bought = f["frequency"].where(f["frequency"] > 0)  # NaN: nothing bought in the lookback
    f["avg_order_value"] = sales_value / bought
    for d in (30, 90):
        recent = sales[sales["ts"] >= as_of - pd.Timedelta(days=d)].groupby(s.CUSTOMER_ID)
        f[f"orders_last_{d}d"] = recent.size().reindex(ix, fill_value=0).astype(float)
    f["revenue_last_90d"] = recent["revenue"].sum().reindex(ix, fill_value=0.0)
    f["return_rate"] = np.where(sales_value > 0, returned / sales_value, 0.0)
    if start is None:  # counts from each pair's first and second order: 20 ms against 170
        f["distinct_items"] = _count_before(h.first_buys, as_of, ix)
        repeats = _count_before(h.second_buys, as_of, ix)
        gaps = h.gaps[h.gaps["ts"] < as_of]
    else:
        pairs = h.item_orders[(h.item_orders[s.TIMESTAMP] >= start) & (h.item_orders[s.TIMESTAMP] < as_of)]
        per_pair = pairs.groupby([s.CUSTOMER_ID, s.ITEM_ID]).size()
        f["distinct_items"] = per_pair.groupby(level=0).size().reindex(ix, fill_value=0).astype(float)
        repeats = (per_pair >= 2).groupby(level=0).sum().reindex(ix, fill_value=0).astype(float)
        gaps = h.gaps[(h.gaps["ts"] < as_of) & (h.gaps["prev_ts"] >= start)]
    gaps = gaps.groupby(s.CUSTOMER_ID)["gap"]
    f["ipi_mean_days"] = gaps.mean().reindex(ix)
    f["ipi_std_days"] = gaps.std().reindex(ix)
    f["recency_over_ipi"] = f["recency_days"] / f["ipi_mean_days"].where(f["ipi_mean_days"] > 0)
    lines = g["lines"].sum().reindex(ix)
    f["avg_basket_lines"] = lines / bought
    f["avg_basket_quantity"] = g["quantity"].sum().reindex(ix) / bought
    f["basket_diversity"] = f["distinct_items"] / lines
    f["repeat_item_share"] = repeats / f["distinct_items"]
    home = home_country(h.baskets, as_of) if home is None else home
    f["is_home_country"] = (g_all["country"].last() == home).astype(float)
    angle = 2 * np.pi * as_of.day_of_year / 365.25
    f["season_sin"], f["season_cos"] = np.sin(angle), np.cos(angle)
    f = f.join(_browsing(h, sales_all, as_of, ix))
    return f[list(fs.columns)].sort_index()


def _count_before(firsts: pd.DataFrame, as_of: pd.Timestamp, ix: pd.Index) -> pd.Series:
    counts = firsts.loc[firsts[s.TIMESTAMP] < as_of, s.CUSTOMER_ID].value_counts()
    return counts.reindex(ix, fill_value=0).astype(float)


def _browsing(h: History, sales: pd.DataFrame, as_of: pd.Timestamp, ix: pd.Index) -> pd.DataFrame:
    out = pd.DataFrame(index=ix, columns=list(BROWSING_COLUMNS), dtype=float)
    if h.events is None:
        return out
    lo, hi = np.searchsorted(h.event_ts, [np.datetime64(as_of - pd.Timedelta(days=max(BROWSING_WINDOWS))),
                                          np.datetime64(as_of)])
    ev = h.events.iloc[lo:hi]
    age = ((as_of - ev[s.TIMESTAMP]) / pd.Timedelta(days=1)).to_numpy()
    # Each event's shopper as a row of ``ix`` (-1: not a customer there, or no shopper).
    shopper = np.append(ix.get_indexer(pd.Index(np.asarray(h.event_users, dtype=object))), -1)
    who = shopper[h.event_user[lo:hi]]
    session = h.event_session[lo:hi]
    n, width = len(ix), int(session.max(initial=-1)) + 1
    kinds = {kind: (ev[s.EVENT_TYPE] == name).to_numpy() for kind, name in (("views", "view"),
                                                                            ("carts", "add_to_cart"))}
    known = who >= 0
    for d in BROWSING_WINDOWS:
        recent = known & (age <= d)
        for kind, is_kind in kinds.items():
            out[f"{kind}_{d}d"] = np.bincount(who[recent & is_kind], minlength=n).astype(float)
        visited = recent & (session >= 0)
        pairs = np.unique(who[visited].astype(np.int64) * width + session[visited])
        out[f"sessions_{d}d"] = np.bincount(pairs // width, minlength=n).astype(float)
    last = np.full(n, np.inf)
    np.minimum.at(last, who[known], age[known])
    out["days_since_last_visit"] = np.where(np.isinf(last), np.nan, last)
    # Sessions with a cart add, and whether an order followed within the grace period.
    sessions = (ev.assign(carted=ev[s.EVENT_TYPE] == "add_to_cart")
                .groupby([s.USER_ID, s.SESSION_ID])
                .agg(start=(s.TIMESTAMP, "min"), end=(s.TIMESTAMP, "max"), carted=("carted", "any")))
    sessions = sessions[sessions["carted"]].reset_index().sort_values("start")
    if not sessions.empty:
        buys = (pd.DataFrame({"ts": sales["ts"], s.USER_ID: sales[s.CUSTOMER_ID].astype(str)})
                .sort_values("ts"))
        sessions[s.USER_ID] = sessions[s.USER_ID].astype(str)
        nxt = pd.merge_asof(sessions, buys, left_on="start", right_on="ts", by=s.USER_ID,
                            direction="forward")
        converted = nxt["ts"].notna() & (nxt["ts"] <= nxt["end"] + CONVERSION_GRACE)
        out["cart_abandonment_90d"] = (~converted).groupby(nxt[s.USER_ID]).mean().reindex(ix).astype(float)
    return out


def build_labels(
    orders: pd.DataFrame, customers: pd.Index, as_of: pd.Timestamp, horizon_days: int
) -> pd.DataFrame:
    """Churn and CLTV labels from the window ``[as_of, as_of + horizon_days)``.

    ``churned`` is 1 when the customer makes no purchase in the window (definition used
    throughout: among customers with a purchase before ``as_of``). ``future_revenue`` is
    net revenue in the window: sales minus returns, which can be negative.
    """
    end = as_of + pd.Timedelta(days=horizon_days)
    window = orders[(orders[s.TIMESTAMP] >= as_of) & (orders[s.TIMESTAMP] < end)]
    buyers = window.loc[~window[s.IS_RETURN], s.CUSTOMER_ID].unique()
    revenue = window.groupby(s.CUSTOMER_ID)[s.REVENUE].sum()
    return pd.DataFrame(
        {
            CHURNED: (~customers.isin(buyers)).astype(int),
            FUTURE_REVENUE: revenue.reindex(customers, fill_value=0.0).to_numpy(),
        },
        index=customers,
    )


def build_training_set(
    orders: pd.DataFrame | History, cutoffs: list[pd.Timestamp], horizon_days: int,
    events: pd.DataFrame | None = None, feature_set: str = DEFAULT_FEATURE_SET,
    progress: Callable[[int, int, pd.Timestamp, int], None] | None = None,
    homes: Mapping[pd.Timestamp, str | None] | None = None,
) -> pd.DataFrame:
    """Features at each cutoff joined with the labels that follow it, stacked.

    Parameters
    ----------
    orders, events, feature_set
        As in :func:`build_customer_features`.
    cutoffs : list of Timestamp
    horizon_days : int
        Label window after each cutoff.
    progress : callable, optional
        Called as ``progress(i, n, cutoff, rows)`` after each cutoff.
    homes : mapping, optional
        The home country at each cutoff (:func:`home_country`); default: that of these orders.

    Returns
    -------
    DataFrame
        One row per (customer, cutoff); columns ``customer_id``, ``cutoff``, the feature
        set's columns, ``churned`` and ``future_revenue``.
    """
    h = orders if isinstance(orders, History) else History(orders, events)
    frames = []
    for i, cutoff in enumerate(cutoffs, start=1):
        f = build_customer_features(h, cutoff, feature_set=feature_set,
                                    home=None if homes is None else homes[cutoff])
        f = f.join(build_labels(h.orders, f.index, cutoff, horizon_days))
        f.insert(0, CUTOFF, cutoff)
        frames.append(f)
        if progress is not None:
            progress(i, len(cutoffs), cutoff, len(f))
    return pd.concat(frames).reset_index()


def monthly_cutoffs(as_of: pd.Timestamp, horizon_days: int, n: int) -> list[pd.Timestamp]:
    """``n`` cutoffs 30 days apart whose label windows all end on or before ``as_of``.

    The latest cutoff is ``as_of - horizon_days``, so a training set built on them never
    reads a row at or after ``as_of``.
    """
    last = as_of - pd.Timedelta(days=horizon_days)
    return [last - pd.Timedelta(days=30 * i) for i in reversed(range(n))]


def build_rfm_summary(orders: pd.DataFrame, as_of: pd.Timestamp,
                      time_unit_days: float = 7.0) -> pd.DataFrame:
    """The (x, t_x, T, m_x) summary that "buy till you die" models are fitted on.

    Purchases strictly before ``as_of`` are merged by day, as in Fader, Hardie & Lee (2005).
    The observation period covers whole days, so ages are counted to its last day,
    ``as_of - 1 day`` (a customer whose first purchase is on the period's first day of a
    39-week period has ``T = 38.86`` weeks, as in the paper's data).

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``: ``frequency`` (repeat purchase days, x), ``recency``
        (first to last purchase day, t_x), ``T`` (first purchase day to the end of the
        period) in units of ``time_unit_days``, and ``monetary_value`` (mean value of the
        repeat purchase days, m_x; 0 when there is none).
    """
    past = orders[(orders[s.TIMESTAMP] < as_of) & ~orders[s.IS_RETURN]]
    days = (past.assign(day=past[s.TIMESTAMP].dt.normalize())
            .groupby([s.CUSTOMER_ID, "day"], as_index=False)[s.REVENUE].sum())
    g = days.groupby(s.CUSTOMER_ID)
    first, last = g["day"].min(), g["day"].max()
    end = as_of.normalize() - pd.Timedelta(days=1)
    unit = pd.Timedelta(days=time_unit_days)
    summary = pd.DataFrame({
        "frequency": (g["day"].count() - 1).astype(float),
        "recency": (last - first) / unit,
        "T": (end - first) / unit,
    })
    repeat = days[days["day"] > days[s.CUSTOMER_ID].map(first)]
    summary["monetary_value"] = (repeat.groupby(s.CUSTOMER_ID)[s.REVENUE].mean()
                                 .reindex(summary.index, fill_value=0.0))
    return summary
