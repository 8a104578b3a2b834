import pandas as pd
import pytest

from features.interactions import IdIndex, build_interactions, purchases_in_window


def test_matrix_counts_distinct_orders_before_as_of_without_returns(orders):
    matrix, users, items = build_interactions(orders, pd.Timestamp("2011-03-01"))
    assert list(users.ids) == ["A", "B"]
    assert list(items.ids) == ["x", "y"]
    assert matrix.toarray().tolist() == [[2, 1], [0, 1]]


def test_id_index_translates_both_ways_and_marks_unknown_ids():
    idx = IdIndex(["b", "a"])
    assert idx.index("a") == 1 and idx.ids[1] == "a"
    assert idx.indices(["a", "zz"]).tolist() == [1, -1]
    with pytest.raises(ValueError):
        IdIndex(["a", "a"])


def test_window_purchases_exclude_returns(orders):
    assert purchases_in_window(orders, pd.Timestamp("2011-02-01")) == {"A": {"x", "z"}, "C": {"x"}}
