import pandas as pd
import pytest

from features.interactions import IdIndex, InteractionWeights, build_interactions, purchases_in_window


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
    assert purchases_in_window(orders, pd.Timestamp("2010-01-01"), pd.Timestamp("2011-01-02")) == {
        "A": {"x", "y"}, "B": {"y"}}
    assert purchases_in_window(orders, pd.Timestamp("2012-01-01")) == {}


AS_OF = pd.Timestamp("2011-03-01")


def test_event_weights_count_once_per_session_and_skip_anonymous_and_later_events(orders, events):
    weights = InteractionWeights(purchase=1.0, add_to_cart=0.5, view=0.1)
    matrix, users, items = build_interactions(orders, AS_OF, events, weights)
    got = {(u, i): round(float(matrix[users.index(u), items.index(i)]), 6)
           for u in users.ids for i in items.ids if matrix[users.index(u), items.index(i)]}
    assert got == {
        ("A", "x"): 2.0,              # two orders; the view after the cutoff is ignored
        ("A", "y"): 1.0 + 0.5,        # one order + one cart add (the removal weighs 0)
        ("A", "z"): 0.1 * 2 + 0.5,    # views in two sessions + one cart add; bought only later
        ("B", "x"): 0.1,
        ("B", "y"): 1.0,
    }


def test_time_decay_halves_weight_every_half_life(orders):
    weights = InteractionWeights(half_life_days=28, add_to_cart=0, view=0, wishlist=0)
    matrix, users, items = build_interactions(orders, AS_OF, weights=weights)
    # A bought x on 2011-01-01 (59 days before) and 2011-02-19 (10 days before).
    assert matrix[users.index("A"), items.index("x")] == pytest.approx(0.5 ** (59 / 28) + 0.5 ** (10 / 28))


def test_fully_returned_pairs_are_not_purchases():
    from tests.conftest import make_orders
    orders = make_orders([("1", "A", "x", 2, 1.0, "2011-01-01"), ("C2", "A", "x", -2, 1.0, "2011-01-05"),
                          ("3", "A", "y", 1, 1.0, "2011-01-06")])
    matrix, users, items = build_interactions(orders, AS_OF)
    assert list(items.ids) == ["y"]
    kept = build_interactions(orders, AS_OF, weights=InteractionWeights(drop_fully_returned=False, view=0,
                                                                        add_to_cart=0, wishlist=0))[2]
    assert list(kept.ids) == ["x", "y"]


def test_weights_must_rank_purchase_over_cart_over_view():
    with pytest.raises(ValueError, match="purchase >= add_to_cart >= view"):
        InteractionWeights(view=2.0)


def test_id_index_maps_rows_back_to_ids():
    idx = IdIndex(["b", "a", "c"])
    assert idx.ids_of([2, 0]).tolist() == ["c", "b"]



def test_events_weighed_a_range_of_sessions_at_a_time_give_the_same_matrix(orders, events, monkeypatch):
    import features.interactions

    for half_life in (None, 30.0):
        weights = InteractionWeights(half_life_days=half_life)
        whole = build_interactions(orders, AS_OF, events, weights)
        monkeypatch.setattr(features.interactions, "EVENT_PART", 1)  # a session at a time
        parts = build_interactions(orders, AS_OF, events, weights)
        monkeypatch.undo()
        assert (whole[0] != parts[0]).nnz == 0
        assert whole[1].ids.tolist() == parts[1].ids.tolist() and whole[2].ids.tolist() == parts[2].ids.tolist()


def test_event_keys_too_large_for_one_number_give_the_same_matrix(orders, events, monkeypatch):
    import features.interactions

    for half_life in (None, 30.0):
        weights = InteractionWeights(half_life_days=half_life)
        digits = build_interactions(orders, AS_OF, events, weights)
        monkeypatch.setattr(features.interactions, "KEY_BITS", 1)  # re-coded after each column
        recoded = build_interactions(orders, AS_OF, events, weights)
        monkeypatch.undo()
        assert (digits[0] != recoded[0]).nnz == 0 and digits[0].nnz == 5
        assert digits[1].ids.tolist() == recoded[1].ids.tolist()
