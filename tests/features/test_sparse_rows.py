import numpy as np
import pytest
import scipy.sparse as sp

from features.sparse_rows import best_per_row, gather, ranks, row_of, top_k_split, top_per_row


def test_best_per_row_keeps_each_rows_largest_entries_best_first_ties_to_the_lower_column():
    import numpy as np
    import scipy.sparse as sp

    m = sp.csr_matrix(np.array([[0.2, 0.5, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0], [0.1, 0.0, 0.3, 0.0]], np.float32))
    best = best_per_row(m, 2)
    assert row_of(m)[best].tolist() == [0, 0, 2, 2]
    assert m.indices[best].tolist() == [1, 3, 2, 0]  # 0.5 and 0.5 in column order, then 0.3, 0.1

def _stable_top_k(dense: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: each row fully sorted, equal scores to the lower column, -inf left out."""
    ids = np.full((len(dense), k), -1)
    vals = np.full((len(dense), k), -np.inf, np.float32)
    for r, row in enumerate(dense):
        order = [c for c in np.argsort(-row, kind="stable") if np.isfinite(row[c])][:k]
        ids[r, : len(order)], vals[r, : len(order)] = order, row[order]
    return ids, vals


@pytest.mark.parametrize("n_items", [5, 12, 300])
def test_top_k_split_is_the_dense_top_k_with_ties_to_the_lower_column(n_items):
    rng = np.random.default_rng(n_items)
    base = rng.choice([0.0, 0.5, 1.0, -0.2], n_items).astype(np.float32)  # many ties
    extra = sp.random(40, n_items, density=0.2, random_state=1, dtype=np.float32, format="csr")
    extra.data = rng.choice([-1.0, 0.5, 2.0], len(extra.data)).astype(np.float32)  # negatives too
    leave_out = sp.random(40, n_items, density=0.3, random_state=2, format="csr")
    dense = base + extra.toarray()
    dense[leave_out.toarray() > 0] = -np.inf
    for lo, expected_dense in ((leave_out, dense), (None, base + extra.toarray())):
        ids, vals = top_k_split(base, extra, lo, 10)
        want_ids, want_vals = _stable_top_k(expected_dense, min(10, n_items))
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(vals, want_vals)



def test_gather_reads_stored_entries_and_zero_elsewhere():
    m = sp.csr_matrix(np.array([[0, 2, 0], [1, 0, 3]], np.float32))
    assert gather(m, np.array([0, 0, 1, 1]), np.array([1, 2, 2, 0])).tolist() == [2, 0, 3, 1]


def test_ranks_of_sparse_rows_are_the_dense_rows_ranks_ties_in_column_order():
    rng = np.random.default_rng(0)
    dense = rng.choice([0.0, 0.0, 0.0, 1.0, 0.5, -0.5], (6, 20)).astype(np.float32)
    pos = np.repeat(np.arange(6), 20)
    items = np.tile(np.arange(20), 6)
    ordered = [np.argsort(-row, kind="stable") for row in dense]
    want = np.concatenate([np.argsort(o) + 1 for o in ordered])  # the stable sort's position, 1-based
    np.testing.assert_array_equal(ranks(sp.csr_matrix(dense), pos, items), want)


def test_top_per_row_lists_each_rows_best_stored_entries_padded():
    m = sp.csr_matrix(np.array([[0.2, 0.5, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0], [0.1, 0.0, 0.3, 0.0]], np.float32))
    ids, values = top_per_row(m, 3)
    assert ids.tolist() == [[1, 3, 0], [-1, -1, -1], [2, 0, -1]]
    assert values[0].tolist() == pytest.approx([0.5, 0.5, 0.2]) and np.isneginf(values[1:, 2]).all()
