"""Generated shops: seeded, shaped like Online Retail II where promised, loadable as an export."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from features import schema as s
from features.item_weights import DENSE_ITEMS
from features.sources import mapped
from features.sources.synthetic import (
    MAPPING_TOML,
    MARKETPLACE,
    RETAIL,
    ShopShape,
    generate_orders,
    retail_chunks,
    write_retail,
)


@pytest.fixture(scope="module")
def small_retail() -> pd.DataFrame:
    return pd.concat(list(retail_chunks(RETAIL["S"], seed=0)), ignore_index=True)


def test_the_same_seed_gives_the_same_shop_and_another_seed_another():
    shape = replace(RETAIL["S"], customers=500, items=200)
    first, again = (pd.concat(list(retail_chunks(shape, seed=1))) for _ in range(2))
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(pd.concat(list(retail_chunks(shape, seed=2))))
    tiny = ShopShape("grocery", customers=30, items=50, days=60)
    pd.testing.assert_frame_equal(generate_orders(tiny, 3), generate_orders(tiny, 3))


def test_the_s_shop_has_online_retail_ii_s_shapes_at_a_consumer_shop_s_volume(small_retail):
    sales = small_retail[small_retail["qty"] > 0]
    assert 0.85 * RETAIL["S"].customers <= sales["customer"].nunique() <= RETAIL["S"].customers
    assert sales["sku"].nunique() == RETAIL["S"].items
    orders = sales.groupby("customer")["order_number"].nunique()
    assert 0.2 <= (orders == 1).mean() <= 0.35  # Online Retail II: 0.28 buy once
    assert 14 <= len(sales) / sales["customer"].nunique() <= 25  # lines per customer
    pairs = sales.groupby(["customer", "sku"])["order_number"].nunique()
    assert 0.12 <= (pairs > 1).mean() <= 0.35  # Online Retail II: 0.25 of pairs bought again
    buyers = sales.groupby("sku")["customer"].nunique().sort_values(ascending=False).to_numpy()
    slope = -np.polyfit(np.log(np.arange(11, 2001)), np.log(buyers[10:2000]), 1)[0]
    assert 0.5 <= slope <= 0.75  # Online Retail II: 0.60
    months = pd.to_datetime(sales.drop_duplicates("order_number")["ordered_at"]).dt.month.value_counts()
    assert months.idxmax() == 11 and months[11] > 2.5 * months[1]
    assert 0.015 <= (small_retail["qty"] < 0).mean() <= 0.03  # Online Retail II: 0.022 returned
    assert small_retail.loc[small_retail["qty"] < 0, "order_number"].str.startswith("C").all()


def test_a_written_shop_loads_through_the_mapping_loader_as_any_export(tmp_path):
    shape = replace(RETAIL["S"], customers=300, items=100)
    lines = write_retail(shape, tmp_path / "orders.parquet", seed=0, chunk=120)  # three chunks
    (tmp_path / "orders.toml").write_text(MAPPING_TOML)
    orders, rejects, report = mapped.load(tmp_path / "orders.parquet", mapped.Mapping.read(tmp_path / "orders.toml"))
    assert report.rejected == {} and len(orders) == lines
    s.ORDERS.validate(orders, "test")
    assert orders[s.IS_RETURN].mean() == pytest.approx(0.022, abs=0.015)
    # Order numbers are unique across chunks: no order mixes two customers.
    assert (orders[~orders[s.IS_RETURN]].groupby(s.ORDER_ID)[s.CUSTOMER_ID].nunique() == 1).all()


def test_the_marketplace_has_more_items_before_its_test_window_than_eases_dense_threshold():
    # The zoo's one shop on the sparse item-item path of a large catalogue: `train recs` tests
    # on the last 90 days, so that many items must have been bought before them.
    orders = generate_orders(MARKETPLACE, seed=0)
    when = pd.to_datetime(orders["ordered_at"])
    before = orders[when < when.max() - pd.Timedelta(days=90)]
    buyers = before.groupby("sku")["customer"].nunique()
    assert len(buyers) > DENSE_ITEMS
    assert buyers.median() <= 3  # most items have a handful of buyers
    assert before.groupby("customer")["order_number"].nunique().median() >= 2
