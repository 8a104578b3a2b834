"""The catalogue the service answers from: growth, concurrent updates, compacted replays."""

from __future__ import annotations

import threading

import numpy as np

from features.live.sqlite_store import SQLiteLiveStore
from serving.storefront.catalogue import Catalogue


def _updates(first_seq: int, n: int) -> list[tuple]:
    return [(first_seq + k, f"new-{k}", f"title {k}", "garden", float(k), k % 2) for k in range(n)]


def test_items_added_one_by_one_grow_the_arrays_by_doubling_not_by_copying_each_time():
    ids = [f"m{i}" for i in range(200_000)]
    cat = Catalogue(ids, ids, None)
    reallocations, capacity = 0, cat.capacity
    for update in _updates(1, 2_000):
        cat.apply([update])
        reallocations += cat.capacity != capacity
        capacity = cat.capacity

    assert reallocations == 1 and len(cat) == 202_000
    assert len(cat.price) == len(cat.category) == len(cat.in_stock) == len(cat.ids) == 202_000
    pos = cat.index["new-1999"]
    assert (cat.titles[pos], cat.category[pos], cat.price[pos], cat.in_stock[pos]) == (
        "title 1999", "garden", 1999.0, True)
    assert np.isnan(cat.price[:200_000]).all()


def test_threads_applying_the_same_updates_at_once_add_each_item_once():
    cat = Catalogue(["a", "b"], ["A", "B"], None)
    updates = _updates(1, 3_000)
    errors = []

    def apply_in_batches():
        try:
            for start in range(0, len(updates), 7):
                cat.apply(updates[start:start + 7])
        except Exception as exc:  # an IndexError from interleaved growth, before the lock
            errors.append(exc)

    threads = [threading.Thread(target=apply_in_batches) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == [] and len(cat) == 3_002 and cat.seq == 3_000
    assert cat.ids[2:] == [f"new-{k}" for k in range(3_000)]


def test_a_compacted_update_log_replays_to_the_same_catalogue_even_for_a_worker_half_way(tmp_path):
    store = SQLiteLiveStore(tmp_path / "live.sqlite")
    store.update_items([{"item_id": "a", "price": 1.0}, {"item_id": "new", "title": "New", "in_stock": True}])
    store.update_items([{"item_id": "a", "in_stock": False}, {"item_id": "new", "category": "garden"}])
    store.update_items([{"item_id": "a", "price": 2.0}])
    half_way = Catalogue(["a"], ["A"], None)
    half_way.apply(store.item_updates_after(0)[:2])
    before = Catalogue(["a"], ["A"], None)
    before.apply(store.item_updates_after(0))

    assert store.compact_item_updates() == 3 and len(store.item_updates_after(0)) == 2
    after = Catalogue(["a"], ["A"], None)
    after.apply(store.item_updates_after(0))
    half_way.apply(store.item_updates_after(half_way.seq))

    for cat in (after, half_way):
        assert cat.ids == before.ids and cat.titles == before.titles
        assert cat.category.tolist() == before.category.tolist() == ["", "garden"]
        assert cat.price[0] == before.price[0] == 2.0 and cat.in_stock.tolist() == before.in_stock.tolist()
    assert store.compact_item_updates() == 0
