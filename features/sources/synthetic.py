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
- :data:`MARKETPLACE`: a catalogue larger than EASE's dense threshold (40k listed items,
  20k+ of them bought before a test window) under a flat popularity law, 20 taste groups,
  orders of 1-4 lines every two months or so and few repeats: most items have a handful of
  buyers.
- :data:`SMALL_SHOPS`: eight shops at the edges of what the pipeline can learn from (60 to
  2,000 customers; two months to two years; 12 items to 40,000 listed; one-time buyers;
  luxury prices), each named for its shape.
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
MARKETPLACE = ShopShape("marketplace", customers=10_000, items=40_000, days=730, mean_gap_days=60.0,
                        gap_spread=0.8, mean_orders=5.0, basket_lines=(1, 4), reorder_share=0.15, zipf=0.8,
                        taste_groups=20, price_median=25.0, price_spread=1.0)
# Too short or thin for the ranker, or for churn and CLTV, or at the edges of a catalogue's size
# (docs/results.md, "Shops too short or thin for a ranker").
SMALL_SHOPS = {s.name: s for s in (
    ShopShape("b2b-60", customers=60, items=800, days=730, mean_gap_days=30.0, mean_orders=20.0,
              basket_lines=(5, 15), reorder_share=0.6),
    ShopShape("two-months", customers=300, items=600, days=75, mean_gap_days=14.0, mean_orders=6.0,
              basket_lines=(2, 6), reorder_share=0.4),
    ShopShape("thin", customers=150, items=2000, days=365, mean_gap_days=120.0, mean_orders=3.0,
              basket_lines=(1, 3), reorder_share=0.1),
    ShopShape("one-time-buyers", customers=400, items=3000, days=365, mean_gap_days=60.0, mean_orders=1.2,
              basket_lines=(1, 4), reorder_share=0.05),
    ShopShape("large-catalogue-120-buyers", customers=120, items=40000, days=400, mean_gap_days=40.0,
              mean_orders=6.0, basket_lines=(2, 8), reorder_share=0.2, zipf=0.6),
    ShopShape("25-items", customers=2000, items=25, days=365, mean_gap_days=30.0, mean_orders=8.0,
              basket_lines=(1, 3), reorder_share=0.5, taste_groups=3),
    ShopShape("luxury", customers=800, items=3000, days=540, mean_gap_days=180.0, mean_orders=2.0,
              basket_lines=(1, 2), reorder_share=0.05, price_median=800.0),
    ShopShape("12-items", customers=1500, items=12, days=540, mean_gap_days=30.0, mean_orders=10.0,
              basket_lines=(1, 2), reorder_share=0.85, taste_groups=2, price_median=12.0),
)}


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


# -- retail shops of any size (benchmarks/scale.py) ---------------------------------------

@dataclass(frozen=True)
class RetailShape:
    """A consumer shop of any size whose shapes follow Online Retail II's (measured on the
    bundled data: item popularity a Zipf law of exponent 0.6, a quarter of the customer-item
    pairs bought again, orders by month rising to November, 2.2% of lines returned, 91% of
    customers in the home country), with a consumer's volumes instead of a wholesaler's: a
    few lines per order and a few orders per customer (about 20 lines per customer where
    Online Retail II has 135).

    Per customer: a taste group, an arrival day, ``1 + NegBin(orders_r, mean orders_extra)``
    orders separated by exponential gaps of the customer's own mean (log-normal across
    customers, median ``gap_days``), thinned by the month's weight (``MONTH_WEIGHTS``); per
    order ``1 + NegBin(lines_r, mean lines_extra)`` lines. A line is one of the customer's
    ``favourites`` (drawn at arrival from their group) with probability ``favourite_share``,
    else an item of their group (probability ``group_share``) or of the whole catalogue, by
    Zipf rank.
    """

    name: str
    customers: int
    items: int
    days: int = 730
    start: str = "2022-01-01"
    orders_r: float = 0.8
    orders_extra: float = 8.0
    gap_days: float = 30.0
    gap_spread: float = 0.8
    lines_r: float = 1.2
    lines_extra: float = 4.5
    favourites: int = 6
    favourite_share: float = 0.55
    group_share: float = 0.8
    taste_groups: int = 20
    zipf: float = 0.75
    return_share: float = 0.022
    home_share: float = 0.91
    price_median: float = 12.0


# Orders per month in Online Retail II (sales orders, 2009-12..2011-12), January first.
MONTH_WEIGHTS = (0.053, 0.057, 0.077, 0.067, 0.079, 0.078, 0.073, 0.069, 0.093, 0.110, 0.142, 0.100)
ABROAD = ("Germany", "France", "Spain", "Belgium", "Portugal", "Netherlands", "Ireland", "Italy")
RETAIL = {"S": RetailShape("S", 10_000, 5_000), "M": RetailShape("M", 100_000, 30_000),
          "L": RetailShape("L", 1_000_000, 100_000)}


def _zipf_cdf(n: int, exponent: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** exponent
    return np.cumsum(w) / w.sum()


def retail_chunks(shape: RetailShape, seed: int = 0, chunk: int = 50_000):
    """Order lines of ``shape`` (:data:`EXPORT_COLUMNS`), ``chunk`` customers at a time: the
    same lines whatever the chunk size is not promised, the same lines for the same seed and
    chunk size are."""
    rng = np.random.default_rng(seed)
    n_items, groups = shape.items, shape.taste_groups
    per_group = n_items // groups
    layout = rng.permutation(per_group * groups).reshape(groups, per_group)  # item of (group, rank)
    everywhere = rng.permutation(n_items)  # item of global rank
    group_cdf, global_cdf = _zipf_cdf(per_group, shape.zipf), _zipf_cdf(n_items, shape.zipf)
    price = np.round(shape.price_median * rng.lognormal(0, 0.9, n_items), 2).clip(0.5)
    sku = np.array([f"SKU{i:06d}" for i in range(n_items)], dtype=object)
    title = np.array([f"{shape.name} item {i}" for i in range(n_items)], dtype=object)
    month_keep = np.asarray(MONTH_WEIGHTS) / max(MONTH_WEIGHTS)
    start = pd.Timestamp(shape.start)
    months = ((start + pd.to_timedelta(np.arange(shape.days + 31), unit="D")).month - 1).to_numpy()
    order_base = 0
    for first in range(0, shape.customers, chunk):
        c = min(chunk, shape.customers - first)
        taste = rng.integers(0, groups, c)
        favourites = layout[taste[:, None], np.searchsorted(group_cdf, rng.random((c, shape.favourites)))]
        arrival = rng.uniform(0, shape.days, c)
        p = shape.orders_r / (shape.orders_r + shape.orders_extra)
        n = 1 + rng.negative_binomial(shape.orders_r, p, c)
        cust = np.repeat(np.arange(c), n)
        gap = rng.exponential(1.0, len(cust)) * (shape.gap_days * rng.lognormal(0, shape.gap_spread, c))[cust]
        starts = np.r_[0, np.cumsum(n)[:-1]]
        gap[starts] = 0.0
        run = np.cumsum(gap)
        day = arrival[cust] + run - np.repeat(run[starts], n)
        keep = day < shape.days
        keep[keep] &= rng.random(keep.sum()) < month_keep[months[day[keep].astype(int)]]
        cust, day = cust[keep], day[keep]
        orders = len(cust)
        p = shape.lines_r / (shape.lines_r + shape.lines_extra)
        lines = 1 + rng.negative_binomial(shape.lines_r, p, orders)
        order = np.repeat(np.arange(orders), lines)
        who = cust[order]
        u = rng.random(len(order))
        fav = favourites[who, rng.integers(0, shape.favourites, len(order))]
        in_group = layout[taste[who], np.searchsorted(group_cdf, rng.random(len(order)))]
        anywhere = everywhere[np.searchsorted(global_cdf, rng.random(len(order)))]
        item = np.where(u < shape.favourite_share, fav,
                        np.where(rng.random(len(order)) < shape.group_share, in_group, anywhere))
        pairs = pd.DataFrame({"order": order, "item": item}).drop_duplicates()
        order, item = pairs["order"].to_numpy(), pairs["item"].to_numpy()
        who = cust[order]
        minutes = rng.integers(8 * 60, 22 * 60, orders)
        when = start + pd.to_timedelta(day.astype(int), unit="D") + pd.to_timedelta(minutes, unit="m")
        qty = 1 + rng.poisson(0.6, len(order))
        country = np.where(rng.random(c) < shape.home_share, "United Kingdom",
                           np.asarray(ABROAD, dtype=object)[rng.integers(0, len(ABROAD), c)])
        ids = np.array([f"{shape.name}{first + i:07d}" for i in range(c)], dtype=object)
        numbers = order_base + order
        frame = pd.DataFrame({"order_number": pd.Series(numbers).astype(str).to_numpy(), "customer": ids[who],
                              "sku": sku[item], "product_name": title[item], "qty": qty,
                              "unit_price": price[item], "ordered_at": when[order], "country": country[who]})
        returned = rng.random(len(frame)) < shape.return_share
        back = frame[returned].copy()
        back["order_number"] = "C" + back["order_number"]
        back["qty"] = -back["qty"]
        back["ordered_at"] = back["ordered_at"] + pd.to_timedelta(rng.integers(1, 21, len(back)), unit="D")
        back = back[back["ordered_at"] < start + pd.Timedelta(days=shape.days)]
        order_base += orders
        out = pd.concat([frame, back], ignore_index=True)
        out["ordered_at"] = out["ordered_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")
        yield out


def write_retail(shape: RetailShape, path, seed: int = 0, chunk: int = 50_000) -> int:
    """Write ``shape``'s order lines to a Parquet file, a chunk of customers at a time (memory
    stays that of one chunk); returns the number of lines."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer, total = None, 0
    try:
        for frame in retail_chunks(shape, seed, chunk):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(str(path), table.schema)
            writer.write_table(table)
            total += len(frame)
    finally:
        if writer is not None:
            writer.close()
    return total
