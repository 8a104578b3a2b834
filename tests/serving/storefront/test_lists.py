"""Storefront behaviour a shop relies on, on the small shop: group-0 customers buy even
items (i0, i2, ...), group-1 customers odd ones; 20 items."""

import itertools
import math
import time

import pandas as pd
import pytest

from features.live.sqlite_store import SQLiteLiveStore
from features.workspace import Workspace
from serving.runtime.models import BlendedRuntime
from serving.storefront.catalogue import Catalogue
from serving.storefront.lists import CACHE_SECONDS, Storefront, UnknownItemsError
from serving.storefront.rules import Rules


@pytest.fixture
def shop(blended_dir, open_store):
    """Workers sharing one live store, SQLite (one machine) or Redis (several)."""
    path, _ = blended_dir
    recs = BlendedRuntime(path)

    def worker() -> Storefront:  # each service worker process builds its own
        return Storefront(recs, Catalogue(recs.item_ids, recs.titles, None), open_store())

    return worker


EVENT_IDS = itertools.count()


def event(item, kind="view", user=None, session=None):
    return {"event_id": f"e{next(EVENT_IDS)}", "user_id": user, "session_id": session, "item_id": item,
            "event_type": kind, "timestamp": pd.Timestamp("2011-03-02")}


def ids(front, picked):
    return [front.catalogue.ids[p.item] for p in picked]


def parity(item_ids):
    return {int(i[1:]) % 2 for i in item_ids}


def test_a_new_visitor_gets_exactly_k_items_from_the_fallbacks(shop):
    front = shop()
    picked, known = front.recommend(None, "s-new", 7, Rules(), True)
    assert not known and len(picked) == 7
    assert {p.source for p in picked} <= {"trending", "popular"}


def test_an_answer_holds_for_good_unless_it_reached_the_lists_that_are_recomputed(shop):
    front = shop()
    user = "c1"
    picked, _ = front.recommend(user, None, 3, Rules(), True, front.shopper(user, None))
    assert {p.source for p in picked} == {"personal"} and front.valid_until(picked, 3) == math.inf
    fallback, _ = front.recommend(None, "s-new", 3, Rules(), True, front.shopper(None, "s-new"))
    assert 0 < front.valid_until(fallback, 3) - time.monotonic() <= CACHE_SECONDS
    # A page the catalogue could not fill read every list, trending and popular included.
    short, _ = front.recommend(user, None, 3, Rules(categories=frozenset({"none"})), True)
    assert short == [] and front.valid_until(short, 3) < math.inf


def test_the_same_live_state_gives_the_same_page_and_an_event_changes_the_state(shop):
    front = shop()
    user = "c1"
    before = front.shopper(user, None)
    first, _ = front.recommend(user, None, 6, Rules(), True, before)
    assert front.recommend(user, None, 6, Rules(), True, front.shopper(user, None))[0] == first
    front.record_events([event("i1", "add_to_cart", user=user)])
    after = front.shopper(user, None)
    assert after != before and front.recommend(user, None, 6, Rules(), True, after)[0] != first


def test_an_anonymous_session_is_led_by_items_like_its_views(shop):
    front = shop()
    front.record_events([event("i0", session="s1"), event("i4", session="s1")])
    picked, _ = front.recommend(None, "s1", 5, Rules(), True)
    leading = [p for p in picked if p.source == "similar_to_recent"]
    assert len(leading) >= 3 and picked[0].source == "similar_to_recent"
    assert parity(ids(front, leading)) == {0}  # even items, like i0 and i4
    assert not {"i0", "i4"} & set(ids(front, leading))


def test_a_customers_next_list_reflects_views_carts_and_purchases(shop):
    front = shop()
    user = "c1"  # an odd-items customer
    before, known = front.recommend(user, None, 6, Rules(), True)
    assert known and parity(ids(front, before)) == {1}
    other_worker = shop()  # the events arrive at another worker
    other_worker.record_events([event("i2", user=user), event("i6", user=user),
                                event("i8", "add_to_cart", user=user)])
    after, _ = front.recommend(user, None, 6, Rules(), True)
    assert 0 in parity(ids(front, after))  # even items now mixed in, marked as such
    assert any(p.source == "similar_to_recent" for p in after)
    assert "i8" not in ids(front, after)  # already in the cart
    bought = ids(front, before)[0]
    front.record_events([event(bought, "purchase", user=user)])
    again, _ = front.recommend(user, None, 6, Rules(), False)
    assert bought not in ids(front, again) and len(again) == 6


def test_include_purchased_false_never_returns_an_item_the_customer_bought(shop, blended_dir):
    _, model = blended_dir
    front = shop()
    h = model.history_
    row = h.users.indices(["c0"])[0]
    bought = set(h.items.ids[h.orders[row].indices])
    picked, _ = front.recommend("c0", None, 20, Rules(), False)
    assert not bought & set(ids(front, picked))
    assert len(picked) == 20 - len(bought)  # filled with everything else the shop has


def test_out_of_stock_items_disappear_for_every_worker_at_once(shop):
    front, other = shop(), shop()
    first = ids(front, front.recommend("c1", None, 3, Rules(), True)[0])
    other.update_items([{"item_id": first[0], "in_stock": False}])
    assert first[0] not in ids(front, front.recommend("c1", None, 3, Rules(), True)[0])
    assert first[0] in ids(front, front.recommend("c1", None, 3, Rules(in_stock_only=False), True)[0])


def test_categories_prices_and_diversity_come_from_item_updates(shop):
    front = shop()
    front.update_items([{"item_id": f"i{i}", "category": "mugs" if i < 10 else "bags", "price": float(i)}
                        for i in range(20)])
    picked = front.trending(5, Rules(categories=frozenset({"bags"}), max_price=15.0))
    assert set(ids(front, picked)) <= {f"i{i}" for i in range(10, 16)} and len(picked) == 5
    mixed = front.trending(4, Rules(max_per_category=2))
    assert sorted(front.catalogue.category[p.item] for p in mixed) == ["bags", "bags", "mugs", "mugs"]


def test_similar_items_and_bought_together_stay_with_the_items_kind(shop):
    front = shop()
    similar = front.similar_items("i3", 4, Rules())
    assert parity(ids(front, similar)) == {1} and "i3" not in ids(front, similar)
    cart = front.bought_together(["i0", "i2"], 5, Rules())
    assert len(cart) == 5 and not {"i0", "i2"} & set(ids(front, cart))
    assert [(front.catalogue.ids[p.item], p.source) for p in cart[:2]] == [
        ("i6", "bought_together"), ("i8", "bought_together")]
    assert {p.source for p in cart[2:]} == {"similar"} and parity(ids(front, cart)) == {0}
    with pytest.raises(UnknownItemsError, match="'nope'"):
        front.similar_items("nope", 4, Rules())
    with pytest.raises(UnknownItemsError, match="'nope'"):
        front.bought_together(["i0", "nope"], 4, Rules())


def test_buy_again_lists_only_the_customers_own_items(shop, blended_dir):
    _, model = blended_dir
    front = shop()
    h = model.history_
    own = set(h.items.ids[h.orders[h.users.indices(["c2"])[0]].indices])
    picked = front.buy_again("c2", 20, Rules())
    assert set(ids(front, picked)) == own and {p.source for p in picked} == {"buy_again"}
    assert front.buy_again("stranger", 5, Rules()) == []


def test_events_are_durable_and_the_next_training_run_reads_them(shop, tmp_path):
    front = shop()
    with pytest.raises(UnknownItemsError):
        front.record_events([event("nope", session="s")])
    assert front.record_events([event("i1", session="s9"), event("i2", "add_to_cart", user="c3")]) == 2
    # Training reads the workspace's store: SQLite here (Redis: tests/features/live/test_sqlite_store.py).
    def read():
        return Workspace(tmp_path).read_events() if isinstance(front.store, SQLiteLiveStore) else front.store.events_frame()

    events = read()
    assert events["item_id"].tolist() == ["i1", "i2"] and not events["simulated"].any()
    front.record_events([{**event("i3", session="s9"), "timestamp": pd.Timestamp("2011-03-02 10:00+01:00")}])
    assert read()["timestamp"].iloc[-1] == pd.Timestamp("2011-03-02 09:00")
