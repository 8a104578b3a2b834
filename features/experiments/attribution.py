"""Which shown answers led to which clicks and purchases, and what each endpoint and variant
earned.

An *exposure* is one answer shown to a shopper (``/recommend``, ``/similar_items``,
``/frequently_bought_together``, ``/buy_again``, ``/trending`` or ``/offers``), logged by the
service with a ``recommendation_id`` (:data:`features.live.store.EXPOSURE_COLUMNS`). Events
are tied back to exposures by two rules, in this order:

1. **Direct**: an event posted with the ``recommendation_id`` of the answer it came from. A
   ``view`` posted so is a *click* (the shopper opened an item of the list); an
   ``add_to_cart`` or a ``purchase`` counts as such.
2. **Last touch**: a purchase posted without one is credited to the newest exposure that
   showed the same item to the same shopper (the same customer id, else the same session)
   at most ``window_days`` before the purchase. A purchase no exposure showed is not credited.

Revenue is an attributed purchase's price times its quantity (1 when not given; a purchase
without a price is counted, with no revenue). The rule is "last touch" as in web analytics
(for example Google Analytics' last-click model); it credits a list for purchases the
shopper might have made anyway, which is what an A/B test's control arm measures.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from features import schema as s
from features.live.store import RECOMMENDATION_ID, LiveStore, naive_utc

WINDOW_DAYS = 7
COUNTED = ("view", "add_to_cart", "purchase")
SUMMARY_COLUMNS = ("endpoint", "variant", "exposures", "clicks", "click_through", "add_to_carts", "purchases",
                   "conversion", "revenue", "revenue_per_1000")


def revenue(events: pd.DataFrame) -> pd.Series:
    """Each event's revenue: price times quantity, the quantity 1 when not given, 0 without a price."""
    return events[s.PRICE].fillna(0.0) * events[s.QUANTITY].fillna(1.0)


def answered(exposures: pd.DataFrame) -> pd.DataFrame:
    """The exposures that showed something (failed answers are logged for the guardrails)."""
    return exposures[exposures["status"] == 200] if "status" in exposures else exposures


def shown_items(exposures: pd.DataFrame) -> pd.DataFrame:
    """One row per (exposure, item shown): recommendation id, shopper, item, time shown."""
    items = exposures["items"].map(json.loads)
    out = exposures.loc[exposures.index.repeat(items.map(len)),
                        [RECOMMENDATION_ID, s.USER_ID, s.SESSION_ID, "at"]].reset_index(drop=True)
    out[s.ITEM_ID] = [str(i) for shown in items for i in shown]
    out["shown_at"] = pd.to_datetime(out.pop("at"), unit="s")
    return out


def attribute(exposures: pd.DataFrame, events: pd.DataFrame,
              window_days: float = WINDOW_DAYS) -> pd.DataFrame:
    """The events credited to an exposure: ``events``' rows (views, add-to-carts and purchases)
    with the ``recommendation_id`` credited and ``rule`` (``direct`` or ``last_touch``).

    Parameters
    ----------
    exposures
        Rows in :data:`features.live.store.EXPOSURE_COLUMNS`.
    events
        Live events with a ``recommendation_id`` column (None when posted without one),
        timestamps naive UTC.
    window_days
        How long after being shown an item earns a purchase posted without an id.
    """
    exposures = answered(exposures)
    events = events[events[s.EVENT_TYPE].isin(COUNTED)]
    known = set(exposures[RECOMMENDATION_ID])
    ids = events[RECOMMENDATION_ID] if RECOMMENDATION_ID in events else pd.Series(None, index=events.index)
    direct = events[ids.isin(known)].assign(rule="direct")
    unlinked = events[ids.isna() & (events[s.EVENT_TYPE] == "purchase")].drop(columns=RECOMMENDATION_ID,
                                                                                errors="ignore")
    shown = shown_items(exposures)
    credited, left = [], unlinked
    for who in (s.USER_ID, s.SESSION_ID):  # the customer's own exposures first, then the session's
        if left.empty or shown.empty:
            break
        matched = _last_touch(left[left[who].notna()], shown[shown[who].notna()], who, window_days)
        credited.append(matched)
        left = left[~left[s.EVENT_ID].isin(matched[s.EVENT_ID])]
    out = pd.concat([direct, *credited], ignore_index=True)
    columns = [*events.columns.drop(RECOMMENDATION_ID, errors="ignore"), RECOMMENDATION_ID, "rule"]
    return out.reindex(columns=columns)


def _last_touch(purchases: pd.DataFrame, shown: pd.DataFrame, who: str, window_days: float) -> pd.DataFrame:
    if purchases.empty or shown.empty:
        return purchases.iloc[:0].assign(**{RECOMMENDATION_ID: None, "rule": None})
    left = purchases.assign(_key=purchases[who].astype(str) + "\x1f" + purchases[s.ITEM_ID].astype(str))
    right = shown.assign(_key=shown[who].astype(str) + "\x1f" + shown[s.ITEM_ID])[["_key", "shown_at",
                                                                                   RECOMMENDATION_ID]]
    left = left.assign(_t=left[s.TIMESTAMP].astype("datetime64[ns]")).sort_values("_t", kind="stable")
    right = right.assign(_t=right["shown_at"].astype("datetime64[ns]")).sort_values("_t", kind="stable")
    merged = pd.merge_asof(left, right[["_key", "_t", RECOMMENDATION_ID]], on="_t", by="_key",
                           direction="backward", tolerance=pd.Timedelta(days=window_days))
    merged = merged[merged[RECOMMENDATION_ID].notna()]
    return merged.drop(columns=["_key", "_t"]).assign(rule="last_touch")


def summary(exposures: pd.DataFrame, credited: pd.DataFrame) -> pd.DataFrame:
    """Per endpoint and variant: exposures, clicks and the share of exposures clicked,
    add-to-carts, purchases and the share of exposures that led to one, attributed revenue
    and revenue per thousand exposures."""
    exposures = answered(exposures)
    if exposures.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    arm = exposures.set_index(RECOMMENDATION_ID)[["endpoint", "variant"]]
    c = credited.join(arm, on=RECOMMENDATION_ID)
    c["revenue"] = revenue(c)
    keys = ["endpoint", "variant"]
    out = exposures.groupby(keys).size().rename("exposures").to_frame()
    kind = c[s.EVENT_TYPE]
    out["clicks"] = c[kind == "view"].groupby(keys).size()
    clicked = c[kind == "view"].drop_duplicates(RECOMMENDATION_ID).groupby(keys).size()
    out["add_to_carts"] = c[kind == "add_to_cart"].groupby(keys).size()
    out["purchases"] = c[kind == "purchase"].groupby(keys).size()
    converted = c[kind == "purchase"].drop_duplicates(RECOMMENDATION_ID).groupby(keys).size()
    out["revenue"] = c[kind == "purchase"].groupby(keys)["revenue"].sum()
    out = out.fillna(0)
    for col in ("clicks", "add_to_carts", "purchases"):
        out[col] = out[col].astype(np.int64)
    out["click_through"] = clicked.reindex(out.index).fillna(0) / out["exposures"]
    out["conversion"] = converted.reindex(out.index).fillna(0) / out["exposures"]
    out["revenue_per_1000"] = 1000 * out["revenue"] / out["exposures"]
    return out.reset_index()[list(SUMMARY_COLUMNS)]


def attribution_table(store: LiveStore, since, window_days: float = WINDOW_DAYS) -> pd.DataFrame:
    """:func:`summary` of the answers shown since ``since`` (a date or time, UTC when naive),
    from a live store's exposures and events."""
    exposures = store.exposures_frame(since=naive_utc(since).timestamp())
    return summary(exposures, attribute(exposures, store.events_frame(recommendation_ids=True), window_days))
