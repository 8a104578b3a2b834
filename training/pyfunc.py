"""shelfwise's model directories as MLflow ``python_function`` models.

Every registered version carries an ``MLmodel`` whose ``python_function`` flavour names this
module as its loader, so ``mlflow.pyfunc.load_model("models:/shelfwise-churn@champion")``
works wherever shelfwise's packages can be imported (the version ships a copy of them under
``code/``), as do ``mlflow models serve`` and ``mlflow.models.evaluate``. Nothing is
pickled: the loader reads the same portable files the service reads (LightGBM text,
``.npz`` and ``.npy`` arrays, JSON).

- churn: a frame of the feature set's columns in; ``churn_probability`` out, with the
  calibration map training stored (what ``POST /customer`` serves);
- cltv: the same columns in; ``expected_revenue`` out;
- recs: ``customer_id`` (and optionally ``k``, default 10, and ``include_purchased``) in;
  ``item_ids``, the "for you" list of each known customer, out (empty for an unknown one),
  from the baseline that serves the list when one beat the ranker on validation.

A churn or CLTV version whose ``meta.json`` names a simple model in ``served_by`` (recency,
BG/NBD, last-period spend) is served by that model, which reads the orders rather than the
feature columns; its pyfunc still gives the trained booster's prediction.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from features.artifacts import LGBM_FORMAT, RECS_FORMAT
from training.customer_models import calibrate


class CustomerScores:
    """A churn or CLTV model: LightGBM's booster and the stored calibration."""

    def __init__(self, path: Path, meta: dict):
        import lightgbm as lgb

        self.booster = lgb.Booster(model_file=str(path / "model.lgb"))
        self.columns, self.task = meta["feature_columns"], meta["task"]
        self.calibration = meta.get("calibration") if self.task == "churn" else None

    def predict(self, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        missing = [c for c in self.columns if c not in model_input.columns]
        if missing:
            raise ValueError(f"the input has no column {missing[0]!r}; the model reads {self.columns}")
        scores = self.booster.predict(model_input[self.columns].to_numpy(float))
        if self.task == "churn":
            if self.calibration:
                scores = calibrate(scores, self.calibration)
            return pd.DataFrame({"churn_probability": np.clip(scores, 0.0, 1.0)})
        return pd.DataFrame({"expected_revenue": scores})


def artifact_baseline(path: Path, meta: dict, model, task: str):
    """The baseline recommender a saved "for you" model serves ``task``'s list with (``"all"``
    or ``"discovery"``), rebuilt from its files; None when the ranker serves it."""
    import scipy.sparse as sp

    from features.artifacts import load_arrays
    from training.recommenders import (
        EASERecommender,
        ItemKNNRecommender,
        PopularityRecommender,
        RepurchaseRecommender,
    )

    name = (meta.get("served") or {}).get(task, "blended")
    if name == "blended":
        return None
    arrays = load_arrays(path)
    popularity = PopularityRecommender()
    popularity.item_scores_ = arrays["trending" if name == "trending" else "popularity"]
    if name in ("popularity", "trending"):
        return popularity
    if name == "repurchase":
        est = RepurchaseRecommender()
        est.popularity_ = popularity
        return est
    if name == "ease":
        est = EASERecommender(model.params.ease_l2)
        est.item_weights_ = model.item_weights_
        return est
    est = ItemKNNRecommender()
    n = len(popularity.item_scores_)
    est.similarity_ = sp.csr_matrix((arrays["knn_scores"], arrays["knn_indices"], arrays["knn_indptr"]),
                                    shape=(n, n))
    return est


class ForYou:
    """The blended "for you" recommender over its frozen purchase history."""

    def __init__(self, path: Path):
        from training.ranker import BlendedRecommender

        self.model = BlendedRecommender.load(path)
        meta = json.loads((path / "meta.json").read_text())
        # The lists a baseline serves in the ranker's place (it beat it on validation).
        self.baselines = {task: artifact_baseline(path, meta, self.model, task)
                          for task in ("all", "discovery")}

    def predict(self, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        users, items = self.model.history_.users, self.model.history_.items
        ids = model_input["customer_id"].astype(str).tolist()
        k = model_input["k"].astype(int).tolist() if "k" in model_input else [10] * len(ids)
        include = (model_input["include_purchased"].astype(bool).tolist()
                   if "include_purchased" in model_input else [True] * len(ids))
        lists = []
        for customer, n, purchased in zip(ids, k, include, strict=True):
            if customer not in users:
                lists.append([])
                continue
            row = np.array([users.index(customer)])
            baseline = self.baselines["all" if purchased else "discovery"]
            if baseline is not None:
                top, _ = baseline.recommend(np.arange(1), self.model.history_.rows(row).orders, n,
                                            filter_purchased=not purchased)
            else:
                top, _ = self.model.recommend(row, n, include_purchased=purchased)
            lists.append([str(items.ids[i]) for i in top[0] if i >= 0])
        return pd.DataFrame({"item_ids": lists})


def _load_pyfunc(path: str):
    """MLflow's entry: the model in directory ``path``."""
    model_dir = Path(path)
    meta = json.loads((model_dir / "meta.json").read_text())
    if meta["format"] == RECS_FORMAT:
        return ForYou(model_dir)
    if meta["format"] == LGBM_FORMAT:
        return CustomerScores(model_dir, meta)
    raise ValueError(f"{model_dir}: model format {meta['format']!r} is not one shelfwise reads")
