import numpy as np
import pytest

from training.recommenders import (
    ALSRecommender,
    BPRRecommender,
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RepurchaseRecommender,
    TrendingRecommender,
    top_k,
)

# Every recommender passes the same suite; the personal ones also learn the checkerboard.
PERSONAL = {
    "als": lambda: ALSRecommender(factors=8, iterations=10),
    "bpr": lambda: BPRRecommender(factors=8, iterations=200, learning_rate=0.05),
    "ease": lambda: EASERecommender(l2=10.0),
    "ease_sparse": lambda: EASERecommender(l2=10.0, dense_items=40, neighbours=20),  # 50 items
    "item_knn_bm25": lambda: ItemKNNRecommender(neighbours=50),
    "item_knn_cosine": lambda: ItemKNNRecommender(neighbours=50, weighting="cosine"),
}
ALL = {**PERSONAL, "popularity": PopularityRecommender, "trending": TrendingRecommender,
       "repurchase": RepurchaseRecommender}


@pytest.mark.parametrize("name", ALL)
def test_every_recommender_returns_k_items_best_first_and_can_leave_out_purchases(name, checkerboard):
    model = ALL[name]().fit(checkerboard)
    users = np.arange(10)
    ids, scores = model.recommend(users, checkerboard, k=5)
    assert ids.shape == scores.shape == (10, 5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    fresh, _ = model.recommend(users, checkerboard, k=5, filter_purchased=True)
    for u, row in zip(users, fresh, strict=True):
        assert not set(row) & set(checkerboard[u].indices)


@pytest.mark.parametrize("name", PERSONAL)
def test_personal_recommenders_learn_the_users_own_parity_on_the_checkerboard(name, checkerboard):
    model = PERSONAL[name]().fit(checkerboard)
    users = np.arange(10)
    # The diagonal is empty: each user's unseen same-parity item is user u itself.
    ids, _ = model.recommend(users, checkerboard, k=1, filter_purchased=True)
    assert ((ids % 2) == (users[:, None] % 2)).all(), ids.ravel()


@pytest.mark.parametrize("name", PERSONAL)
def test_similar_items_share_parity_and_exclude_the_item_itself(name, checkerboard):
    model = PERSONAL[name]().fit(checkerboard)
    ids, _ = model.similar_items(np.array([4, 7]), k=5)
    assert (ids[0] % 2 == 0).all() and 4 not in ids[0]
    assert (ids[1] % 2 == 1).all() and 7 not in ids[1]


def test_ease_matches_its_closed_form_on_a_tiny_matrix():
    import scipy.sparse as sp
    x = np.array([[1, 1, 0], [0, 1, 1], [1, 1, 1]], dtype=np.float32)
    model = EASERecommender(l2=1.0).fit(sp.csr_matrix(x))
    p = np.linalg.inv(x.T @ x + np.eye(3))
    expected = p / -np.diag(p)
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(model.item_weights_, expected, rtol=1e-4, atol=1e-6)


def test_repurchase_ranks_the_users_most_bought_items_first():
    import scipy.sparse as sp
    m = sp.csr_matrix(np.array([[3, 0, 1], [0, 2, 0]], dtype=np.float32))
    ids, _ = RepurchaseRecommender().fit(m).recommend(np.array([0, 1]), m, k=2)
    assert ids.tolist() == [[0, 2], [1, 0]]  # user 1's second item: the most popular


def test_trending_weighs_by_recency_weighted_volume():
    import scipy.sparse as sp
    # item 0: two old purchases (weights 0.1 each); item 1: one recent purchase (0.9)
    m = sp.csr_matrix(np.array([[0.1, 0.9], [0.1, 0.0]], dtype=np.float32))
    assert TrendingRecommender().fit(m).order_.tolist() == [1, 0]
    assert PopularityRecommender().fit(m).order_.tolist() == [0, 1]


def test_popularity_ranks_items_by_number_of_buyers():
    import scipy.sparse as sp
    m = sp.csr_matrix(np.array([[1, 0, 3], [1, 0, 0], [1, 1, 0]], dtype=np.float32))
    ids, scores = PopularityRecommender().fit(m).recommend(np.array([0, 1]), m, k=2)
    assert ids.tolist() == [[0, 1], [0, 1]]
    assert scores[0].tolist() == [1.0, pytest.approx(1 / 3)]


def test_saved_model_loads_without_pickle_and_recommends_the_same(checkerboard, tmp_path):
    model = ALSRecommender(factors=8, iterations=5).fit(checkerboard)
    ids = np.array([f"u{i}" for i in range(50)])
    model.save(tmp_path, ids, ids, ids, {"feature_set": "test"})
    loaded, arrays, meta = ALSRecommender.load(tmp_path)
    assert meta["params"]["factors"] == 8
    np.testing.assert_array_equal(loaded.recommend(np.arange(5), k=3)[0],
                                  model.recommend(np.arange(5), k=3)[0])
    assert arrays["user_ids"][3] == "u3"


def test_top_k_returns_best_first_and_caps_k_at_catalogue_size():
    ids, vals = top_k(np.array([[0.1, 0.9, 0.5]]), k=5)
    assert ids.tolist() == [[1, 2, 0]]
    assert vals.tolist() == [[0.9, 0.5, 0.1]]


def test_top_k_gives_equal_scores_to_the_lower_column_as_the_service_does():
    # A sparse shop's rows: a few positive scores, the rest tied at zero (and filtered -inf).
    rng = np.random.default_rng(0)
    scores = rng.choice(np.array([0.0, 0.0, 0.0, 0.5, 1.0, -np.inf], np.float32), size=(200, 40))
    ids, vals = top_k(scores, 10)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_array_equal(vals, np.take_along_axis(scores, expected, axis=1))


def test_frequently_bought_together_support_confidence_and_lift_by_hand():
    import scipy.sparse as sp

    from training.recommenders import FrequentlyBoughtTogether
    # 4 orders over items a, b, c: a+b twice, a+c once, b alone.
    baskets = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float32))
    fbt = FrequentlyBoughtTogether(min_orders=1, rank_by="lift").fit(baskets)
    assert fbt.support_[0, 1] == pytest.approx(2 / 4)
    assert fbt.confidence_[0, 1] == pytest.approx(2 / 3)  # of a's 3 orders, 2 have b
    assert fbt.lift_[0, 1] == pytest.approx((2 / 3) / (3 / 4))
    assert fbt.lift_[0, 2] == pytest.approx((1 / 3) / (1 / 4))
    ids, _ = fbt.recommend([np.array([0])], k=3)
    assert ids.tolist() == [[2, 1, -1]]  # c's lift (1.33) beats b's (0.89); a itself is left out
    strict = FrequentlyBoughtTogether(min_orders=2, rank_by="lift").fit(baskets)
    assert strict.recommend([np.array([0])], k=3)[0].tolist() == [[1, -1, -1]]
    by_confidence = FrequentlyBoughtTogether(min_orders=1).fit(baskets)
    assert by_confidence.recommend([np.array([0])], k=2)[0].tolist() == [[1, 2]]  # 2/3 before 1/3


def test_frequently_bought_together_sums_a_carts_rules_and_breaks_ties_by_column():
    import scipy.sparse as sp

    from training.recommenders import FrequentlyBoughtTogether
    # Orders a+b, a+c, c+d, b+d: from a, b and c tie at 1/2; from the cart {a, d}, b and c
    # each collect 1/2 + 1/2.
    baskets = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1], [0, 1, 0, 1]], np.float32))
    fbt = FrequentlyBoughtTogether(min_orders=1).fit(baskets)
    ids, scores = fbt.recommend([np.array([0]), np.array([0, 3]), np.array([1, 1])], k=3)
    assert ids.tolist() == [[1, 2, -1], [1, 2, -1], [0, 3, -1]]
    assert scores[1, :2].tolist() == [1.0, 1.0] and scores[2, :2].tolist() == [1.0, 1.0]  # b twice
    assert fbt.recommend([], k=2)[0].shape == (0, 2)


def test_ease_above_its_dense_size_is_dense_ease_of_the_most_bought_items_kept_sparse():
    import scipy.sparse as sp
    rng = np.random.default_rng(1)
    x = sp.csr_matrix((rng.random((60, 12)) < np.linspace(0.6, 0.05, 12)).astype(np.float32))
    top = np.sort(np.argsort(-x.getnnz(axis=0), kind="stable")[:8])
    model = EASERecommender(l2=5.0, dense_items=8, neighbours=12).fit(x)
    assert sp.issparse(model.item_weights_) and model.item_weights_.shape == (12, 12)
    got = model.item_weights_.toarray()
    np.testing.assert_allclose(got[np.ix_(top, top)], EASERecommender(l2=5.0).fit(x[:, top]).item_weights_,
                               rtol=1e-4, atol=1e-6)
    rest = np.setdiff1d(np.arange(12), top)
    assert not got[rest].any() and not got[:, rest].any()
    pruned = EASERecommender(l2=5.0, dense_items=8, neighbours=3).fit(x).item_weights_
    assert (pruned.getnnz(axis=1)[top] <= 3).all()
    # Scores are the kept weights summed, as dense.
    np.testing.assert_allclose(model.scores(np.arange(5), x), x[:5].toarray() @ got, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["ease_sparse", "item_knn_bm25", "popularity", "trending", "repurchase",
                                  "als", "bpr"])
def test_lists_of_a_large_catalogue_are_the_dense_lists(name, checkerboard, large):
    model = ALL[name]().fit(checkerboard)
    users = np.arange(10)
    for purchased in (False, True):
        dense = np.array(model.scores(users, checkerboard), np.float32)
        if purchased:
            dense[checkerboard[users].toarray() > 0] = -np.inf
        ids, vals = model.recommend(users, checkerboard, k=5, filter_purchased=purchased)
        np.testing.assert_allclose(vals, np.take_along_axis(dense, ids, axis=1), rtol=1e-5)
        # The same scores as the dense top 5 (ties may pick other items of equal score).
        np.testing.assert_allclose(vals, -np.sort(-dense, axis=1)[:, :5], rtol=1e-5)
    pos, cols = np.array([0, 0, 3]), np.array([1, 4, 2])
    np.testing.assert_allclose(model.pair_scores(users, checkerboard, pos, cols),
                               np.asarray(model.scores(users, checkerboard))[pos, cols], rtol=1e-5)
