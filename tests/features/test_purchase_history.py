import numpy as np
import pandas as pd
import pytest

from features.interactions import IdIndex, build_interactions
from features.order_codes import OrderCodes
from features.purchase_history import (
    CANDIDATE_FEATURES,
    ITEM_STATS,
    PAIR_STATS,
    USER_STATS,
    PackedHistory,
    _ranks,
    candidate_features,
    fold_in_recent,
    purchase_history,
    recent_scores,
    season_transitions,
)
from tests.conftest import make_orders

CUTOFF = pd.Timestamp("2011-03-01")


def _pair(h, user, item, stat):
    row, col = h.users.index(user), h.items.index(item)
    k = h.orders.indptr[row] + list(h.orders[row].indices).index(col)
    return h.pair_stats()[k, PAIR_STATS.index(stat)]


def test_pair_statistics_match_hand_computed_values(orders):
    h = purchase_history(orders, CUTOFF)
    # A bought x on 2011-01-01 and 2011-02-19 (and returned one, not all): 2 orders, 49 days apart.
    assert _pair(h, "A", "x", "orders") == 2
    assert _pair(h, "A", "x", "days_since_last") == 10
    assert _pair(h, "A", "x", "interval_days") == 49
    assert _pair(h, "A", "x", "overdue") == pytest.approx(10 / 49)
    # Kept as float16, as the packed history stores it: three significant digits.
    assert _pair(h, "A", "x", "decayed") == pytest.approx(0.5 ** (59 / 60) + 0.5 ** (10 / 60), rel=1e-3)
    assert _pair(h, "A", "x", "orders_30d") == 1
    assert np.isnan(_pair(h, "A", "y", "interval_days"))  # bought once
    # B bought y on 2010-06-01, 273 days before: inside "the same season last year" (265..365 days).
    assert _pair(h, "B", "y", "orders_last_year_season") == 1


def test_customer_and_item_statistics_match_hand_computed_values(orders):
    more = make_orders([("7", "B", "x", 1, 13.0, "2010-12-01"), ("8", "D", "x", 2, 16.0, "2010-12-01"),
                        ("C9", "D", "x", -2, 16.0, "2010-12-02")])
    h = purchase_history(pd.concat([orders, more], ignore_index=True), CUTOFF)
    assert list(h.users.ids) == ["A", "B"]  # D returned all it bought; C buys later
    user = dict(zip(USER_STATS, h.user_stats[h.users.index("A")], strict=True))
    # A: orders 1 and 2 (the return is not an order), first on 2011-01-01, last on 2011-02-19.
    assert user == pytest.approx({"user_orders": 2, "user_days_since_last": 10, "user_order_rate": 2 / 59,
                                  "user_orders_90d": 2, "user_tenure_days": 59})
    user = dict(zip(USER_STATS, h.user_stats[h.users.index("B")], strict=True))
    assert user == pytest.approx({"user_orders": 2, "user_days_since_last": 90, "user_order_rate": 2 / 273,
                                  "user_orders_90d": 1, "user_tenure_days": 273})
    x = dict(zip(ITEM_STATS, h.item_stats[h.items.index("x")], strict=True))
    # x was bought by A (twice), B and D: D counts as a buyer, and its price, though returned.
    assert x["buyers_all"] == 3 and x["buyers_30d"] == 1 and x["buyers_7d"] == 0
    assert x["rebuy_rate"] == 0.5  # of the pairs kept: A's twice, B's once
    assert x["price"] == pytest.approx((10 + 13) / 2)  # median of 10, 10, 13, 16
    y = dict(zip(ITEM_STATS, h.item_stats[h.items.index("y")], strict=True))
    assert y["buyers_all"] == 2 and y["buyers_last_year_season"] == 1 and y["rebuy_rate"] == 0


def test_histories_cut_from_order_codes_are_the_histories_of_the_orders(small_shop):
    codes = OrderCodes.of(small_shop)
    for cutoff in pd.to_datetime(["2010-02-01", "2010-11-15", "2011-03-01", "2011-07-01"]):
        a, b = purchase_history(small_shop, cutoff), purchase_history(codes, cutoff)
        assert (a.orders != b.orders).nnz == 0 and (a.decayed != b.decayed).nnz == 0
        assert list(a.users.ids) == list(b.users.ids) and list(a.items.ids) == list(b.items.ids)
        for name in ("pair_days", "pair_counts", "user_stats", "item_stats"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_the_history_matrix_is_the_interactions_matrix(orders):
    h = purchase_history(orders, CUTOFF)
    m, users, items = build_interactions(orders, CUTOFF)
    assert (h.orders != m).nnz == 0
    assert list(h.users.ids) == list(users.ids) and list(h.items.ids) == list(items.ids)


def test_candidates_are_own_items_plus_the_best_new_ones(orders):
    h = purchase_history(orders, CUTOFF)
    weights = np.array([[0.0, 0.5], [0.2, 0.0]], dtype=np.float32)  # items x, y
    rows = h.users.indices(["B", "A"])
    pos, items, X = candidate_features(h, weights, rows, n_new=5)
    assert X.shape == (len(pos), len(CANDIDATE_FEATURES))
    got = sorted((["B", "A"][p], h.items.ids[i], X[j, CANDIDATE_FEATURES.index("bought")])
                 for j, (p, i) in enumerate(zip(pos, items, strict=True)))
    # B bought y: y is its own, x is new; A bought both, so has nothing new.
    assert got == [("A", "x", 1.0), ("A", "y", 1.0), ("B", "x", 0.0), ("B", "y", 1.0)]
    b_x = [j for j, (p, i) in enumerate(zip(pos, items, strict=True)) if p == 0 and h.items.ids[i] == "x"][0]
    assert X[b_x, CANDIDATE_FEATURES.index("item_model")] == pytest.approx(0.2)  # y's weight towards x
    assert np.isnan(X[b_x, CANDIDATE_FEATURES.index("orders")])
    new_only = candidate_features(h, weights, rows, n_new=5, include_purchased=False)
    assert [h.items.ids[i] for i in new_only[1]] == ["x"]


def test_seasonal_scores_are_the_bought_rows_times_the_seasonal_model_and_unknown_without_it(orders):
    h = purchase_history(orders, CUTOFF)
    rows = h.users.indices(["B", "A"])
    weights = np.array([[0.0, 0.5], [0.2, 0.0]], dtype=np.float32)
    score, rank = (CANDIDATE_FEATURES.index(c) for c in ("season_model", "season_model_rank"))
    assert np.isnan(candidate_features(h, weights, rows)[2][:, [score, rank]]).all()
    season = np.array([[0.3, 0.1], [0.0, 0.4]], dtype=np.float32)  # items x, y
    pos, items, X = candidate_features(h, weights, rows, season_weights=season)
    got = {(["B", "A"][p], h.items.ids[i]): (X[j, score], X[j, rank]) for j, (p, i) in enumerate(zip(pos, items,
                                                                                                      strict=True))}
    # B bought y: y's row, x 0.0 and y 0.4. A bought x and y: both rows summed, x 0.3 and y 0.5.
    assert got == {("B", "x"): (0.0, 2.0), ("B", "y"): (pytest.approx(0.4), 1.0),
                   ("A", "x"): (pytest.approx(0.3), 2.0), ("A", "y"): (pytest.approx(0.5), 1.0)}


def test_season_transitions_pair_what_was_bought_before_a_year_ago_with_the_season_after():
    shop = make_orders([
        ("1", "P", "a", 1, 1.0, "2010-01-10"),   # before 2010-03-01 (a year before the cutoff)
        ("2", "P", "b", 2, 1.0, "2010-03-10"),   # in the 92 days after it
        ("3", "P", "c", 1, 1.0, "2010-07-01"),   # after them: not a transition
        ("4", "Q", "b", 1, 1.0, "2010-02-01"),
        ("5", "Q", "a", 1, 1.0, "2010-04-01"),
        ("6", "Q", "a", 1, 1.0, "2010-04-20"),   # bought twice: still one
        ("C7", "Q", "c", -1, 1.0, "2010-04-21"),  # a return is not a purchase
        ("8", "R", "c", 1, 1.0, "2010-03-05"),   # nothing before: no row
        ("9", "P", "d", 1, 1.0, "2010-04-01"),   # not among the items asked for
    ])
    X, Y = season_transitions(shop, CUTOFF, IdIndex(["a", "b", "c"]))
    # Rows P, Q; columns a, b, c.
    np.testing.assert_array_equal(X.toarray(), [[1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(Y.toarray(), [[0, 1, 0], [1, 0, 0]])


def test_the_packed_history_gives_back_every_customers_pairs_exactly(orders, tmp_path):
    h = purchase_history(orders, CUTOFF)
    np.savez(tmp_path / "h.npz", **h.pack().to_arrays())
    back = PackedHistory.from_arrays(dict(np.load(tmp_path / "h.npz", allow_pickle=False)))
    assert back.as_of == h.as_of and list(back.users.ids) == list(h.users.ids)
    rows = np.array([1, 0, 1])  # any rows, in any order, repeated
    got, expected = back.rows(rows), h.rows(rows)
    assert (got.orders != expected.orders).nnz == 0 and (got.decayed != expected.decayed).nnz == 0
    np.testing.assert_array_equal(got.pair_stats(), expected.pair_stats())
    np.testing.assert_array_equal(back.items_of(1), expected.orders[0].indices)
    items, orders = back.orders_of(1)
    np.testing.assert_array_equal(items, expected.orders[0].indices)
    np.testing.assert_array_equal(orders, expected.orders[0].data)
    # The packed form scores candidates exactly as the history it came from.
    weights = np.array([[0.0, 0.5], [0.2, 0.0]], dtype=np.float32)
    season = np.array([[0.3, 0.1], [0.0, 0.4]], dtype=np.float32)
    for a, b in zip(candidate_features(back, weights, rows, season_weights=season),
                    candidate_features(h, weights, rows, season_weights=season), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_packed_customer_takes_a_few_bytes_per_item_bought():
    rng = np.random.default_rng(0)
    n_users, n_items = 500, 3_000
    lines = []
    for u in range(n_users):
        for item in rng.choice(n_items, size=rng.integers(1, 60), replace=False):
            for _ in range(rng.integers(1, 4)):
                day = pd.Timestamp("2010-01-01") + pd.Timedelta(days=int(rng.integers(0, 420)))
                lines.append((f"o{len(lines)}", f"c{u:05d}", f"i{item:05d}", 1, 1.0, day))
    h = purchase_history(make_orders(lines), CUTOFF)
    packed = h.pack()
    # 24 bytes per pair unpacked (item column, two float32 counts, two float32 day counts,
    # four uint8 counts); random items and dates compress worse than a real shop's (4.5).
    assert packed.pair_blob.nbytes / h.orders.nnz < 12


def test_live_interest_moves_only_the_recent_scores_and_their_ranks(orders):
    h = purchase_history(orders, CUTOFF)
    weights = np.array([[0.0, 0.5], [0.2, 0.0]], dtype=np.float32)  # items x, y
    row, x, y = h.users.index("B"), h.items.index("x"), h.items.index("y")
    _, items, X = candidate_features(h, weights, np.array([row]), n_new=5)
    recent = recent_scores(h, weights, row)
    decayed_y = _pair(h, "B", "y", "decayed")  # B bought only y: y's row of the model, decayed
    assert recent.tolist() == pytest.approx([0.2 * decayed_y, 0.0])
    assert X[:, CANDIDATE_FEATURES.index("item_model_recent")] == pytest.approx(recent[items])

    # Two views of x since training: x's row of the model (0.5 towards y), twice.
    folded = fold_in_recent(items, X, recent, weights, {x: 2.0})
    score, rank = (CANDIDATE_FEATURES.index(c) for c in ("item_model_recent", "item_model_recent_rank"))
    got = {h.items.ids[i]: (folded[j, score], folded[j, rank]) for j, i in enumerate(items)}
    assert got["y"] == pytest.approx((1.0, 1.0 if 1.0 > 0.2 * decayed_y else 2.0))
    assert got["x"][0] == pytest.approx(0.2 * decayed_y)
    untouched = [j for j, c in enumerate(CANDIDATE_FEATURES) if j not in (score, rank)]
    np.testing.assert_array_equal(folded[:, untouched], X[:, untouched])
    assert y in items and X[:, score].tolist() != folded[:, score].tolist()


def test_candidate_ranks_are_among_all_items_with_equal_scores_in_column_order():
    scores = np.array([[0, 1, 0, 1, 0, 2], [3, 3, 3, 0, 0, 0]], np.float32)
    pos, items = np.array([0, 0, 0, 1, 1]), np.array([0, 3, 5, 2, 4])

    # Row 0 best first: 5, 1, 3, 0, 2, 4; row 1: 0, 1, 2, 3, 4, 5.
    assert _ranks(scores, pos, items).tolist() == [4, 3, 1, 3, 5]


def test_sparse_item_weights_give_the_candidates_and_features_of_the_same_weights_dense(small_shop):
    import scipy.sparse as sp

    h = purchase_history(small_shop, pd.Timestamp("2011-03-01"))
    n = len(h.items)
    rng = np.random.default_rng(3)
    # Distinct scores, some items with no weights at all (as above a catalogue's dense size).
    dense = rng.normal(size=(n, n)).astype(np.float32) * (rng.random((n, n)) < 0.3)
    season = rng.normal(size=(n, n)).astype(np.float32) * (rng.random((n, n)) < 0.3)
    rows = np.arange(len(h.users))

    def by_candidate(weights, season_weights, include):
        pos, items, X = candidate_features(h, weights, rows, 4, include, season_weights)
        return {(p, i): x.tolist() for p, i, x in zip(pos, items, X, strict=True)}

    for include in (True, False):
        want = by_candidate(dense, season, include)
        got = by_candidate(sp.csr_matrix(dense), sp.csr_matrix(season), include)
        assert got.keys() == want.keys()
        for key in want:
            np.testing.assert_allclose(got[key], want[key], rtol=1e-5, equal_nan=True)
