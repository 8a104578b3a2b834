import numpy as np
import scipy.sparse as sp

from features.item_weights import (
    co_bought,
    column_sums,
    from_arrays,
    most_bought,
    prune,
    times,
    to_arrays,
    uncovered,
    weighted_rows,
)


def test_pruning_keeps_each_rows_largest_weights_by_magnitude_over_the_whole_catalogue():
    block = np.array([[0.0, 0.5, -0.9], [0.2, 0.0, 0.1]], np.float32)  # items 1, 3 -> items 1, 3, 4
    w = prune(block, rows=np.array([3, 1]), cols=np.array([1, 3, 4]), n_items=6, neighbours=2)
    assert w.shape == (6, 6)
    dense = w.toarray()
    np.testing.assert_allclose(dense[3], [0, 0, 0, 0.5, -0.9, 0])
    np.testing.assert_allclose(dense[1], [0, 0.2, 0, 0, 0.1, 0])  # the zero is not kept
    assert not dense[[0, 2, 4, 5]].any()  # items outside the fitted block point nowhere


def test_the_most_bought_items_are_kept_in_column_order_ties_to_the_lower_column():
    assert most_bought(np.array([5, 1, 5, 7, 0]), 3).tolist() == [0, 2, 3]
    assert most_bought(np.array([1, 2]), 3).tolist() == [0, 1]


def test_dense_and_sparse_weights_score_the_same():
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(7, 7)).astype(np.float32)
    sparse = sp.csr_matrix(dense)
    rows = sp.csr_matrix((rng.random((3, 7)) < 0.4).astype(np.float32))
    np.testing.assert_allclose(times(rows, sparse), times(rows, dense), rtol=1e-5, atol=1e-6)
    cols, values = np.array([4, 1]), np.array([2.0, 0.5], np.float32)
    np.testing.assert_allclose(weighted_rows(cols, values, sparse), 2.0 * dense[4] + 0.5 * dense[1], rtol=1e-5)
    np.testing.assert_allclose(weighted_rows(cols, values, dense), 2.0 * dense[4] + 0.5 * dense[1], rtol=1e-5)
    np.testing.assert_allclose(column_sums(sparse, cols), dense[:, [4, 1]].sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(column_sums(dense, cols), dense[:, [4, 1]].sum(axis=1), rtol=1e-5)


def test_either_form_saves_and_reads_back():
    dense = np.eye(4, dtype=np.float32)
    assert from_arrays(to_arrays("w", dense), "w", 4) is dense
    sparse = sp.csr_matrix(dense)
    back = from_arrays(to_arrays("w", sparse), "w", 4)
    assert sp.issparse(back) and (back != sparse).nnz == 0
    assert from_arrays({}, "w", 4) is None


def test_co_bought_is_the_chance_a_buyer_bought_each_item_smoothed_towards_its_popularity():
    # customers x items 0..4 (purchase counts: any purchase is one); item 4 has one buyer.
    x = sp.csr_matrix(np.array([[2, 1, 0, 0, 1],
                                [1, 3, 0, 0, 0],
                                [1, 0, 1, 0, 0],
                                [1, 0, 0, 1, 0]], np.float32))
    w = co_bought(x, np.array([4, 1]), neighbours=3, smoothing=2.0)
    # (buyers of both + 2 x the share of customers who bought j) / (buyers of i + 2); the item
    # itself left out; 3 kept, ties to the lower column (items 2 and 3 for item 1).
    np.testing.assert_allclose(w.toarray(), [[0, 0, 0, 0, 0],
                                             [4 / 4, 0, 0.5 / 4, 0, 1.5 / 4],
                                             [0, 0, 0, 0, 0],
                                             [0, 0, 0, 0, 0],
                                             [3 / 3, 2 / 3, 0.5 / 3, 0, 0]], rtol=1e-6)
    assert w.dtype == np.float32 and w.has_sorted_indices


def test_co_bought_counts_in_parts_as_it_would_whole(monkeypatch):
    import features.item_weights as iw

    rng = np.random.default_rng(0)
    x = sp.csr_matrix((rng.random((60, 25)) < 0.2).astype(np.float32))
    rows = np.array([20, 3, 7, 11, 0])
    whole = co_bought(x, rows, neighbours=4)
    monkeypatch.setattr(iw, "_CO_BOUGHT_ROWS", 2)
    assert (co_bought(x, rows, neighbours=4) != whole).nnz == 0


def test_uncovered_items_are_the_bought_ones_a_pruned_model_stores_nothing_for():
    x = sp.csr_matrix(np.array([[1, 0, 1, 0, 1], [0, 0, 1, 0, 0]], np.float32))
    pruned = prune(np.ones((1, 2), np.float32), rows=np.array([2]), cols=np.array([0, 4]), n_items=5)
    assert uncovered(pruned, x).tolist() == [0, 4]  # item 1 and 3: never bought
    assert uncovered(pruned.toarray(), x).tolist() == []  # a dense model covers every item
