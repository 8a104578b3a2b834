import pandas as pd

from features import snapshots
from features.customer_features import build_customer_features
from features.snapshots import model_customers

AS_OF = pd.Timestamp("2011-06-01")


def _events(orders: pd.DataFrame) -> pd.DataFrame:
    rows = [{"user_id": c, "session_id": f"s-{c}", "event_type": "view", "item_id": "i", "timestamp": AS_OF
             - pd.Timedelta(days=3), "simulated": True} for c in orders["customer_id"].unique()]
    rows.append({"user_id": "", "session_id": "anon", "event_type": "view", "item_id": "i",
                 "timestamp": AS_OF - pd.Timedelta(days=1), "simulated": True})
    return pd.DataFrame(rows)


def test_a_base_within_the_limit_is_kept_whole(small_shop):
    events = _events(small_shop)
    orders, kept_events, sampled_from = model_customers(small_shop, events)
    assert orders is small_shop and kept_events is events and sampled_from is None


def test_a_larger_base_is_sampled_by_id_with_every_row_of_each_kept_customer(small_shop):
    customers = small_shop["customer_id"].nunique()
    events = _events(small_shop)
    orders, kept_events, sampled_from = model_customers(small_shop, events, limit=customers - 2)
    kept = set(orders["customer_id"])
    assert sampled_from == customers and len(kept) == customers - 2
    pd.testing.assert_frame_equal(orders, small_shop[small_shop["customer_id"].isin(kept)].reset_index(drop=True))
    assert set(kept_events["user_id"]) == kept  # anonymous shoppers' events are not a customer's
    # The same customers whatever the rows' order.
    shuffled = small_shop.sample(frac=1.0, random_state=3)
    assert set(model_customers(shuffled, None, limit=customers - 2)[0]["customer_id"]) == kept
    # A kept customer's features are those computed on the whole base.
    whole = build_customer_features(small_shop, AS_OF, events)
    sample = build_customer_features(orders, AS_OF, kept_events)
    pd.testing.assert_frame_equal(sample, whole.loc[sample.index])


def test_the_default_limit_is_read_when_called(small_shop, monkeypatch):
    monkeypatch.setattr(snapshots, "MODEL_CUSTOMERS", 1)
    orders, _, sampled_from = model_customers(small_shop, None)
    assert orders["customer_id"].nunique() == 1 and sampled_from == small_shop["customer_id"].nunique()
