"""Synthetic shops of other shapes than the bundled one, written as a shop's own order export.

Online Retail II is one shape: a gift wholesaler whose customers reorder some items and find
others. shelfwise must work for shops unlike it, so the zoo (``benchmarks/zoo.py``) also
runs on generated shops. Every assumption of the generators is in this module's
:class:`ShopShape` values; output is seeded and marked nowhere as real. Generated on
demand, never committed.

The model, per customer: an arrival day (uniform over the period), then orders separated by
exponential gaps of the customer's own mean (log-normal across customers), until a
geometric number of orders has been placed (churn). Each order holds a number of lines drawn
uniformly from ``basket_lines``. A line is, with probability ``reorder_share`` once the
customer has bought something, one of the customer's earlier items (chosen in proportion to
how often they bought it); otherwise an item of the customer's taste group, drawn from a Zipf
law (exponent ``zipf``) over the items on sale that day. Items go on sale on a launch day:
``launches`` collections spread over the period (0: everything from the start), and
stay on sale ``shelf_days`` days (0: for ever). Prices are log-normal per item.

- :data:`GROCERY`: weekly to fortnightly baskets of 10-20 lines, most of them reorders
  of a customer's staples, 10k+ items always on sale.
- :data:`FASHION`: few orders of 1-3 lines, almost no repeats, items that launch in
  seasonal collections and leave the shelf after a season.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

EXPORT_COLUMNS = ["order_number", "customer", "sku", "product_name", "qty", "unit_price", "ordered_at",
                  "country"]
# The mapping file a shop would write for the export above (features/sources/mapped.py).
MAPPING_TOML = """# A generated shop's order export (features/sources/synthetic.py): synthetic data.
table = "orders"
timestamp_format = "ISO8601"

[columns]
order_id = "order_number"
customer_id = "customer"
item_id = "sku"
title = "product_name"
quantity = "qty"
unit_price = "unit_price"
timestamp = "ordered_at"
country = "country"
"""


@dataclass(frozen=True)
class ShopShape:
    """The assumptions of one generated shop; see the module docstring for the model."""

    name: str
    customers: int
    items: int
    days: int
    start: str = "2022-01-01"
    mean_gap_days: float = 14.0  # median over customers of their mean days between orders
    gap_spread: float = 0.5  # log-normal sigma of that mean across customers
    mean_orders: float = 20.0  # geometric: the expected orders per customer before churn
    basket_lines: tuple[int, int] = (10, 20)
    reorder_share: float = 0.7
    zipf: float = 1.0
    taste_groups: int = 8
    launches: int = 0
    shelf_days: int = 0
    price_median: float = 4.0
    price_spread: float = 0.8

    def scaled(self, customers: int, items: int) -> ShopShape:
        return replace(self, customers=customers, items=items)


GROCERY = ShopShape("grocery", customers=2_000, items=12_000, days=365, mean_gap_days=10.0, mean_orders=25.0,
                    basket_lines=(12, 24), reorder_share=0.75, zipf=1.05, price_median=3.0)
FASHION = ShopShape("fashion", customers=6_000, items=8_000, days=730, mean_gap_days=90.0, gap_spread=0.7,
                    mean_orders=3.0, basket_lines=(1, 3), reorder_share=0.03, zipf=0.9, taste_groups=12,
                    launches=8, shelf_days=180, price_median=40.0, price_spread=0.6)


def generate_orders(shape: ShopShape, seed: int = 0) -> pd.DataFrame:
    """Order lines of ``shape`` with the columns of :data:`EXPORT_COLUMNS` (one row per line)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(shape.start)
    n_items = shape.items
    group = rng.integers(0, shape.taste_groups, n_items)
    launch = (np.zeros(n_items, int) if not shape.launches else
              (rng.integers(0, shape.launches, n_items) * shape.days // shape.launches))
    shelf_end = launch + shape.shelf_days if shape.shelf_days else np.full(n_items, shape.days + 1)
    price = np.round(shape.price_median * rng.lognormal(0, shape.price_spread, n_items), 2).clip(0.1)
    weight = 1.0 / (1 + rng.permutation(n_items)) ** shape.zipf  # each item's Zipf rank, shuffled
    by_group = [np.flatnonzero(group == g) for g in range(shape.taste_groups)]
    rows = []
    order_no = 0
    for c in range(shape.customers):
        taste = int(rng.integers(0, shape.taste_groups))
        pool = by_group[taste]
        day = float(rng.uniform(0, shape.days * 0.9))
        mean_gap = shape.mean_gap_days * rng.lognormal(0, shape.gap_spread)
        n_orders = rng.geometric(1 / shape.mean_orders)
        bought: list[int] = []
        for _ in range(n_orders):
            if day >= shape.days:
                break
            d = int(day)
            on_sale = pool[(launch[pool] <= d) & (shelf_end[pool] > d)]
            lines = int(rng.integers(shape.basket_lines[0], shape.basket_lines[1] + 1))
            basket = set()
            for _ in range(lines):
                if bought and rng.random() < shape.reorder_share:
                    basket.add(bought[int(rng.integers(0, len(bought)))])
                elif len(on_sale):
                    w = weight[on_sale]
                    basket.add(int(on_sale[rng.choice(len(on_sale), p=w / w.sum())]))
            order_no += 1
            when = start + pd.Timedelta(days=d, minutes=int(rng.integers(8 * 60, 22 * 60)))
            order_id, customer_id = f"{shape.name[:2].upper()}{order_no:07d}", f"{shape.name[:1]}{c:06d}"
            for item in basket:
                rows.append((order_id, customer_id, f"SKU{item:06d}", f"{shape.name} item {item}",
                             int(rng.integers(1, 4)), float(price[item]), when))
            bought.extend(basket)
            day += rng.exponential(mean_gap)
    out = pd.DataFrame(rows, columns=EXPORT_COLUMNS[:-1])
    out["ordered_at"] = out["ordered_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    out["country"] = "Germany"
    return out
