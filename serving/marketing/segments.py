"""Segments: who is in "champions who never bought garden items", and why.

:class:`CustomerBase` joins, per customer, the served churn and CLTV scores, the RFM group
and lifecycle stage (:mod:`features.profiles`), attributes and spend per category, and
answers a :class:`SegmentFilter`: a typed query whose conditions all hold at once (a list
means any of its values). Built-in segments (:data:`BUILT_IN`) are filters with names;
saved segments (:class:`SavedSegments`) are filters a marketer named, kept in the
workspace with their size and when they were computed.

"Likely buyers of item or category X" ranks customers by the recommender's item-model
score for X (EASE, Steck 2019: the customer's purchases times the item-item weights), the
item-affinity idea of AWS Personalize's segment recipes.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.item_weights import column_sums
from features.profiles import LIFECYCLE_STAGES, RFM_SEGMENTS
from serving.api.openapi import as_openapi30
from serving.runtime.models import RISK_BANDS, BlendedRuntime
from serving.runtime.registry import MissingFamilyError
from serving.runtime.score_table import ScoredCustomers

RfmSegment = Literal[RFM_SEGMENTS]  # type: ignore[valid-type]
Lifecycle = Literal[LIFECYCLE_STAGES]  # type: ignore[valid-type]
RiskBand = Literal[tuple(RISK_BANDS[1])]  # type: ignore[valid-type]
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # fullmatch: "$" would let a trailing newline in
AFFINITY_CHUNK = 50_000  # customers unpacked at a time for a likely-buyers query
# Likely-buyers scores kept per loaded model, by target: paging through one query, or
# exporting it, unpacks every customer once instead of once per page (float32: 4 MB each
# at a million customers).
AFFINITY_TARGETS = 8


class SegmentError(ValueError):
    """A filter that names something the data does not have."""


class UnknownSegmentError(SegmentError):
    """No built-in or saved segment has that name."""


class LikelyBuyers(BaseModel):
    """The ``top`` customers the recommender scores highest for an item or a category."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=as_openapi30)
    item_id: str | None = Field(None, min_length=1, max_length=64, examples=["85123A"])
    category: str | None = Field(None, min_length=1, max_length=64, examples=["garden"])
    top: int = Field(500, ge=1, le=100_000, description="How many customers, best first.")
    include_past_buyers: bool = Field(True, description="Whether customers who bought it already count.")

    @model_validator(mode="after")
    def _one_target(self) -> LikelyBuyers:
        if (self.item_id is None) == (self.category is None):
            raise ValueError("likely_buyers_of needs exactly one of item_id or category")
        return self


class SegmentFilter(BaseModel):
    """Conditions on a customer; all must hold. Lists mean "any of"; an unset field is no condition."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=as_openapi30)
    rfm_segment: list[RfmSegment] | None = Field(None, min_length=1, examples=[["Champions"]])
    lifecycle: list[Lifecycle] | None = Field(None, min_length=1, examples=[["at risk"]])
    risk_band: list[RiskBand] | None = Field(None, min_length=1, examples=[["high"]])
    churn_probability_min: float | None = Field(None, ge=0, le=1)
    churn_probability_max: float | None = Field(None, ge=0, le=1)
    cltv_top_percent: float | None = Field(
        None, gt=0, le=100, description="Customers among the top N% by predicted CLTV (10: the top decile)."
    )
    cltv_decile: list[int] | None = Field(
        None, min_length=1, description="1 = the top 10% by predicted CLTV."
    )
    predicted_cltv_min: float | None = None
    predicted_cltv_max: float | None = None
    country: list[str] | None = Field(None, min_length=1, examples=[["United Kingdom"]])
    tenure_days_min: int | None = Field(None, ge=0)
    tenure_days_max: int | None = Field(None, ge=0)
    orders_min: int | None = Field(None, ge=0)
    orders_max: int | None = Field(None, ge=0)
    revenue_min: float | None = None
    revenue_max: float | None = None
    last_order_after: date | None = Field(None, description="Last purchase on or after this day.")
    last_order_before: date | None = Field(None, description="Last purchase before this day.")
    bought_category: list[str] | None = Field(None, min_length=1, description="Bought in any of these.")
    never_bought_category: list[str] | None = Field(
        None, min_length=1, description="Bought in none of these."
    )
    likely_buyers_of: LikelyBuyers | None = None

    @model_validator(mode="after")
    def _deciles(self) -> SegmentFilter:
        if self.cltv_decile and not all(1 <= d <= 10 for d in self.cltv_decile):
            raise ValueError("cltv_decile values are 1 (top 10%) to 10")
        return self


# Columns an export carries for each condition: the scores behind the membership.
COLUMNS_OF = {
    "rfm_segment": ["rfm_segment", "r", "f", "m"],
    "lifecycle": ["lifecycle", "recency_days"],
    "risk_band": ["risk_band", "churn_probability"],
    "churn_probability": ["churn_probability"],
    "cltv": ["predicted_cltv", "cltv_decile"],
    "country": ["country"],
    "tenure_days": ["tenure_days"],
    "orders": ["orders"],
    "revenue": ["revenue"],
    "last_order": ["last_order_date"],
    "bought_category": [],
    "never_bought_category": [],
    "likely_buyers_of": ["affinity"],
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _built_in() -> dict[str, tuple[str, SegmentFilter]]:
    """``name -> (family, filter)`` of every built-in segment."""
    out: dict[str, tuple[str, SegmentFilter]] = {}
    for seg in RFM_SEGMENTS:
        out[f"rfm-{_slug(seg)}"] = ("RFM group", SegmentFilter(rfm_segment=[seg]))
    for stage in LIFECYCLE_STAGES:
        out[f"lifecycle-{_slug(stage)}"] = ("lifecycle stage", SegmentFilter(lifecycle=[stage]))
    for band in RISK_BANDS[1]:
        out[f"churn-risk-{band}"] = ("churn-risk band", SegmentFilter(risk_band=[band]))
    for pct in (1, 5, 10):
        out[f"cltv-top-{pct}pct"] = ("CLTV tier", SegmentFilter(cltv_top_percent=pct))
    for d in range(1, 11):
        out[f"cltv-decile-{d}"] = ("CLTV decile", SegmentFilter(cltv_decile=[d]))
    return out


BUILT_IN = _built_in()


def needs(f: SegmentFilter) -> tuple[str, ...]:
    """The model families whose scores a filter's conditions are on."""
    churn = any(v is not None for v in (f.risk_band, f.churn_probability_min, f.churn_probability_max))
    cltv = any(v is not None for v in (f.cltv_top_percent, f.cltv_decile, f.predicted_cltv_min,
                                       f.predicted_cltv_max))
    return ("churn",) * churn + ("cltv",) * cltv


class CustomerBase:
    """Every scored customer with what segments are defined on, as of the scorer's date.

    Parameters
    ----------
    scored :
        The served churn/CLTV scores (their ``as_of`` is the profiles' as well), the
        customers' profiles and their spend per category
        (:class:`serving.runtime.score_table.ScoredCustomers`).
    items :
        The workspace's items table, or None.
    recs :
        The served recommender, for "likely buyers"; ``None`` leaves that condition out.
    """

    def __init__(self, scored: ScoredCustomers, items: pd.DataFrame | None,
                 recs: BlendedRuntime | None = None):
        scorer = scored.scorer
        self.as_of = scorer.as_of
        self.scorer = scorer
        scores = scorer.frame[
            ["churn_probability", "risk_band", "predicted_cltv", "cltv_rank_pct", "cltv_decile",
             "next_purchase_date"]
        ]
        # The scorer's CLTV rank, so "top 10%" and decile 1 are the same customers.
        table = scored.profiles.join(scores, how="inner")
        self.table = table
        self.category_spend = scored.category_spend.reindex(table.index, fill_value=0.0)
        self.categories = sorted(self.category_spend.columns)
        self.countries = set(table["country"])
        self.recs = recs
        category = items.set_index("item_id")["category"] if items is not None else pd.Series(dtype=str)
        self.item_category = category.replace("", "other")
        self._affinity: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.table)

    # -- membership -----------------------------------------------------------------------
    def select(self, f: SegmentFilter) -> pd.DataFrame:
        """The members of a filter (rows of :attr:`table`, plus ``affinity`` when the
        filter asks for likely buyers, in that order; otherwise by customer id)."""
        self.scorer.require(needs(f), "a segment on churn or CLTV scores")
        t = self.table
        keep = pd.Series(True, index=t.index)

        def isin(column: str, values: list | None) -> None:
            nonlocal keep
            if values is not None:
                keep &= t[column].isin(values)

        def between(column: str, low, high) -> None:
            nonlocal keep
            if low is not None:
                keep &= t[column] >= low
            if high is not None:
                keep &= t[column] <= high

        isin("rfm_segment", f.rfm_segment)
        isin("lifecycle", f.lifecycle)
        isin("risk_band", f.risk_band)
        isin("cltv_decile", f.cltv_decile)
        if f.country is not None:
            unknown = sorted(set(f.country) - self.countries)
            if unknown:
                raise SegmentError(
                    f"country: no customer is in {unknown}; known countries include "
                    f"{sorted(self.countries)[:8]}"
                )
            isin("country", f.country)
        between("churn_probability", f.churn_probability_min, f.churn_probability_max)
        between("predicted_cltv", f.predicted_cltv_min, f.predicted_cltv_max)
        between("tenure_days", f.tenure_days_min, f.tenure_days_max)
        between("orders", f.orders_min, f.orders_max)
        between("revenue", f.revenue_min, f.revenue_max)
        if f.cltv_top_percent is not None:
            keep &= t["cltv_rank_pct"] <= f.cltv_top_percent
        if f.last_order_after is not None:
            keep &= t["last_order_date"] >= pd.Timestamp(f.last_order_after)
        if f.last_order_before is not None:
            keep &= t["last_order_date"] < pd.Timestamp(f.last_order_before)
        if f.bought_category is not None:
            keep &= self._spend(f.bought_category, "bought_category").gt(0).any(axis=1)
        if f.never_bought_category is not None:
            keep &= ~self._spend(f.never_bought_category, "never_bought_category").gt(0).any(axis=1)
        members = t[keep]
        if f.likely_buyers_of is None:
            return members.sort_index()
        scores = self.affinity(f.likely_buyers_of)
        rows = self.recs.history.users.indices(members.index)
        affinity = np.where(rows >= 0, scores[rows], np.nan)
        members = members.assign(affinity=affinity.astype(float)).dropna(subset=["affinity"])
        members = members[members["affinity"] > 0]
        return members.sort_values("affinity", ascending=False, kind="stable").head(f.likely_buyers_of.top)

    def _spend(self, categories: list[str], field: str) -> pd.DataFrame:
        unknown = sorted(set(categories) - set(self.categories))
        if unknown:
            raise SegmentError(f"{field}: unknown categories {unknown}; the catalogue has {self.categories}")
        return self.category_spend[categories]

    def affinity(self, target: LikelyBuyers) -> np.ndarray:
        """Each customer the recommender knows (in its customer order), scored for the item
        or category (higher = likelier); customers who bought it already score 0 unless
        asked for."""
        if self.recs is None:
            raise MissingFamilyError(["recs"], "likely_buyers_of")
        key = (target.item_id, target.category, target.include_past_buyers)
        if key in self._affinity:
            self._affinity.move_to_end(key)
            return self._affinity[key]
        ids = np.asarray(self.recs.item_ids, dtype=object)
        if target.item_id is not None:
            if target.item_id not in self.recs.history.items:
                raise SegmentError(
                    f"likely_buyers_of.item_id: {target.item_id!r} is not an item the recommender knows"
                )
            cols = np.array([self.recs.history.items.index(target.item_id)])
        else:
            cats = self.item_category.reindex(ids).fillna("other").to_numpy()
            cols = np.flatnonzero(cats == target.category)
            if not len(cols):
                raise SegmentError(
                    f"likely_buyers_of.category: no item of the recommender is in "
                    f"{target.category!r}; the catalogue has {self.categories}"
                )
        weights = column_sums(self.recs.item_weights, cols)
        history = self.recs.history
        n = len(history.users)
        score, bought = np.zeros(n, np.float32), np.zeros(n, bool)
        # Customers are unpacked a chunk at a time and scored as EASE scores them (what they
        # bought, 1/0): about 30 us each, and no copy of every purchase kept afterwards.
        for start in range(0, n, AFFINITY_CHUNK):
            rows = np.arange(start, min(n, start + AFFINITY_CHUNK))
            binary = history.rows(rows).orders
            binary.data[:] = 1.0
            score[rows] = binary @ weights
            bought[rows] = binary[:, cols].getnnz(axis=1) > 0
        if not target.include_past_buyers:
            score[bought] = 0.0
        self._affinity[key] = score
        if len(self._affinity) > AFFINITY_TARGETS:
            self._affinity.popitem(last=False)
        return score

    def export(self, name: str, f: SegmentFilter) -> pd.DataFrame:
        """Members as a marketer's tool takes them: customer id, segment name, and the scores
        the filter's conditions are about, nothing else."""
        members = self.select(f)
        columns: list[str] = []
        for field in type(f).model_fields:  # in declaration order: the same columns every time
            if field not in f.model_fields_set or getattr(f, field) is None:  # null: no condition
                continue
            key = re.sub(r"_(min|max|after|before)$", "", field)
            key = "cltv" if key.startswith("cltv") or key == "predicted_cltv" else key
            columns += [c for c in COLUMNS_OF.get(key, []) if c not in columns]
        for cat in dict.fromkeys((f.bought_category or []) + (f.never_bought_category or [])):
            columns.append(f"spend_{cat}")
            members = members.assign(**{f"spend_{cat}": self.category_spend.loc[members.index, cat]})
        out = members[columns].copy()
        for c in out.columns:
            if out[c].dtype.kind == "f":
                out[c] = out[c].round(4)
            elif out[c].dtype.kind == "M":
                out[c] = out[c].dt.date.astype(str)
        out.insert(0, "segment", name)
        return out.rename_axis("customer_id").reset_index()

    def family_sizes(self) -> pd.DataFrame:
        """Size of every built-in segment: ``family, segment, customers, share``."""
        rows = [(family, name, len(self.select(f))) for name, (family, f) in BUILT_IN.items()
                if set(needs(f)) <= set(self.scorer.families)]  # those the served models allow
        out = pd.DataFrame(rows, columns=["family", "segment", "customers"])
        out["share"] = (out["customers"] / max(len(self), 1)).round(4)
        return out


class SavedSegments:
    """Named filters in ``<workspace>/segments/NAME.json``, with the size and time of their
    last computation."""

    def __init__(self, directory: Path):
        self.dir = directory

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.dir.glob("*.json")) if self.dir.exists() else []

    def get(self, name: str) -> dict:
        """``{name, family, definition, size, computed_at, as_of}`` of a built-in or saved segment."""
        if name in BUILT_IN:
            family, f = BUILT_IN[name]
            return {"name": name, "family": family, "definition": f.model_dump(exclude_unset=True)}
        path = self.dir / f"{name}.json"
        if not NAME.fullmatch(name) or not path.exists():
            raise UnknownSegmentError(
                f"no segment named {name!r}; `shelfwise segments list` shows them "
                f"({len(BUILT_IN)} built in, {len(self.names())} saved)"
            )
        return json.loads(path.read_text())

    def segment(self, name: str) -> tuple[dict, SegmentFilter]:
        """A segment's record and its filter."""
        record = self.get(name)
        return record, SegmentFilter.model_validate(record["definition"])

    def filter(self, name: str) -> SegmentFilter:
        return self.segment(name)[1]

    def save(self, name: str, f: SegmentFilter, base: CustomerBase) -> dict:
        """Compute a filter and keep it under ``name`` (replacing one of that name)."""
        if not NAME.fullmatch(name):
            raise SegmentError(f"segment name {name!r}: use 1-64 lower-case letters, digits, '-' or '_'")
        if name in BUILT_IN:
            raise SegmentError(f"segment name {name!r} is a built-in segment; pick another")
        record = {
            "name": name,
            "family": "saved",
            "definition": f.model_dump(mode="json", exclude_unset=True),
            "size": len(base.select(f)),
            "as_of": base.as_of.date().isoformat(),
            "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{name}.json.tmp"
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(self.dir / f"{name}.json")
        return record
