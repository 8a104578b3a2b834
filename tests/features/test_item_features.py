import numpy as np
import pandas as pd

from features import schema as s
from features.item_features import build_item_features

CUTOFF = pd.Timestamp("2011-03-01")


def test_item_features_match_hand_computed_values(orders, events):
    items = pd.DataFrame({s.ITEM_ID: ["x", "z"], s.CATEGORY: ["candles", "boxes"], s.PRICE: [12.0, 3.0]})
    f = build_item_features(orders, CUTOFF, items, events)
    assert list(f.index) == ["x", "y", "z"]  # z is listed but not sold yet
    x, y, z = f.loc["x"], f.loc["y"], f.loc["z"]
    # x: orders 1 (2011-01-01, with y) and 2 (2011-02-19), both by A.
    assert (x["buyers_7d"], x["buyers_30d"], x["buyers_90d"]) == (0, 1, 1)
    assert (x["orders_30d"], x["orders_prev_30d"], x["trend_30d"]) == (1, 1, 1.0)
    assert (y["orders_30d"], y["orders_prev_30d"], y["trend_30d"]) == (0, 1, 0.5)
    assert (x["co_purchase_items"], x["co_purchase_orders"]) == (1, 1)
    assert (y["co_purchase_items"], y["co_purchase_orders"]) == (1, 1)
    assert (z["co_purchase_items"], z["buyers_90d"]) == (0, 0)
    # Views count anonymous visitors too, never events after the cutoff.
    assert (x["views_30d"], z["views_30d"], z["carts_30d"], y["carts_30d"]) == (1, 3, 1, 1)
    # The catalogue's price wins; unlisted items get their median sale price.
    assert (x["price"], y["price"], z["price"]) == (12.0, 5.0, 3.0)
    assert (x[s.CATEGORY], y[s.CATEGORY]) == ("candles", "")


def test_item_features_ignore_rows_after_the_cutoff(orders, events):
    before = build_item_features(orders, CUTOFF, events=events)
    later = orders[s.TIMESTAMP] >= CUTOFF
    assert before.equals(build_item_features(orders[~later], CUTOFF,
                                             events=events[events[s.TIMESTAMP] < CUTOFF]))
    assert np.isnan(build_item_features(orders, CUTOFF)["views_30d"]).all()
