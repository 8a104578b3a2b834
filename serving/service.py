"""The BentoML service: thin API methods over the runtime objects.

Start it with ``shelfwise serve`` (or ``python -m serving``), which checks that champion
models exist before handing over to ``bentoml serve``.
"""

from __future__ import annotations

import gc
import os
import tempfile
from pathlib import Path
from typing import Annotated

import bentoml
import pandas as pd
from bentoml.exceptions import NotFound
from fastapi import FastAPI
from pydantic import Field

from features.workspace import Settings, Workspace
from serving.registry import download_champions
from serving.runtime import CustomerScorer, load_recommender
from serving.schemas import (
    CustomerResponse,
    RecommendedItem,
    RecommendResponse,
    StatusResponse,
)

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

UserId = Annotated[str, Field(min_length=1, max_length=64, examples=["13085"],
                              description="The retailer's customer id.")]

status_app = FastAPI(title="shelfwise status")


@bentoml.asgi_app(status_app, path="/v1")
@bentoml.service(
    name="shelfwise",
    # A short timeout bounds how long per-request objects live (see README, "Serving").
    traffic={"timeout": 10},
    workers=1,
)
class Shelfwise:
    """Recommendations and customer scores from the MLflow registry's champion models."""

    def __init__(self) -> None:
        self.workspace = Workspace.from_settings(Settings())
        self._artifacts_dir = tempfile.TemporaryDirectory(prefix="shelfwise-serving-")
        artifacts = download_champions(self.workspace.tracking_uri, Path(self._artifacts_dir.name))
        self.versions = {family: a.label for family, a in artifacts.items()}
        self.recs = load_recommender(artifacts["recs"].path)
        self.settings = Settings()
        self.customers = CustomerScorer(artifacts["churn"].path, artifacts["cltv"].path,
                                        self.workspace.read_table("orders"),
                                        self.workspace.read_table_if_present("events"))
        # Loaded state never changes: keep it out of the collector's way (GC pauses under load).
        gc.collect()
        gc.freeze()

    @bentoml.api
    def recommend(
        self, user_id: UserId,
        k: Annotated[int, Field(ge=1, le=100, description="Number of items to return.")] = 10,
        include_purchased: Annotated[bool | None, Field(
            description="Whether items the customer already bought may appear (re-orders). "
                        "Default: the shop's setting SHELFWISE_INCLUDE_PURCHASED (true).")] = None,
    ) -> RecommendResponse:
        """"For you": one ranked list of re-orders and discoveries; popular items for a
        customer the model does not know."""
        include = self.settings.include_purchased if include_purchased is None else include_purchased
        items, fallback = self.recs.recommend(user_id, k, include)
        return RecommendResponse(
            user_id=user_id,
            items=[RecommendedItem(item_id=i.item_id, title=i.title, score=i.score) for i in items],
            fallback=fallback, source="popular" if fallback else self.recs.source,
            include_purchased=include, model_version=self.versions["recs"])

    @bentoml.api
    def customer(self, customer_id: UserId) -> CustomerResponse:
        """Churn probability and predicted lifetime value over the next horizon."""
        scores = self.customers.score(customer_id)
        if scores is None:
            raise NotFound(f"customer_id {customer_id!r} has no purchase history in the "
                           f"workspace's orders; scores exist only for known customers")
        churn, cltv, recency = scores
        row = self.customers.frame.loc[customer_id]
        return CustomerResponse(
            customer_id=customer_id, churn_probability=min(max(churn, 0.0), 1.0),
            churn_horizon_days=self.customers.churn_horizon_days,
            predicted_cltv=cltv, cltv_horizon_days=self.customers.cltv_horizon_days,
            risk_band=row["risk_band"], cltv_decile=int(row["cltv_decile"]), cltv_tier=row["cltv_tier"],
            next_purchase_date=None if pd.isna(row["next_purchase_date"])
            else row["next_purchase_date"].date().isoformat(),
            drivers={f: self.customers.drivers[f][customer_id] for f in ("churn", "cltv")},
            days_since_last_order=recency, as_of=self.customers.as_of.date().isoformat(),
            feature_set=self.customers.churn_meta["feature_set"],
            model_versions={f: self.versions[f] for f in ("churn", "cltv")})

    @status_app.get("/status", response_model=StatusResponse)
    def status(self) -> StatusResponse:
        """Which model versions are served and from which workspace."""
        return StatusResponse(
            ready=True, workspace=str(self.workspace.home), models=self.versions,
            customers_scored=len(self.customers.scores),
            features_as_of=self.customers.as_of.date().isoformat())
