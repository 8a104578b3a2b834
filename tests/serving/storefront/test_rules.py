"""The shop's rules over ranked streams, on a five-item literal catalogue."""

import numpy as np

from serving.storefront.rules import CatalogueView, Rules, Stream, allowed, interleave, select

# Positions:        0        1        2        3       4
CATEGORY = np.array(["mugs", "mugs", "bags", "", "mugs"], dtype=object)
VIEW = CatalogueView(CATEGORY, np.array([5.0, 12.0, np.nan, 3.0, 8.0]),
                     np.array([True, True, True, False, True]))


def stream(source, items):
    return Stream(source, np.array(items), -np.arange(len(items), dtype=float))


def ids(picked):
    return [(p.item, p.source) for p in picked]


def test_rules_filter_stock_category_price_and_exclusions():
    assert allowed(VIEW, Rules()).tolist() == [True, True, True, False, True]
    assert allowed(VIEW, Rules(in_stock_only=False)).all()
    assert allowed(VIEW, Rules(categories=frozenset({"bags"}))).tolist() == [False, False, True, False, False]
    # Unknown price (item 2) never passes a price bound.
    assert allowed(VIEW, Rules(min_price=5, max_price=10)).tolist() == [True, False, False, False, True]
    assert allowed(VIEW, Rules(exclude=frozenset({0, 4}))).tolist() == [False, True, True, False, False]


def test_select_walks_streams_in_order_without_repeats_and_names_sources():
    streams = [stream("personal", [4, 0]), stream("trending", [0, 3, 1]), stream("popular", [2, 1, 4])]
    picked = select(streams, allowed(VIEW, Rules()), CATEGORY, 4, Rules())
    # 3 is out of stock; 0 and 4 come once, from the first stream that gave them.
    assert ids(picked) == [(4, "personal"), (0, "personal"), (1, "trending"), (2, "popular")]


def test_select_caps_items_per_category_and_pages_with_offset():
    streams = [stream("popular", [0, 1, 4, 2, 3])]
    ok = allowed(VIEW, Rules(in_stock_only=False))
    capped = Rules(in_stock_only=False, max_per_category=1)
    # One mug, one bag, and the uncategorised item 3, which the cap does not count.
    assert ids(select(streams, ok, CATEGORY, 5, capped)) == [(0, "popular"), (2, "popular"), (3, "popular")]
    page2 = Rules(in_stock_only=False, offset=2)
    assert ids(select(streams, ok, CATEGORY, 2, page2)) == [(4, "popular"), (2, "popular")]


def test_select_returns_fewer_than_k_only_when_the_catalogue_runs_out():
    picked = select([stream("popular", [0, 1, 2, 3, 4])], allowed(VIEW, Rules(categories=frozenset({"bags"}))),
                    CATEGORY, 3, Rules())
    assert ids(picked) == [(2, "popular")]


def test_interleave_puts_secondary_items_at_every_other_position():
    out = interleave(stream("personal", [0, 1, 2, 3]), stream("similar", [4, 0, 2]), 2)
    picked = select(out, np.ones(5, bool), np.full(5, "", object), 5, Rules(in_stock_only=False))
    assert ids(picked) == [(0, "personal"), (4, "similar"), (1, "personal"), (2, "personal"), (3, "personal")]


def test_select_finds_allowed_items_deep_in_a_catalogue_long_stream_in_order():
    # A thousand-item "popular" stream where only every 97th item is in stock: the page must
    # come from deep in the stream, in stream order, whatever slices select reads it in.
    n = 1000
    ok = np.zeros(n, dtype=bool)
    ok[::97] = True
    order = np.r_[np.arange(1, n), 0]  # item 0, allowed, comes last
    picked = select([stream("popular", order)], ok, np.full(n, "", dtype=object), 8, Rules(offset=2))
    assert [p.item for p in picked] == [291, 388, 485, 582, 679, 776, 873, 970]
    assert [p.score for p in picked] == sorted((p.score for p in picked), reverse=True)
