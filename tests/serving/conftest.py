import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from features.artifacts import write_checksums
from serving.runtime.models import BlendedRuntime, CustomerScorer


def register_model(ws, family: str, content: str, tmp_path) -> str:
    """Register a model directory with one file saying ``content``; its version."""
    from training import registry

    model = tmp_path / f"{family}-{content}"
    model.mkdir()
    (model / "meta.json").write_text(json.dumps({"format": "test"}))
    (model / "weights.txt").write_text(content)
    write_checksums(model)
    _, version = registry.log_and_register(registry.connect(ws), ws, family, model, params={}, metrics={},
                                           tags={}, run_name=content)
    return version


class _Scorer:
    """What CustomerBase reads of a CustomerScorer: ``as_of``, the score frame and which
    families scored it."""

    def __init__(self, as_of: str, frame: pd.DataFrame, families: tuple[str, ...] = ("churn", "cltv")):
        self.as_of = pd.Timestamp(as_of)
        self.frame = frame
        self.families = families

    require = CustomerScorer.require


class _Recs:
    """What segments and offers read of the recommender: items, customers' purchases, EASE
    weights and frequently-bought-together rules."""

    def __init__(self, users: list[str], items: list[str], bought: list[tuple[str, str]],
                 weights: dict[tuple[str, str], float], fbt: dict[tuple[str, str], float]):
        from features.interactions import IdIndex
        # What names its files, and so the bundles kept in a workspace (serving.marketing.bundles).
        self.digest = json.dumps([users, items, bought, [*map(list, fbt.items())]])
        u, i = IdIndex(users), IdIndex(items)
        rows = [u.index(a) for a, _ in bought]
        cols = [i.index(b) for _, b in bought]
        self.item_ids = list(items)
        orders = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(users), len(items)))
        self.history = SimpleNamespace(users=u, items=i, rows=lambda r: SimpleNamespace(orders=orders[r]))
        self.item_weights = np.zeros((len(items), len(items)), np.float32)
        for (a, b), w in weights.items():
            self.item_weights[i.index(a), i.index(b)] = w
        self._fbt = {(i.index(a), i.index(b)): c for (a, b), c in fbt.items()}
        self.fbt = sp.csr_matrix((list(self._fbt.values()), tuple(zip(*self._fbt, strict=True))),
                                 shape=(len(items), len(items)), dtype=np.float32)

    cross_sell = BlendedRuntime.cross_sell  # the real batch rule, on these literal purchases

    def purchases(self, row):
        own = self.history.rows([row]).orders
        return own.indices, own.data

    def user_row(self, user_id):
        return self.history.users.index(user_id) if user_id in self.history.users else -1

    def bought_together(self, items):
        scores = {}
        for (a, b), c in self._fbt.items():
            if a in set(items):
                scores[b] = scores.get(b, 0.0) + c
        order = sorted(scores, key=lambda b: -scores[b])
        return np.array(order, dtype=np.int64), np.array([scores[b] for b in order])


@pytest.fixture
def scorings(monkeypatch) -> list[int]:
    """A list that grows by one each time any customer scorer scores (rather than reading a
    score table): how often the work the score tables save was done."""
    calls = []
    real = CustomerScorer._score

    def counted(self, *args):
        calls.append(1)
        real(self, *args)

    monkeypatch.setattr(CustomerScorer, "_score", counted)
    return calls


@pytest.fixture
def marketing_shop():
    """Five customers (the RFM fixture of tests/features/test_profiles.py) with literal scores,
    countries, item categories and a three-item recommender. Returns ``(orders, customers,
    items, scorer, recs)``."""
    from tests.features.test_profiles import AS_OF, shop

    orders = shop()
    customers = pd.DataFrame({"customer_id": list("ABCDEF"), "country": ["United Kingdom", "France", "United Kingdom",
                                                                       "Germany", "France", "France"]})
    items = pd.DataFrame({"item_id": ["mug", "bag", "seed"], "title": ["mug", "bag", "seed"],
                          "category": ["kitchen", "bags", "garden"], "price": [2.0, 5.0, 1.0]})
    frame = pd.DataFrame({
        "churn_probability": [0.10, 0.50, 0.80, 0.95, 0.99],
        "predicted_cltv": [1000.0, 100.0, 500.0, 50.0, 0.0],
        "days_since_last_order": [11, 3, 153, 275, 426]}, index=pd.Index(list("ABCDE"), name="customer_id"))
    frame["risk_band"] = ["low", "medium", "high", "high", "high"]
    frame["cltv_rank_pct"] = [20.0, 60.0, 40.0, 80.0, 100.0]  # as the scorer ranks CLTV 1000, 100, 500, 50, 0
    frame["cltv_decile"] = [2, 6, 4, 8, 10]
    frame["next_purchase_date"] = pd.NaT
    # Purchases as the recommender saw them; EASE weights: mug -> seed 0.5, bag -> seed 0.2.
    recs = _Recs(list("ABCDE"), ["mug", "bag", "seed"],
                 [("A", "mug"), ("A", "bag"), ("B", "seed"), ("C", "mug"), ("C", "seed"), ("D", "bag"), ("E", "mug")],
                 {("mug", "seed"): 0.5, ("bag", "seed"): 0.2}, {("mug", "bag"): 0.6, ("mug", "seed"): 0.3})
    return orders, customers, items, _Scorer(AS_OF.isoformat(), frame), recs
