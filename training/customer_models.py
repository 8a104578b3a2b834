"""LightGBM churn classifier and CLTV regressor on stacked cutoff snapshots.

Both are trained on the training set of :func:`features.customer_features.build_training_set`:
the last cutoff is the validation window for early stopping, then the model is refit on
every cutoff with the number of rounds found. Models are saved as LightGBM's text format
plus a JSON description, never pickled.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.customer_features import (
    CHURNED,
    CUTOFF,
    DEFAULT_FEATURE_SET,
    FUTURE_REVENUE,
    get_feature_set,
)

FORMAT = "shelfwise-lgbm-v1"
BOOSTER = "model.lgb"
META = "meta.json"

TASKS = {
    # task: (label column, LightGBM objective)
    "churn": (CHURNED, "binary"),
    # Tweedie handles the many zeros and the heavy tail of spend in one model.
    "cltv": (FUTURE_REVENUE, "tweedie"),
}


@dataclass
class CustomerModelParams:
    """Hyper-parameters shared by the churn and CLTV boosters."""

    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 40
    max_rounds: int = 500
    early_stopping_rounds: int = 30
    seed: int = 0


class CustomerModel:
    """A LightGBM booster for one task (``"churn"`` or ``"cltv"``) on one feature set's columns."""

    def __init__(self, task: str = "churn", params: CustomerModelParams | None = None,
                 feature_set: str = DEFAULT_FEATURE_SET):
        self.task = task
        self.params = params
        self.feature_set = feature_set

    @property
    def columns(self) -> list[str]:
        return list(get_feature_set(self.feature_set).columns)

    def _lgb_params(self) -> dict:
        p = self.params or CustomerModelParams()
        return {
            "objective": TASKS[self.task][1], "learning_rate": p.learning_rate,
            "num_leaves": p.num_leaves, "min_child_samples": p.min_child_samples,
            "seed": p.seed, "deterministic": True, "num_threads": 2, "verbose": -1,
        }

    def fit(self, training_set: pd.DataFrame) -> CustomerModel:
        """Early-stop on the last cutoff, then refit on all cutoffs."""
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {list(TASKS)}")
        p = self.params or CustomerModelParams()
        label = TASKS[self.task][0]
        X, y = self._xy(training_set, label)
        last = training_set[CUTOFF] == training_set[CUTOFF].max()
        if last.all():
            self.best_rounds_ = p.max_rounds // 5
        else:
            probe = lgb.train(
                self._lgb_params(), lgb.Dataset(X[~last.to_numpy()], y[~last.to_numpy()]),
                num_boost_round=p.max_rounds,
                valid_sets=[lgb.Dataset(X[last.to_numpy()], y[last.to_numpy()])],
                callbacks=[lgb.early_stopping(p.early_stopping_rounds, verbose=False)],
            )
            self.best_rounds_ = max(probe.best_iteration, 1)
        self.booster_ = lgb.train(self._lgb_params(), lgb.Dataset(X, y),
                                  num_boost_round=self.best_rounds_)
        return self

    def _xy(self, df: pd.DataFrame, label: str) -> tuple[np.ndarray, np.ndarray]:
        y = df[label].to_numpy(float)
        if label == FUTURE_REVENUE:
            y = np.clip(y, 0.0, None)  # Tweedie needs non-negative targets; net losses are rare
        return df[self.columns].to_numpy(float), y

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Churn probability or expected revenue per row of ``features``."""
        return self.booster_.predict(features[self.columns].to_numpy(float))

    def save(self, path: Path, extra_meta: dict) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.booster_.save_model(str(path / BOOSTER))
        meta = {
            "format": FORMAT, "task": self.task, "feature_set": self.feature_set,
            "feature_columns": self.columns, "best_rounds": self.best_rounds_,
            "params": asdict(self.params or CustomerModelParams()), **extra_meta,
        }
        (path / META).write_text(json.dumps(meta, indent=2, default=str))

    @classmethod
    def load(cls, path: Path) -> tuple[CustomerModel, dict]:
        meta = json.loads((path / META).read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        try:
            columns = list(get_feature_set(meta.get("feature_set")).columns)
        except KeyError as exc:
            raise ValueError(f"{path}: {exc.args[0]}") from None
        if meta.get("feature_columns") != columns:
            raise ValueError(f"{path}: feature set {meta['feature_set']!r} had other columns when "
                             "this model was trained; retrain it")
        model = cls(meta["task"], CustomerModelParams(**meta["params"]), meta["feature_set"])
        model.booster_ = lgb.Booster(model_file=str(path / BOOSTER))
        model.best_rounds_ = meta["best_rounds"]
        return model, meta
