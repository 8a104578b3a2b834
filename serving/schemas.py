"""Request and response models of the HTTP API, with descriptions and examples for OpenAPI."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RecommendedItem(BaseModel):
    item_id: str = Field(description="The retailer's item id (stock code).", examples=["85123A"])
    title: str = Field(description="Item title.", examples=["WHITE HANGING HEART T-LIGHT HOLDER"])
    score: float = Field(description="Model score; higher ranks first. Not a probability.")


class RecommendResponse(BaseModel):
    user_id: str = Field(examples=["13085"])
    items: list[RecommendedItem]
    fallback: bool = Field(
        description="True when the user is unknown to the model and popular items were returned.")
    source: str = Field(description="'blended' (or 'als' for older models) for personal recommendations, "
                                    "'popular' for the fallback.")
    include_purchased: bool = Field(description="Whether items the customer bought before could appear.")
    model_version: str = Field(description="Registered model name/version that answered.",
                               examples=["shelfwise-recs/1"])


class Driver(BaseModel):
    feature: str = Field(examples=["recency_days"])
    value: float | None = Field(description="The customer's value of the feature (null: unknown).")
    contribution: float = Field(description="Push on the model's raw score (log-odds for churn, log "
                                            "spend for CLTV); positive raises the prediction.")


class CustomerResponse(BaseModel):
    customer_id: str = Field(examples=["13085"])
    churn_probability: float = Field(
        ge=0, le=1, description="Probability of no purchase within churn_horizon_days after as_of.")
    churn_horizon_days: int = Field(examples=[90])
    predicted_cltv: float = Field(
        description="Predicted net revenue (GBP) within cltv_horizon_days after as_of.")
    cltv_horizon_days: int = Field(examples=[180])
    risk_band: str = Field(description="Churn risk: low (< 0.3), medium (< 0.6) or high.",
                           examples=["medium"])
    cltv_decile: int = Field(ge=1, le=10,
                             description="Predicted CLTV decile among all customers; 1 = top 10%.")
    cltv_tier: str = Field(description="'top 1%', 'top 5%', 'top 10%' or 'other' by predicted CLTV.")
    drivers: dict[str, list[Driver]] = Field(
        description="Per model ('churn', 'cltv'), the three features that moved this customer's "
                    "prediction most (LightGBM feature contributions).")
    next_purchase_date: str | None = Field(
        description="Expected date of the next purchase (BG/NBD median wait while alive); null when "
                    "the customer is more likely gone than alive.", examples=["2012-01-15"])
    days_since_last_order: float
    as_of: str = Field(description="Date the customer's features were computed for (ISO).")
    feature_set: str = Field(examples=["customer_v2"])
    model_versions: dict[str, str] = Field(
        examples=[{"churn": "shelfwise-churn/1", "cltv": "shelfwise-cltv/1"}])


class StatusResponse(BaseModel):
    ready: bool
    workspace: str
    models: dict[str, str] = Field(description="Family -> registered model name/version served.")
    customers_scored: int
    features_as_of: str
