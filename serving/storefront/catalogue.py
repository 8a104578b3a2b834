"""The catalogue the service answers from: titles, categories, prices and stock.

Positions ``0 .. n_model - 1`` are the recommender's items, in the model's order, so model
scores index it directly; items the model never saw (later imports, ``POST /items``) come
after them. Updates from the live store are applied in sequence order by every worker, one
thread at a time; new items go into spare room that doubles when it runs out, so adding items
one by one costs amortized constant time, not a copy of every array per item.
"""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from features import schema as s
from serving.storefront.rules import CatalogueView


class Catalogue:
    def __init__(self, model_item_ids: list[str], model_titles: list[str], items: pd.DataFrame | None):
        self.ids = list(model_item_ids)
        self.titles = list(model_titles)
        self.n_model = len(self.ids)
        self.index = {item: i for i, item in enumerate(self.ids)}
        n = len(self.ids)
        self._category = np.full(n, "", dtype=object)
        self._price = np.full(n, np.nan)
        self._in_stock = np.ones(n, dtype=bool)
        self.seq = 0  # newest live-store update applied
        self._lock = threading.Lock()
        if items is not None and len(items):
            self._merge(items)

    def __len__(self) -> int:
        return len(self.ids)

    # Views of the filled part of the buffers: always as long as the catalogue.
    @property
    def category(self) -> np.ndarray:
        return self._category[:len(self.ids)]

    @property
    def price(self) -> np.ndarray:
        return self._price[:len(self.ids)]

    @property
    def in_stock(self) -> np.ndarray:
        return self._in_stock[:len(self.ids)]

    @property
    def capacity(self) -> int:
        return len(self._price)

    def _grow(self, item_id: str, title: str) -> int:
        pos = len(self.ids)
        if pos == self.capacity:  # double the room: a copy per doubling, not per item
            extra = max(pos, 16)
            self._category = np.concatenate([self._category, np.full(extra, "", dtype=object)])
            self._price = np.concatenate([self._price, np.full(extra, np.nan)])
            self._in_stock = np.concatenate([self._in_stock, np.ones(extra, dtype=bool)])
        self._category[pos], self._price[pos], self._in_stock[pos] = "", np.nan, True
        self.titles.append(title)
        self.ids.append(item_id)  # last: the views never show a half-added item
        self.index[item_id] = pos
        return pos

    def _merge(self, items: pd.DataFrame) -> None:
        """The workspace's items table: the model's items get their attributes, others are added."""
        for item_id, title in zip(items[s.ITEM_ID], items[s.TITLE], strict=True):
            if item_id not in self.index:
                self._grow(item_id, title if isinstance(title, str) else "")
        pos = np.array([self.index[i] for i in items[s.ITEM_ID]], dtype=np.int64)
        self._category[pos] = items[s.CATEGORY].fillna("").astype(str).to_numpy(object)
        self._price[pos] = items[s.PRICE].to_numpy(float)
        self._in_stock[pos] = items[s.IN_STOCK].fillna(True).to_numpy(bool)

    def apply(self, updates: list[tuple]) -> None:
        """Apply live-store rows ``(seq, item_id, title, category, price, in_stock)``; a None
        field keeps the current value."""
        with self._lock:  # two threads may fetch the same updates: apply each once
            for seq, item_id, title, category, price, in_stock in updates:
                if seq <= self.seq:
                    continue
                pos = self.index.get(item_id)
                if pos is None:
                    pos = self._grow(item_id, title or "")
                if title is not None:
                    self.titles[pos] = title
                if category is not None:
                    self._category[pos] = category
                if price is not None:
                    self._price[pos] = price
                if in_stock is not None:
                    self._in_stock[pos] = bool(in_stock)
                self.seq = seq

    def positions(self, item_ids: list[str]) -> tuple[np.ndarray, list[str]]:
        """Positions of the known ids, and the ids this catalogue does not have."""
        found = [self.index.get(i, -1) for i in item_ids]
        unknown = [i for i, p in zip(item_ids, found, strict=True) if p < 0]
        return np.array([p for p in found if p >= 0], dtype=np.int64), unknown

    def view(self) -> CatalogueView:
        return CatalogueView(self.category, self.price, self.in_stock)

    def pad(self, scores: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Model scores (one per model item) extended to the whole catalogue."""
        if len(scores) == len(self.ids):
            return scores
        return np.concatenate([scores, np.full(len(self.ids) - len(scores), fill, scores.dtype)])
