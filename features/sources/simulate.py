"""A seeded browsing-event simulator around real purchases.

No real clickstream exists for Online Retail II, so demos and tests use events simulated
around its real orders. Every event is marked ``simulated=True``. Purchases themselves are
not simulated: they are the real ``orders`` table.

Assumptions (each a field of :class:`SimulationParams`):

- **Buying sessions.** Every sales order has a session that ends when the order is placed
  and lasts a few minutes (exponential, mean ``session_minutes``). Each bought item is viewed
  one or more times (geometric, mean ``views_per_bought_item``) and then added to the cart.
  The shopper also views items they do not buy (Poisson, ``browsed_per_line`` per order
  line, chosen by popularity), carts some of them (``cart_rate_browsed``) and removes part
  of those again (``remove_rate``); the rest is abandoned in the cart.
- **Browsing sessions of known customers that do not convert.** ``idle_sessions_per_order``
  per order, each placed between ``idle_days_before`` days before and ``idle_days_after``
  days after one of the customer's orders (research before buying, window-shopping after),
  within the data's time range. Views (Poisson + 1, mean ``idle_views``) come from that
  order's items with probability ``own_item_share``, otherwise from popular items.
- **Anonymous visitors.** ``anonymous_sessions_per_order`` sessions per order, spread
  uniformly over the data's time range, with an empty ``user_id`` and their own
  ``session_id``; they view popular items and sometimes cart them.

:func:`funnel` reports the resulting rates. On Online Retail II the defaults give 2.8
views per order line bought, 42% view-to-cart and 85% cart-to-purchase: a wholesaler's
funnel (buyers order about 20 lines from a catalogue they know), far from a consumer
shop's few-percent conversion. No real event log calibrated them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features import schema as s


@dataclass(frozen=True)
class SimulationParams:
    """Knobs of the simulator; see the module docstring for what each one means."""

    seed: int = 0
    session_minutes: float = 12.0
    views_per_bought_item: float = 1.5
    browsed_per_line: float = 1.0
    cart_rate_browsed: float = 0.15
    remove_rate: float = 0.5
    idle_sessions_per_order: float = 1.0
    idle_days_before: float = 14.0
    idle_days_after: float = 30.0
    idle_views: float = 5.0
    own_item_share: float = 0.3
    idle_cart_rate: float = 0.08
    anonymous_sessions_per_order: float = 0.5
    anonymous_views: float = 3.0
    anonymous_cart_rate: float = 0.05


# A part's events take about 1 GB per million sales lines to build. A shop of up to
# WHOLE_LINES is simulated at once, in one random stream; a larger one in parts of PART_LINES,
# which bounds the step's memory whatever the shop's size (docs/benchmarks.md, "Scale").
WHOLE_LINES = 1_000_000
PART_LINES = 500_000
COLUMNS = [s.ORDER_ID, s.CUSTOMER_ID, s.ITEM_ID, s.TIMESTAMP, s.IS_RETURN]  # of the orders, all it reads


def simulate_event_parts(orders: pd.DataFrame, params: SimulationParams | None = None,
                         part_lines: int = PART_LINES, whole_lines: int = WHOLE_LINES
                         ) -> Iterator[pd.DataFrame]:
    """:func:`simulate_events` for a shop of any size, a part at a time.

    Up to ``whole_lines`` sales lines, one part: exactly :func:`simulate_events`. Beyond, one
    part per group of customers holding about ``part_lines`` lines between them (customers
    in id order), each simulated on its own with its own random stream (seeded by the seed
    and the part's number) and its own ids; each part is sorted by time, the parts follow
    each other. Popularity and anonymous visitors are each part's, so a part is a smaller
    shop over the same time range. ``orders`` needs only the :data:`COLUMNS`.
    """
    p = params or SimulationParams()
    buyers = orders.loc[~orders[s.IS_RETURN], s.CUSTOMER_ID]
    if len(buyers) <= whole_lines:
        yield simulate_events(orders, p)
        return
    lines = buyers.value_counts().sort_index()
    part_of = pd.Series((np.cumsum(lines.to_numpy()) - 1) // part_lines, index=lines.index)
    row_part = orders[s.CUSTOMER_ID].map(part_of).to_numpy()
    for part in range(int(part_of.max()) + 1):
        yield simulate_events(orders[row_part == part], p, part=part)


def simulate_events(orders: pd.DataFrame, params: SimulationParams | None = None,
                    part: int | None = None) -> pd.DataFrame:
    """Simulate view / add_to_cart / remove_from_cart events around ``orders``.

    Parameters
    ----------
    orders : DataFrame
        Canonical ``orders`` table; returns are ignored.
    params : SimulationParams, optional
    part : int, optional
        Which part of a larger shop these orders are (:func:`simulate_event_parts`): it seeds
        the random stream with the seed and names the events and sessions.

    Returns
    -------
    DataFrame
        Canonical ``events`` table sorted by timestamp, every row ``simulated=True``.
        The same orders and params give the same events.
    """
    p = params or SimulationParams()
    rng = np.random.default_rng(p.seed if part is None else [p.seed, part])
    prefix = f"sim{p.seed}-" if part is None else f"sim{p.seed}-{part}-"
    sales = orders[~orders[s.IS_RETURN]]
    if sales.empty:
        raise ValueError("simulate_events: no sales to simulate browsing around")
    item_ids, item_codes = np.unique(sales[s.ITEM_ID].to_numpy(str), return_inverse=True)
    popularity = np.bincount(item_codes, minlength=len(item_ids)).astype(float)
    popularity /= popularity.sum()

    # One row per order: its customer, time and the range of its lines in `line_item`.
    lines = pd.DataFrame({"order": sales[s.ORDER_ID].to_numpy(), "customer": sales[s.CUSTOMER_ID].to_numpy(),
                          "ts": sales[s.TIMESTAMP].to_numpy(), "item": item_codes})
    lines = lines.sort_values(["ts", "order"], kind="stable").reset_index(drop=True)
    first = ~lines["order"].duplicated()
    order_start = np.flatnonzero(first.to_numpy())
    n_lines = np.diff(np.append(order_start, len(lines)))
    o_customer = lines["customer"].to_numpy()[order_start]
    o_ts = lines["ts"].to_numpy()[order_start].astype("datetime64[s]").astype(np.int64)
    line_item = lines["item"].to_numpy()
    n_orders = len(order_start)
    t_min, t_max = int(o_ts.min()), int(o_ts.max())

    parts = []
    # Buying sessions: session k belongs to order k.
    duration = (rng.exponential(p.session_minutes, n_orders) + 1.0) * 60.0
    start = o_ts - duration
    line_order = np.repeat(np.arange(n_orders), n_lines)
    views = rng.geometric(1.0 / p.views_per_bought_item, len(line_item))
    parts.append(_session_events(rng, line_order, line_item, views, np.ones(len(line_item), bool),
                                 np.zeros(len(line_item), bool), start, o_ts))
    browsed_n = rng.poisson(p.browsed_per_line * n_lines)
    b_order = np.repeat(np.arange(n_orders), browsed_n)
    b_item = rng.choice(len(item_ids), size=len(b_order), p=popularity)
    b_cart = rng.random(len(b_order)) < p.cart_rate_browsed
    b_remove = b_cart & (rng.random(len(b_order)) < p.remove_rate)
    parts.append(_session_events(rng, b_order, b_item, np.ones(len(b_order), np.int64), b_cart, b_remove,
                                 start, o_ts))
    session_user = o_customer
    session_name = np.char.add("b", np.arange(n_orders).astype(str))

    # Browsing sessions of known customers that do not convert.
    n_idle = rng.poisson(p.idle_sessions_per_order * n_orders)
    anchor = rng.integers(0, n_orders, n_idle)
    offset = rng.uniform(-p.idle_days_before, p.idle_days_after, n_idle) * 86400.0
    i_start = np.clip(o_ts[anchor] + offset, t_min, t_max)
    i_end = i_start + (rng.exponential(p.session_minutes, n_idle) + 1.0) * 60.0
    i_views = rng.poisson(p.idle_views - 1, n_idle) + 1
    i_sess = np.repeat(np.arange(n_idle), i_views)
    own = rng.random(len(i_sess)) < p.own_item_share
    pick = (rng.random(len(i_sess)) * n_lines[anchor[i_sess]]).astype(np.int64)
    own_line = order_start[anchor[i_sess]] + pick
    i_item = np.where(own, line_item[own_line], rng.choice(len(item_ids), size=len(i_sess), p=popularity))
    i_cart = rng.random(len(i_sess)) < p.idle_cart_rate
    i_remove = i_cart & (rng.random(len(i_sess)) < p.remove_rate)
    idle = _session_events(rng, i_sess, i_item, np.ones(len(i_sess), np.int64), i_cart, i_remove,
                           i_start, i_end)
    idle["session"] += n_orders
    parts.append(idle)
    session_user = np.concatenate([session_user, o_customer[anchor]])
    session_name = np.concatenate([session_name, np.char.add("i", np.arange(n_idle).astype(str))])

    # Anonymous visitors.
    n_anon = rng.poisson(p.anonymous_sessions_per_order * n_orders)
    a_start = rng.uniform(t_min, t_max, n_anon)
    a_end = a_start + (rng.exponential(p.session_minutes, n_anon) + 1.0) * 60.0
    a_views = rng.poisson(p.anonymous_views - 1, n_anon) + 1
    a_sess = np.repeat(np.arange(n_anon), a_views)
    a_item = rng.choice(len(item_ids), size=len(a_sess), p=popularity)
    a_cart = rng.random(len(a_sess)) < p.anonymous_cart_rate
    anon = _session_events(rng, a_sess, a_item, np.ones(len(a_sess), np.int64), a_cart,
                           a_cart & (rng.random(len(a_sess)) < p.remove_rate), a_start, a_end)
    anon["session"] += n_orders + n_idle
    parts.append(anon)
    session_user = np.concatenate([session_user, np.full(n_anon, "", dtype=object)])
    session_name = np.concatenate([session_name, np.char.add("a", np.arange(n_anon).astype(str))])

    ev = pd.concat(parts, ignore_index=True)
    ev = ev.sort_values(["ts", "session", "kind"], kind="stable").reset_index(drop=True)
    session = pa.array(ev["session"].to_numpy())
    events = pd.DataFrame({
        s.EVENT_ID: _text(pc.binary_join_element_wise(
            prefix, pc.cast(pa.array(np.arange(len(ev))), pa.string()), "")),
        s.USER_ID: _text(pa.array(session_user.astype(str)).take(session)),
        s.SESSION_ID: _text(pa.array(np.char.add(prefix, session_name)).take(session)),
        s.ITEM_ID: _text(pa.array(item_ids).take(pa.array(ev["item"].to_numpy()))),
        s.EVENT_TYPE: _text(pa.array(["view", "add_to_cart", "remove_from_cart"]).take(
            pa.array(ev["kind"].to_numpy()))),
        s.TIMESTAMP: ev["ts"].to_numpy().astype(np.int64).astype("datetime64[s]").astype("datetime64[ns]"),
        s.PRICE: np.nan,
        s.QUANTITY: np.nan,
        s.SIMULATED: True,
    })
    events.attrs["simulation_params"] = asdict(p)
    return s.EVENTS.validate(events, "simulate_events")


def _text(array: pa.Array) -> pd.Series:
    # Built in Arrow: millions of ids are too slow to make as Python strings.
    return pd.Series(pa.chunked_array([array]).cast(pa.large_string()).to_pandas())


def _session_events(rng: np.random.Generator, session: np.ndarray, item: np.ndarray, views: np.ndarray,
                    cart: np.ndarray, remove: np.ndarray, start: np.ndarray, end: np.ndarray) -> pd.DataFrame:
    """Views, then a cart add, then a removal of each (session, item), timed inside the session."""
    s0, span = start[session], np.maximum(end[session] - start[session], 1.0)
    # Each item is first viewed at some point of the session; later events follow it.
    t_view = s0 + rng.random(len(session)) * span * 0.8
    v_idx = np.repeat(np.arange(len(session)), views)
    v_t = t_view[v_idx] + rng.random(len(v_idx)) * (s0[v_idx] + span[v_idx] * 0.8 - t_view[v_idx])
    v_t[np.r_[True, v_idx[1:] != v_idx[:-1]]] = t_view  # the first view of each item
    c_idx = np.flatnonzero(cart)
    c_t = t_view[c_idx] + rng.random(len(c_idx)) * (s0[c_idx] + span[c_idx] * 0.9 - t_view[c_idx])
    r_idx = np.flatnonzero(remove)
    r_t = c_t[np.searchsorted(c_idx, r_idx)]
    r_t = r_t + rng.random(len(r_idx)) * (s0[r_idx] + span[r_idx] - r_t)
    idx = np.concatenate([v_idx, c_idx, r_idx])
    return pd.DataFrame({
        "session": session[idx], "item": item[idx],
        "kind": np.concatenate([np.zeros(len(v_idx), np.int8), np.ones(len(c_idx), np.int8),
                                np.full(len(r_idx), 2, np.int8)]),
        "ts": np.floor(np.concatenate([v_t, c_t, r_t])),
    })


def funnel(events: pd.DataFrame, orders: pd.DataFrame) -> dict[str, float]:
    """Funnel rates of an event log next to the orders it accompanies."""
    return funnel_rates(funnel_counts(events), orders)


def funnel_counts(events: pd.DataFrame) -> Counter:
    """What :func:`funnel_rates` needs of an event log; parts' counts add up (their sessions
    are their own)."""
    kinds = events[s.EVENT_TYPE].value_counts()
    return Counter({"events": len(events), "sessions": events[s.SESSION_ID].nunique(),
                    "anonymous_sessions": events.loc[events[s.USER_ID] == "", s.SESSION_ID].nunique(),
                    **{k: int(kinds.get(k, 0)) for k in ("view", "add_to_cart", "remove_from_cart")}})


def funnel_rates(counts: Counter, orders: pd.DataFrame) -> dict[str, float]:
    """Funnel rates from :func:`funnel_counts` next to the orders the events accompany."""
    sales_lines = int((~orders[s.IS_RETURN]).sum())
    views, carts, sessions = counts["view"], counts["add_to_cart"], counts["sessions"]
    return {
        "events": counts["events"], "sessions": sessions,
        "anonymous_session_share": counts["anonymous_sessions"] / max(sessions, 1),
        "views_per_order_line": views / max(sales_lines, 1),
        "view_to_cart": carts / max(views, 1),
        "cart_to_purchase": sales_lines / max(carts, 1),
        "cart_removal_rate": counts["remove_from_cart"] / max(carts, 1),
    }
