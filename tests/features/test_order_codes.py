import numpy as np

from features.order_codes import OrderCodes, distinct_per, starts


def test_lines_are_sorted_by_customer_item_and_order_with_codes_indexing_the_sorted_ids(orders):
    codes = OrderCodes.of(orders)
    assert list(codes.customer_ids) == ["A", "B", "C"] and list(codes.item_ids) == ["x", "y", "z"]
    lines = list(zip(codes.customer_ids[codes.customer], codes.item_ids[codes.item], codes.quantity,
                     strict=True))
    assert lines == [("A", "x", 2), ("A", "x", 1), ("A", "x", -1), ("A", "y", 1), ("A", "z", 3),
                     ("B", "y", 4), ("C", "x", 1)]
    assert list(codes.customer[codes.by_customer_order]) == [0, 0, 0, 0, 0, 1, 2]
    by_price = codes.by_item_price
    assert list(zip(codes.item[by_price], codes.unit_price[by_price], strict=True)) == [
        (0, 10.0), (0, 10.0), (0, 10.0), (0, 10.0), (1, 5.0), (1, 5.0), (2, 2.0)]


def test_runs_start_where_any_key_changes_and_distinct_values_are_counted_per_group():
    group, other = np.array([0, 0, 0, 2, 2]), np.array([1, 1, 3, 3, 3])
    assert list(starts(group)) == [0, 3]
    assert list(starts(group, other)) == [0, 2, 3]
    assert list(starts(np.zeros(0))) == []
    assert list(distinct_per(group, other, 4)) == [2, 0, 1, 0]
