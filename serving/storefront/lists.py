"""What the storefront endpoints answer: model lists + live state + the shop's rules.

:class:`Storefront` joins the recommender (:class:`serving.runtime.models.BlendedRuntime`), the
catalogue and the live store (events and item updates shared by every worker) and hands
ranked streams to :func:`serving.storefront.rules.select`. It is plain Python: the BentoML service is
a thin layer over it and tests call it directly.

Live events shape answers without retraining: a shopper's recent views and carts are
folded into the ranker's recency-weighted EASE score (a linear item-item model takes a new
row exactly), items similar to them are mixed into the list, carted items leave it, and
items bought since training stop being recommended unless ``include_purchased`` allows it.
Anonymous visitors get the same item-item scores from their session.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from features.live.store import LiveStore, Shopper
from serving.runtime.models import BlendedRuntime
from serving.storefront.catalogue import Catalogue
from serving.storefront.rules import Picked, Rules, Stream, allowed, interleave, select

# Interest per live event type; newer events count more (x DECAY per older event).
EVENT_WEIGHTS = {"view": 1.0, "add_to_cart": 2.0, "wishlist": 1.5, "purchase": 1.0}
DECAY = 0.85
RECENT_EVENTS = 20
SESSION_SHARE = 1 / 3  # of a known customer's list given to "similar to recent views"
TRENDING_LIVE_DAYS = 7
CACHE_SECONDS = 5.0
ORDERS = ("trending", "popular")  # the lists recomputed every CACHE_SECONDS, the last fallbacks


class UnknownItemsError(LookupError):
    """Item ids the catalogue does not have; the message lists them."""

    def __init__(self, field: str, ids: list[str]):
        shown = ", ".join(repr(i) for i in ids[:10]) + (" ..." if len(ids) > 10 else "")
        super().__init__(f"{field}: {len(ids)} item id(s) not in the catalogue: {shown}; "
                         f"add new items with POST /items first")
        self.ids = ids


@dataclass
class LiveState:
    """A shopper's live events, summarised."""

    interest: dict[int, float]  # catalogue position -> weight (model items only)
    in_cart: set[int]
    purchased: set[int]


class Storefront:
    def __init__(self, recs: BlendedRuntime, catalogue: Catalogue, store: LiveStore):
        self.recs, self.catalogue, self.store = recs, catalogue, store
        self._orders: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}
        self.sync()

    # -- shared state -------------------------------------------------------------------
    def sync(self, newest: int | None = None) -> None:
        """Apply catalogue updates other workers stored since the last call (one indexed
        query when nothing changed; none when the caller read ``newest`` already)."""
        if (self.store.last_item_update() if newest is None else newest) > self.catalogue.seq:
            self.catalogue.apply(self.store.item_updates_after(self.catalogue.seq))

    def shopper(self, user_id: str | None, session_id: str | None) -> Shopper:
        """The shopper's live state, in one read of the live store."""
        return self.store.shopper(user_id, session_id, RECENT_EVENTS)

    def live(self, recent: tuple[tuple[str, str], ...]) -> LiveState:
        """A shopper's newest events (:attr:`Shopper.recent`) summarised."""
        interest: dict[int, float] = {}
        in_cart: set[int] = set()
        settled: set[int] = set()  # items whose newest cart event is already known
        purchased: set[int] = set()
        for rank, (item_id, event_type) in enumerate(recent):  # newest first
            pos = self.catalogue.index.get(item_id)
            if pos is None:
                continue
            if event_type == "purchase":
                purchased.add(pos)
            if event_type in ("add_to_cart", "remove_from_cart", "purchase") and pos not in settled:
                settled.add(pos)
                if event_type == "add_to_cart":
                    in_cart.add(pos)
            weight = EVENT_WEIGHTS.get(event_type, 0.0) * DECAY ** rank
            if weight and pos < self.catalogue.n_model:
                interest[pos] = interest.get(pos, 0.0) + weight
        return LiveState(interest, in_cart, purchased)

    def _order(self, name: str) -> Stream:
        """Popular or trending over the whole catalogue, cached for a few seconds."""
        now = time.monotonic()
        cached = self._orders.get(name)
        if cached is None or now - cached[0] > CACHE_SECONDS or len(cached[1]) != len(self.catalogue):
            if name == "popular":
                scores = self.catalogue.pad(self.recs.popularity)
            else:
                scores = self.catalogue.pad(self.recs.trending).copy()
                live = self.store.purchases_since(time.time() - TRENDING_LIVE_DAYS * 86400)
                for item_id, n in live.items():  # purchases received live count as new ones
                    if item_id in self.catalogue.index:
                        scores[self.catalogue.index[item_id]] += n
            items = np.argsort(-scores, kind="stable")
            cached = (now, items, scores[items])
            self._orders[name] = cached
        return Stream(name, cached[1], cached[2])

    def _pick(self, streams: list[Stream], k: int, rules: Rules) -> list[Picked]:
        return select(streams, allowed(self.catalogue.view(), rules), self.catalogue.category, k, rules)

    # -- endpoints ----------------------------------------------------------------------
    def recommend(self, user_id: str | None, session_id: str | None, k: int, rules: Rules,
                  include_purchased: bool, shopper: Shopper | None = None) -> tuple[list[Picked], bool]:
        """"For you": personal -> similar to recent views -> trending -> popular.

        Returns the page and whether the model knew the customer. ``shopper``: their live
        state if the caller read it already (:meth:`shopper`).
        """
        shopper = shopper or self.shopper(user_id, session_id)
        self.sync(shopper.item_update)
        state = self.live(shopper.recent)
        hide = set(rules.exclude) | state.in_cart
        row = self.recs.user_row(user_id)
        if not include_purchased:
            hide |= state.purchased
            if row >= 0:
                hide |= set(self.recs.bought(row).tolist())
        rules = _with_exclusions(rules, hide)
        similar = (Stream("similar_to_recent", *self.recs.similar(state.interest)) if state.interest
                   else Stream("similar_to_recent", np.zeros(0, np.int64), np.zeros(0)))
        streams = []
        if row >= 0:
            need = k + rules.offset
            personal = Stream("personal", *self.recs.personal(row, need, include_purchased, state.interest))
            streams += interleave(personal, similar, math.ceil(need * SESSION_SHARE) if state.interest else 0)
        streams += [similar, self._order("trending"), self._order("popular")]
        return self._pick(streams, k, rules), row >= 0

    def valid_until(self, picked: list[Picked], k: int) -> float:
        """Until when (``time.monotonic``) a "for you" page stays what :meth:`recommend` would
        answer again for the same live state: for good when the page filled before reaching
        trending and popular, else until those lists are next recomputed."""
        if len(picked) == k and not any(p.source in ORDERS for p in picked):
            return math.inf
        return min(self._orders[name][0] for name in ORDERS) + CACHE_SECONDS

    def similar_items(self, item_id: str, k: int, rules: Rules) -> list[Picked]:
        """Item page: what EASE predicts from this item (or, for an item outside a large
        catalogue's fitted ones, what its buyers bought), then same-category and overall popular."""
        self.sync()
        pos = self._known(item_id, "item_id")
        rules = _with_exclusions(rules, {pos})
        streams = []
        if pos < self.catalogue.n_model:
            streams.append(Stream("similar", *self.recs.similar({pos: 1.0})))
        streams += self._category_popular(pos) + [self._order("popular")]
        return self._pick(streams, k, rules)

    def bought_together(self, item_ids: list[str], k: int, rules: Rules) -> list[Picked]:
        """Cart: frequently-bought-together rules, then items similar to the cart, then popular."""
        self.sync()
        positions, unknown = self.catalogue.positions(item_ids)
        if unknown:
            raise UnknownItemsError("item_ids", unknown)
        model = positions[positions < self.catalogue.n_model]
        rules = _with_exclusions(rules, set(positions.tolist()))
        streams = []
        if len(model):
            streams += [Stream("bought_together", *self.recs.bought_together(model)),
                        Stream("similar", *self.recs.similar(dict.fromkeys(model.tolist(), 1.0)))]
        return self._pick(streams + [self._order("popular")], k, rules)

    def buy_again(self, user_id: str, k: int, rules: Rules) -> list[Picked]:
        """The customer's own items, ranked; items bought live come after them. Empty for a
        customer with no purchases (a buy-again shelf has nothing to show)."""
        shopper = self.shopper(user_id, None)
        self.sync(shopper.item_update)
        row = self.recs.user_row(user_id)
        streams = []
        if row >= 0:
            streams.append(Stream("buy_again", *self.recs.buy_again(row)))
        live = sorted(self.live(shopper.recent).purchased)
        streams.append(Stream("bought_recently", np.array(live, np.int64), np.zeros(len(live))))
        return self._pick(streams, k, rules)

    def trending(self, k: int, rules: Rules) -> list[Picked]:
        self.sync()
        return self._pick([self._order("trending")], k, rules)

    def _known(self, item_id: str, field: str) -> int:
        pos = self.catalogue.index.get(item_id)
        if pos is None:
            raise UnknownItemsError(field, [item_id])
        return pos

    def _category_popular(self, pos: int) -> list[Stream]:
        cat = self.catalogue.category[pos]
        if not cat:
            return []
        popular = self._order("popular")
        same = self.catalogue.category[popular.items] == cat
        return [Stream("popular_in_category", popular.items[same], popular.scores[same])]

    # -- writes -------------------------------------------------------------------------
    def record_events(self, events: list[dict]) -> int:
        """Store events (after checking their items exist); returns how many were new."""
        self.sync()
        unknown = sorted({e["item_id"] for e in events} - self.catalogue.index.keys())
        if unknown:
            raise UnknownItemsError("events[].item_id", unknown)
        return self.store.append_events(events)

    def update_items(self, items: list[dict]) -> int:
        n = self.store.update_items(items)
        self.sync()
        return n


def _with_exclusions(rules: Rules, extra: set[int]) -> Rules:
    return replace(rules, exclude=frozenset(rules.exclude) | frozenset(extra)) if extra else rules
