import numpy as np
import pytest

from training.recommenders import ALSRecommender, PopularityRecommender, top_k


@pytest.mark.parametrize("model", [ALSRecommender(factors=8, iterations=10)],
                         ids=["als"])
def test_recommends_items_of_the_users_own_parity_on_the_checkerboard(model, checkerboard):
    model.fit(checkerboard)
    users = np.arange(10)
    ids, scores = model.recommend(users, checkerboard, k=5)
    assert ids.shape == scores.shape == (10, 5)
    assert ((ids % 2) == (users[:, None] % 2)).all()
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first


def test_similar_items_share_parity_and_exclude_the_item_itself(checkerboard):
    model = ALSRecommender(factors=8, iterations=10).fit(checkerboard)
    ids, _ = model.similar_items(np.array([4, 7]), k=5)
    assert (ids[0] % 2 == 0).all() and 4 not in ids[0]
    assert (ids[1] % 2 == 1).all() and 7 not in ids[1]


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
