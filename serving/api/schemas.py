"""Request and response models of the HTTP API, with descriptions and examples for OpenAPI."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import uuid4

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.schema import EVENT_TYPES
from serving.api.openapi import as_openapi30
from serving.marketing.segments import SegmentFilter


class Model(BaseModel):
    model_config = ConfigDict(json_schema_extra=as_openapi30)


class ErrorBody(Model):
    """Every error's body (``serving.api.errors`` gives FastAPI's routes the same shape)."""

    error: str = Field(description="What is wrong.", examples=["invalid request"])
    detail: str = Field("", description="Where: the field and what it must be.",
                        examples=["path.customer_id: String should have at most 64 characters"])


Id = Annotated[str, Field(min_length=1, max_length=64)]
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
ItemId = Annotated[str, Field(min_length=1, max_length=64, examples=["85123A"])]
SOURCES = ("personal: the model's list for this customer (the ranker's, or the baseline /v1/status "
           "names); similar_to_recent: like what the shopper viewed or carted just now; similar / "
           "bought_together / popular_in_category: item and cart lists; buy_again / bought_recently: "
           "the customer's own items; trending, popular: fallbacks")


class ListOptions(Model):
    """The shop's rules, accepted by every endpoint that returns items."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(10, ge=1, le=100, description="Number of items to return.")
    offset: int = Field(0, ge=0, le=1000, description="Items to skip, for paging.")
    exclude_item_ids: list[ItemId] = Field(
        default_factory=list, max_length=500, description="Never return these (unknown ids are ignored).")
    category: str | list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, description="Only items of this category, or of any of these.", examples=[["Kitchen"]])
    in_stock_only: bool = Field(True, description="Leave out items marked out of stock.")
    min_price: float | None = Field(None, ge=0, allow_inf_nan=False,
                                    description="Lowest price; items without a price drop out.")
    max_price: float | None = Field(None, ge=0, allow_inf_nan=False,
                                    description="Highest price; items without a price drop out.")
    max_per_category: int | None = Field(
        None, ge=1, le=100, description="Diversity: at most this many items of one category.")

    @model_validator(mode="after")
    def _price_range(self):
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise ValueError(f"min_price {self.min_price} is above max_price {self.max_price}")
        return self

    @property
    def categories(self) -> list[str]:
        return [self.category] if isinstance(self.category, str) else list(self.category or [])


class RecommendRequest(ListOptions):
    user_id: Id | None = Field(None, description="The retailer's customer id.", examples=["13085"])
    session_id: Id | None = Field(None, description="An anonymous visitor's session id (when no user_id).")
    include_purchased: bool | None = Field(
        None, description="Whether items the customer already bought may appear (re-orders). "
                          "Default: the shop's setting SHELFWISE_INCLUDE_PURCHASED (true).")

    @model_validator(mode="after")
    def _who(self):
        if self.user_id is None and self.session_id is None:
            raise ValueError("give user_id (a customer) or session_id (an anonymous visitor)")
        return self


class ShownTo(ListOptions):
    """Lists that do not depend on the shopper may still say who is shown them, so that the
    shopper's purchases of a listed item are credited to the list (attribution)."""

    user_id: Id | None = Field(None, description="The customer shown the list (does not change it).")
    session_id: Id | None = Field(None, description="The session shown the list (does not change it).")


class TrendingRequest(ShownTo):
    pass


class SimilarItemsRequest(ShownTo):
    item_id: ItemId = Field(description="The item whose page is shown.")


class BoughtTogetherRequest(ShownTo):
    item_ids: list[ItemId] = Field(min_length=1, max_length=50, description="The cart's items.",
                                   examples=[["85123A"]])


class BuyAgainRequest(ListOptions):
    user_id: Id = Field(examples=["13085"])


class Event(Model):
    model_config = ConfigDict(extra="forbid")

    event_id: Id = Field(default_factory=lambda: uuid4().hex,
                         description="Unique id; a retried event with the same id is stored once.")
    user_id: Id | None = None
    session_id: Id | None = None
    item_id: ItemId
    event_type: Literal[EVENT_TYPES] = Field(examples=["view"])  # type: ignore[valid-type]
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC),
                                description="When it happened (ISO 8601); default: now.")
    price: float | None = Field(None, ge=0, allow_inf_nan=False)
    quantity: float | None = Field(None, allow_inf_nan=False)
    recommendation_id: Id | None = Field(
        None, description="The recommendation_id of the answer this event came from (a click on a listed "
                          "item is a view with it); purchases without one are credited by the last-touch "
                          "rule (docs/api.md, \"Exposures and attribution\").")

    @model_validator(mode="after")
    def _who(self):
        if self.user_id is None and self.session_id is None:
            raise ValueError("each event needs user_id or session_id")
        return self

    @field_validator("timestamp")
    @classmethod
    def _plausible_time(cls, value: datetime) -> datetime:
        # Stored events are read back as nanosecond timestamps (years 1677-2262): a far-off
        # date would stop the next start (found by the fuzz run). Allow a day of clock skew.
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        if not EARLIEST <= aware <= datetime.now(UTC) + timedelta(days=1):
            raise ValueError(f"timestamp {value.isoformat()} is not between {EARLIEST.date()} and tomorrow")
        return value


class ItemUpdate(Model):
    model_config = ConfigDict(extra="forbid")

    item_id: ItemId
    title: str | None = Field(None, max_length=300)
    category: str | None = Field(None, max_length=100)
    price: float | None = Field(None, ge=0, allow_inf_nan=False)
    in_stock: bool | None = None


class RecommendedItem(Model):
    item_id: str = Field(description="The retailer's item id (stock code).", examples=["85123A"])
    title: str = Field(description="Item title.", examples=["WHITE HANGING HEART T-LIGHT HOLDER"])
    score: float = Field(description="Score within its source; only the order is meaningful.")
    source: str = Field(description=SOURCES, examples=["personal"])
    category: str = Field(description="Item category ('' when the catalogue has none).")
    price: float | None = Field(description="Current price, when known.")


def item_fields(item_id: str, title: str, score: float, source: str, category: str, price: float) -> dict:
    """One :class:`RecommendedItem` as plain values (``price`` NaN: unknown), for
    :func:`list_json`."""
    return {"item_id": item_id, "title": title, "score": float(score), "source": source,
            "category": category, "price": None if math.isnan(price) else float(price)}


RECOMMENDATION_ID = Field(description="This answer's id: post the shopper's clicks and purchases from it "
                                      "with it (POST /events), so they are credited to it.",
                          examples=["3f2c9a0e5b7d4e1f8a6c2b9d0e4f7a1c"])
VARIANT = Field(description='The arm of an experiment that answered ("champion" outside experiments).',
                examples=["champion"])


class ItemsResponse(Model):
    recommendation_id: str = RECOMMENDATION_ID
    variant: str = VARIANT
    items: list[RecommendedItem]
    model_version: str = Field(description="Registered model name/version that answered.",
                               examples=["shelfwise-recs/1"])


class RecommendResponse(ItemsResponse):
    user_id: str | None = Field(examples=["13085"])
    session_id: str | None = None
    fallback: bool = Field(
        description="True when the model does not know the customer: the list comes from live "
                    "events, trending and popular items.")
    include_purchased: bool = Field(description="Whether items the customer bought before could appear.")


def list_json(items: list[dict], model_version: str, **fields) -> bytes:
    """The body of an :class:`ItemsResponse`, or with ``fields`` (in field order) of a
    :class:`RecommendResponse`, as ``model_dump_json`` writes it, from values already of
    their types (:func:`item_fields`), by pydantic's own JSON writer. Building and validating
    the models took about a quarter of an uncached "for you" answer's time in the handler, and
    the standard library's ``json`` writes floats four times slower; the test suite checks
    that both write the same bytes."""
    body = {"items": items, "model_version": model_version, **fields}
    return pydantic_core.to_json(body, inf_nan_mode="null")


def with_exposure(body: bytes, recommendation_id: str, variant: str) -> bytes:
    """``body`` (from :func:`list_json`) with the answer's id and variant put first, as
    :class:`ItemsResponse` writes them: a cached answer is served again under a new id."""
    return b'{"recommendation_id":"%s","variant":"%s",%s' % (recommendation_id.encode(), variant.encode(),
                                                             body[1:])


class Pong(Model):
    ok: bool = True


class Accepted(Model):
    received: int
    stored: int = Field(description="New ones; events already stored (same event_id) are not counted.")


class Driver(Model):
    feature: str = Field(examples=["recency_days"])
    value: float | None = Field(description="The customer's value of the feature (null: unknown).")
    contribution: float = Field(description="Push on the model's raw score (log-odds for churn, log "
                                            "spend for CLTV); positive raises the prediction.")


class CustomerResponse(Model):
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
                    "the customer is more likely gone than alive or the wait is longer than the "
                    "shop's history.", examples=["2012-01-15"])
    days_since_last_order: float
    as_of: str = Field(description="Date the customer's features were computed for (ISO).")
    feature_set: str = Field(examples=["customer_v2"])
    model_versions: dict[str, str] = Field(
        examples=[{"churn": "shelfwise-churn/1", "cltv": "shelfwise-cltv/1"}])


class StatusResponse(Model):
    ready: bool = Field(description="Requests are answered (also when degraded).")
    state: Literal["ok", "degraded"] = Field(
        description="'degraded': the last attempt to read the registry's champions failed, so the "
                    "models served (the last good ones, cached in the workspace at start-up) may not "
                    "be the champions; 'registry' says why.")
    workspace: str | None = Field(None, description="The workspace directory (admin keys only).")
    models: dict[str, str] = Field(description="Family -> registered model name/version served.")
    families: dict[str, str] = Field(
        default_factory=dict,
        description="Every model family (recs, churn, cltv): the version served (and which baseline serves "
                    "in its place when one beat the trained model on validation), or 'no champion' and the "
                    "command that trains one. Endpoints of a family without one answer 503.")
    experiment: str | None = Field(None, description="The running A/B test: its name, the challenger version "
                                                      "and the share of shoppers it answers.")
    customers_scored: int
    features_as_of: str
    recs_purchases_to: str | None = Field(
        None, description="The last day of purchases in the recommender's history: a customer who first "
                          "bought later is new to it until the next `train recs`.")
    registry: str = Field(description="'ok', or why the last check for new champions failed (the "
                                      "service keeps serving the models it has; the reason, with "
                                      "any credentials blanked, to admin keys only).")
    last_registry_check: str | None = None


class ReloadResponse(Model):
    requested: bool = Field(description="Every worker checks the registry within about a second.")
    models: dict[str, str] = Field(description="The versions this worker served when asked; "
                                               "GET /v1/status shows them after the switch.")
    registry: str = Field(description="'ok', or why this worker's last check failed.")


class SegmentQuery(Model):
    """A named segment (built in or saved) or an ad-hoc filter, one page of members at a time."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=64, examples=["rfm-champions"],
                             description="A built-in or saved segment (`shelfwise segments list`).")
    filter: SegmentFilter | None = Field(
        None, description="Conditions that must all hold.",
        examples=[{"rfm_segment": ["Champions"], "never_bought_category": ["garden"]}])
    limit: int = Field(100, ge=1, le=1000, description="Members per page.")
    offset: int = Field(0, ge=0, description="Members to skip.")

    @model_validator(mode="after")
    def _one(self):
        if (self.name is None) == (self.filter is None):
            raise ValueError("give either name (a built-in or saved segment) or filter (ad-hoc conditions)")
        return self


class SegmentPage(Model):
    segment: str
    definition: dict = Field(description="The conditions members meet.")
    size: int = Field(description="All members, not only this page.")
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")
    as_of: str
    model_versions: dict[str, str]
    customers: list[dict] = Field(description="customer_id, segment and the scores behind membership.")


class OfferRequest(Model):
    model_config = ConfigDict(extra="forbid")

    customer_id: Id = Field(examples=["13085"])
    campaign: str | None = Field(None, max_length=64, description="Choose among this campaign's offers only.")


class OfferAlternative(Model):
    offer: str
    expected_value: float


class OfferResponse(Model):
    recommendation_id: str = RECOMMENDATION_ID
    variant: str = VARIANT
    customer_id: str
    offer: str = Field(description='The offer to send, or "no offer" when none pays.')
    description: str | None = None
    expected_value: float = Field(description="Expected margin minus cost, in the shop's currency.")
    expected_revenue: float
    cost: float
    reason: str = Field(description="The formula with this customer's numbers.")
    alternatives: list[OfferAlternative]
    bundle: list[str] | None = Field(None, description="Item ids of a cross-sell bundle.")
    inputs: dict = Field(description="The scores and profile the decision used (also in the decision log).")
    propensity: float = Field(description="The probability the policy took this decision with: the best "
                                          "offer most of the time, another open one at the catalogue's "
                                          "exploration rate (offers evaluate needs it).")
    explored: bool = Field(description="Taken at random (exploration) rather than as the best.")
    assumptions: dict
    as_of: str
    model_versions: dict[str, str]
