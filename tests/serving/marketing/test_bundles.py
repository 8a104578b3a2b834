import numpy as np

from features.workspace import Workspace
from serving.marketing.bundles import Bundles, cross_sell_bundles


def test_the_bundles_of_some_customers_are_those_computed_for_them_alone(marketing_shop):
    recs = marketing_shop[-1]
    every = Bundles.compute(recs, 2)

    for rows in ([0], [4, 0, 2], [1, 3], []):
        rows = np.array(rows, dtype=np.int64)
        indptr, items = every.rows(rows)
        alone_indptr, alone_items = recs.cross_sell(rows, 2)
        assert indptr.tolist() == alone_indptr.tolist() and items.tolist() == alone_items.tolist()


def test_bundles_are_computed_once_per_recommender_and_size_then_read(marketing_shop, tmp_path, monkeypatch):
    recs, ws = marketing_shop[-1], Workspace(tmp_path / "ws")
    computed = []
    real = Bundles.compute.__func__
    monkeypatch.setattr(Bundles, "compute", classmethod(lambda cls, r, size: computed.append(size) or real(cls, r, size)))

    first = cross_sell_bundles(ws, recs, 2)
    again = cross_sell_bundles(ws, recs, 2)  # another worker, or the next start

    assert computed == [2]
    assert again.indptr.tolist() == first.indptr.tolist() and again.items.tolist() == first.items.tolist()
    # A's bundle: what goes with mug, less what A bought (mug and bag): seed.
    assert [recs.item_ids[i] for i in again.items[again.indptr[0]:again.indptr[1]]] == ["seed"]
    cross_sell_bundles(ws, recs, 1)
    assert computed == [2, 1]  # another size, another file

    for path in (tmp_path / "ws" / "scores").glob("bundles-*.npz"):
        path.write_bytes(path.read_bytes()[:60])  # truncated
    damaged = cross_sell_bundles(ws, recs, 2)
    assert computed == [2, 1, 2] and damaged.items.tolist() == first.items.tolist()
