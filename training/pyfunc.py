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
  ``item_ids``, the "for you" list of each known customer, out (empty for an unknown one).
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


class ForYou:
    """The blended "for you" recommender over its frozen purchase history."""

    def __init__(self, path: Path):
        from training.ranker import BlendedRecommender

        self.model = BlendedRecommender.load(path)

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
            top, _ = self.model.recommend(np.array([users.index(customer)]), n, include_purchased=purchased)
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
