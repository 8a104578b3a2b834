"""The BentoML service: thin API methods over :class:`serving.storefront.lists.Storefront`,
:class:`serving.runtime.models.CustomerScorer` and, for marketers, :class:`serving.marketing.tools.Marketing`
(segments, offers and the report).

Start it with ``shelfwise serve`` (or ``python -m serving``), which checks that champion
models exist before handing over to ``bentoml serve``. Each worker process loads the
models; live events and catalogue updates go through the live store (SQLite in the
workspace, or Redis), so every worker sees what any of them accepted. A background thread
polls the registry and swaps in a new champion without failing a request
(:mod:`serving.runtime.champions`); ``POST /admin/reload`` makes every worker check at once.
"""

from __future__ import annotations

from features import numerics

numerics.configure()  # the module BentoML's workers load: before numpy loads

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

import bentoml
import pandas as pd
from bentoml.exceptions import BadInput, NotFound, ServiceUnavailable
from fastapi import FastAPI, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import Field

from features.experiments.ab import CHAMPION
from features.version import code_version
from features.workspace import Workspace
from serving.api.access import AccessMiddleware, is_open, load_keys, may_call
from serving.api.errors import ErrorBodyMiddleware, keep_client_errors_out_of_the_log, report_start_failure
from serving.api.http_metrics import RequestMetricsMiddleware, metrics_page, route_paths
from serving.api.limits import LimitsMiddleware
from serving.api.openapi import DocumentMiddleware
from serving.api.schemas import (
    Accepted,
    BoughtTogetherRequest,
    BuyAgainRequest,
    CustomerResponse,
    ErrorBody,
    Event,
    ItemsResponse,
    ItemUpdate,
    ListOptions,
    OfferRequest,
    OfferResponse,
    Pong,
    RecommendRequest,
    RecommendResponse,
    ReloadResponse,
    SegmentPage,
    SegmentQuery,
    SimilarItemsRequest,
    StatusResponse,
    TrendingRequest,
    item_fields,
    list_json,
    with_exposure,
)
from serving.api.settings import ServiceSettings
from serving.marketing.offers import NO_OFFER
from serving.marketing.segments import SegmentError, UnknownSegmentError
from serving.marketing.spreadsheet import defuse_formulas
from serving.marketing.tools import Marketing, report_path
from serving.privacy import begin, erasure_status, finish_all, forgotten_elsewhere, unfinished
from serving.runtime.champions import (
    Arm,
    Champions,
    Models,
    load_champions,
    load_models,
    refreeze,
    registry_versions,
)
from serving.runtime.exposure_log import ExposureLog, items_json, new_recommendation_id
from serving.runtime.registry import MissingFamilyError, WorkerRegistry
from serving.storefront.lists import Storefront, UnknownItemsError
from serving.storefront.rules import Picked, Rules

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
log = logging.getLogger("shelfwise")

UserId = Annotated[str, Field(min_length=1, max_length=64, examples=["13085"],
                              description="The retailer's customer id.")]

status_app = FastAPI(title="shelfwise status")
# GET pages (a segment's CSV, the report). Mounted at the root but matched only when one of
# its routes matches, after the service's own API routes.
pages_app = FastAPI(title="shelfwise pages", docs_url=None, redoc_url=None, openapi_url=None)
# FastAPI documents its own 422 body for routes with parameters; ErrorBodyMiddleware answers
# ours, so the document says so (schemathesis checks every answer against it).
BAD_PATH = {422: {"model": ErrorBody, "description": "A path parameter is invalid."}}
EXPORT_CHUNK = 5000
ERASURE_SYNC_SECONDS = 5.0  # how soon a replica erases its disk of a customer forgotten through another
SETTINGS = ServiceSettings()
# The storefront's calls (and the no-op the load benchmark compares them with).
HOT_PATHS = ("recommend", "similar_items", "frequently_bought_together", "buy_again", "trending", "events",
             "ping")


def _shown_items(picked: list[Picked], front: Storefront) -> str:
    return items_json([front.catalogue.ids[p.item] for p in picked])


def _rules(options: ListOptions, front: Storefront) -> Rules:
    excluded, _ = front.catalogue.positions(list(options.exclude_item_ids or []))
    return Rules(exclude=frozenset(excluded.tolist()), categories=frozenset(options.categories),
                 in_stock_only=options.in_stock_only, min_price=options.min_price,
                 max_price=options.max_price, max_per_category=options.max_per_category,
                 offset=options.offset)


@bentoml.asgi_app(status_app, path="/v1")
@bentoml.asgi_app(pages_app, path="")
@bentoml.service(
    name="shelfwise",
    # A short timeout bounds how long per-request objects live (docs/api.md).
    traffic={"timeout": 10},
    workers=SETTINGS.workers,
    logging={"access": {"enabled": SETTINGS.access_log}},
    # BentoML's OpenTelemetry middleware opens spans for every request even though, at its
    # default sample rate (0), no trace is kept: about a sixth of a worker's CPU under
    # /recommend load (py-spy). The storefront's hot paths skip it; the rest stay traceable.
    tracing={"excluded_urls": [rf"/({'|'.join(HOT_PATHS)})(\?|$)"]},
    # BentoML labels its HTTP metrics with the raw path; serving.api.http_metrics counts by route instead.
    metrics={"enabled": False},
)
class Shelfwise:
    """Storefront recommendations and customer scores from the registry's champion models."""

    def __init__(self) -> None:
        self.workspace = Workspace.from_settings(SETTINGS)
        try:
            self.store = store = self.workspace.live_store()
            store.compact_item_updates()  # one row per updated item to replay, at each start
            registry = WorkerRegistry(self.workspace)
            cache = registry.cache
            self.champions = Champions(lambda: load_champions(self.workspace, store, cache, registry.view()),
                                       lambda: registry_versions(registry.view()), store,
                                       fallback=lambda: load_models(self.workspace, store, cache.last_good()))
        except Exception as exc:  # broken artifact, unreachable live store: stop, don't loop
            report_start_failure(exc)
            raise
        self.champions.poll(SETTINGS.reload_seconds)
        self.exposures = ExposureLog(store, enabled=SETTINGS.log_exposures, keep_days=SETTINGS.exposure_days)
        # Rewriting files for an erasure takes seconds: one at a time, off the request path.
        self._erasures = ThreadPoolExecutor(max_workers=1, thread_name_prefix="erasure")
        for customer_id in unfinished(self.workspace):  # begun before a stop
            self._erasures.submit(self._finish_erasure, customer_id)
        if self.workspace.live_store_url:  # other replicas share the forgotten list: erase here too
            threading.Thread(target=self._erase_forgotten_elsewhere, daemon=True, name="erasure-sync").start()
        # Loaded state never changes: keep it out of the collector's way (GC pauses under load).
        refreeze()

    @property
    def models(self) -> Models:
        return self.champions.models

    # -- storefront ---------------------------------------------------------------------
    # The storefront's lists are `async def`: BentoML runs them on the event loop instead of
    # handing each request to a thread. With the embedded live store they do no slow I/O
    # (cached lists, local SQLite reads; a cold list is about 1.6 ms of compute), and the
    # hand-off cost more than the work: worker CPU per /recommend 1.19-1.23 ms against
    # 1.58-3.55 ms (docs/benchmarks.md, "Serving"). With Redis their reads are round trips
    # on the loop (one for /recommend); threads were slower with a local Redis (docs/api.md,
    # "Several machines"). Writes (/events, /items) and the marketers' calls stay in threads.
    def _serve(self, endpoint: str, user_id: str | None, session_id: str | None,
               pick: Callable[[Storefront], list[Picked]]) -> Response:
        """A list from the storefront of the shopper's arm (:meth:`Models.arm`: the champion's,
        or a running A/B test's challenger), logged as an exposure with its time; an answer
        that fails is logged too (the test's guardrails), then raised."""
        start = time.perf_counter()
        arm = self.models.arm(user_id or session_id)
        if arm.storefront is None:
            return unavailable(["recs"], endpoint)
        try:
            picked = pick(arm.storefront)
        except (NotFound, BadInput):
            raise
        except Exception:
            self._failed(endpoint, arm, user_id, session_id, start)
            raise
        front = arm.storefront
        body = list_json(self._answer(picked, front), arm.version)
        return self._shown(endpoint, body, _shown_items(picked, front), arm, user_id, session_id, start)

    def _shown(self, endpoint: str, body: bytes, shown: str, arm: Arm, user_id: str | None,
               session_id: str | None, start: float) -> Response:
        """The answer under a new ``recommendation_id``, its exposure (``shown``: its items,
        :func:`items_json`) logged off the request path (:mod:`serving.runtime.exposure_log`)."""
        rid = new_recommendation_id()
        self.exposures.shown(endpoint, arm.variant, arm.version, user_id, session_id, shown, rid,
                             ms=(time.perf_counter() - start) * 1000)
        return Response(with_exposure(body, rid, arm.variant), media_type="application/json")

    def _failed(self, endpoint: str, arm: Arm, user_id: str | None, session_id: str | None,
                start: float) -> None:
        self.exposures.shown(endpoint, arm.variant, arm.version, user_id, session_id, "[]",
                             new_recommendation_id(), ms=(time.perf_counter() - start) * 1000, status=500)

    @staticmethod
    def _answer(picked: list[Picked], front: Storefront) -> list[dict]:
        cat = front.catalogue
        return [item_fields(cat.ids[p.item], cat.titles[p.item], p.score, p.source, cat.category[p.item],
                            cat.price[p.item]) for p in picked]

    @bentoml.api(input_spec=RecommendRequest)
    async def recommend(self, **fields) -> RecommendResponse:
        """"For you": exactly k items when the catalogue allows it, filled personal -> similar
        to recent views -> trending -> popular, each item naming its source."""
        start = time.perf_counter()
        models = self.models
        user_id, session_id = fields["user_id"], fields["session_id"]
        arm = models.arm(user_id or session_id)
        if (front := arm.storefront) is None:
            return unavailable(["recs"], "/recommend")
        try:
            shopper = front.shopper(user_id, session_id)
            if shopper.forgotten:  # answered like an unknown visitor (their history is gone)
                user_id, shopper = None, front.shopper(None, session_id)
            # The same request from the same live state gets the same answer (serving.storefront.answers);
            # a shopper's arm is fixed by their id, so the key holds it too.
            key = (user_id, *[tuple(v) if type(v) is list else v for v in fields.values()])
            cached = models.answers.get(key, shopper)
            if cached is not None:
                body, shown = cached
            else:
                req = RecommendRequest.model_construct(**fields)
                include = req.include_purchased
                include = SETTINGS.include_purchased if include is None else include
                picked, known = front.recommend(user_id, req.session_id, req.k, _rules(req, front), include,
                                                shopper)
                body = list_json(self._answer(picked, front), arm.version, user_id=req.user_id,
                                 session_id=req.session_id, fallback=not known, include_purchased=include)
                shown = _shown_items(picked, front)
                models.answers.put(key, shopper, body, front.valid_until(picked, req.k), shown)
        except Exception:
            self._failed("/recommend", arm, user_id, session_id, start)
            raise
        return self._shown("/recommend", body, shown, arm, user_id, session_id, start)

    @bentoml.api(input_spec=SimilarItemsRequest)
    async def similar_items(self, **fields) -> ItemsResponse:
        """Item page: items like this one."""
        req = SimilarItemsRequest.model_construct(**fields)
        return self._serve("/similar_items", req.user_id, req.session_id, lambda front: self._catch(
            lambda: front.similar_items(req.item_id, req.k, _rules(req, front)), not_found=True))

    @bentoml.api(input_spec=BoughtTogetherRequest)
    async def frequently_bought_together(self, **fields) -> ItemsResponse:
        """Cart: items often bought with these."""
        req = BoughtTogetherRequest.model_construct(**fields)
        return self._serve("/frequently_bought_together", req.user_id, req.session_id,
                           lambda front: self._catch(lambda: front.bought_together(
                               req.item_ids, req.k, _rules(req, front)), not_found=True))

    @bentoml.api(input_spec=BuyAgainRequest)
    async def buy_again(self, **fields) -> ItemsResponse:
        """The customer's own items to re-order, best first (empty for a customer with none)."""
        req = BuyAgainRequest.model_construct(**fields)
        if self._forgotten(req.user_id):
            return self._serve("/buy_again", req.user_id, None, lambda front: [])
        return self._serve("/buy_again", req.user_id, None,
                           lambda front: front.buy_again(req.user_id, req.k, _rules(req, front)))

    @bentoml.api(input_spec=TrendingRequest)
    async def trending(self, **fields) -> ItemsResponse:
        """Items bought most lately (recency-weighted, including purchases received live)."""
        req = TrendingRequest.model_construct(**fields)
        return self._serve("/trending", req.user_id, req.session_id,
                           lambda front: front.trending(req.k, _rules(req, front)))

    @bentoml.api
    def events(self, events: Annotated[list[Event], Field(min_length=1, max_length=1000)]) -> Accepted:
        """A shopper's events; the next /recommend for that shopper reflects them. Stored
        durably in the workspace for the next training run."""
        # Events of a forgotten customer are acknowledged but not kept (received > stored);
        # one lookup per customer in the batch, not per event.
        if (front := self.models.storefront) is None:
            return unavailable(["recs"], "/events")
        forgotten = {u for u in {e.user_id for e in events} if self._forgotten(u)}
        kept = [e.model_dump() for e in events if e.user_id not in forgotten]
        stored = self._catch(lambda: front.record_events(kept)) if kept else 0
        return Accepted(received=len(events), stored=stored)

    @bentoml.api
    def items(self, items: Annotated[list[ItemUpdate], Field(min_length=1, max_length=1000)]) -> Accepted:
        """Catalogue updates (stock, price, category, new items); effective at once for every worker."""
        if (front := self.models.storefront) is None:
            return unavailable(["recs"], "/items")
        n = front.update_items([i.model_dump() for i in items])
        return Accepted(received=len(items), stored=n)

    @bentoml.api
    async def ping(self) -> Pong:
        """Does nothing: the framework's own floor, for the load benchmark."""
        # A pydantic model, like every list's answer: BentoML builds the JSON schema of a
        # plain `dict` return type on every response, which took a third of /ping's time.
        return Pong()

    @bentoml.api(route="/admin/reload")
    def reload(self) -> ReloadResponse:
        """Ask every worker to check the registry within a second and switch to new champions
        if there are any; /v1/status then shows the versions served."""
        self.champions.request_reload()
        return ReloadResponse(requested=True, models=self.models.versions,
                              registry=self.champions.registry_state)

    def _forgotten(self, customer_id: str | None) -> bool:
        return customer_id is not None and self.store.is_forgotten(customer_id)

    def _without_forgotten(self, members: pd.DataFrame) -> pd.DataFrame:
        forgotten = self.store.forgotten_ids()
        return members[~members["customer_id"].isin(forgotten)] if forgotten else members

    @staticmethod
    def _catch(call, not_found: bool = False):
        try:
            return call()
        except UnknownItemsError as exc:
            raise (NotFound if not_found else BadInput)(str(exc)) from None

    # -- customers ------------------------------------------------------------------------
    @bentoml.api
    def customer(self, customer_id: UserId) -> CustomerResponse:
        """Churn probability and predicted lifetime value over the next horizon."""
        models = self.models
        customers = models.customers
        if missing := [f for f in ("churn", "cltv") if f not in customers.families]:
            return unavailable(missing, "/customer")
        scores = None if self._forgotten(customer_id) else customers.score(customer_id)
        if scores is None:
            raise NotFound(f"customer_id {customer_id!r} has no purchase history in the "
                           f"workspace's orders; scores exist only for known customers")
        churn, cltv, recency = scores
        row = customers.frame.loc[customer_id]
        return CustomerResponse(
            customer_id=customer_id, churn_probability=min(max(churn, 0.0), 1.0),
            churn_horizon_days=customers.churn_horizon_days,
            predicted_cltv=cltv, cltv_horizon_days=customers.cltv_horizon_days,
            risk_band=row["risk_band"], cltv_decile=int(row["cltv_decile"]), cltv_tier=row["cltv_tier"],
            next_purchase_date=None if pd.isna(row["next_purchase_date"])
            else row["next_purchase_date"].date().isoformat(),
            drivers={f: customers.drivers[f][customer_id] for f in ("churn", "cltv")},
            days_since_last_order=recency, as_of=customers.as_of.date().isoformat(),
            feature_set=customers.churn_meta["feature_set"],
            model_versions={f: models.versions[f] for f in ("churn", "cltv")})

    # -- marketers ------------------------------------------------------------------------
    def _marketing(self) -> Marketing:
        marketing = self.models.marketing
        if marketing is None:  # pragma: no cover - every loaded model set builds one
            raise ServiceUnavailable("segments are not loaded")
        return marketing

    @bentoml.api(route="/segments/query", input_spec=SegmentQuery)
    def segments_query(self, **fields) -> SegmentPage:
        """Members of a built-in or saved segment, or of ad-hoc conditions, a page at a time,
        with the scores behind their membership."""
        req = SegmentQuery.model_construct(**fields)
        m = self._marketing()
        try:
            if req.name is not None:
                record, f = m.saved.segment(req.name)
                name = req.name
            else:
                f, name = req.filter, "query"
                record = {"definition": f.model_dump(mode="json", exclude_unset=True)}
            members = self._without_forgotten(m.base.export(name, f))
        except SegmentError as exc:
            raise (NotFound if isinstance(exc, UnknownSegmentError) else BadInput)(str(exc)) from None
        except MissingFamilyError as exc:
            return unavailable(exc.families, exc.what)
        page = members.iloc[req.offset:req.offset + req.limit]
        end = req.offset + len(page)
        return SegmentPage(segment=name, definition=record["definition"], size=len(members),
                           offset=req.offset, next_offset=end if end < len(members) else None,
                           as_of=m.base.as_of.date().isoformat(), model_versions=m.versions,
                           customers=page.to_dict(orient="records"))

    @pages_app.get("/segments/{name}/export",
                   responses={404: {"description": "No segment of that name."}, **BAD_PATH})
    def segment_export(self, name: str) -> StreamingResponse:
        """A segment's members as CSV (customer_id, segment, the scores behind it), streamed."""
        m = self._marketing()
        try:
            _, f = m.saved.segment(name)
            members = self._without_forgotten(m.base.export(name, f))
        except SegmentError as exc:
            raise HTTPException(404, detail=str(exc)) from None
        except MissingFamilyError as exc:
            raise HTTPException(503, detail=str(exc)) from None

        def chunks():
            for start in range(0, max(len(members), 1), EXPORT_CHUNK):
                chunk = defuse_formulas(members.iloc[start:start + EXPORT_CHUNK])
                yield chunk.to_csv(index=False, header=start == 0)

        return StreamingResponse(chunks(), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{name}.csv"',
            "X-Segment-Size": str(len(members)), "X-As-Of": m.base.as_of.date().isoformat()})

    @bentoml.api(route="/offers", input_spec=OfferRequest)
    def offers(self, **fields) -> OfferResponse:
        """The next best offer for one customer, with the reason in words and numbers; the
        decision is logged with its inputs."""
        req = OfferRequest.model_construct(**fields)
        m = self._marketing()
        if missing := [f for f in ("churn", "cltv") if f not in m.base.scorer.families]:
            return unavailable(missing, "/offers")
        if req.customer_id not in m.policy.values.index or self._forgotten(req.customer_id):
            raise NotFound(f"customer_id {req.customer_id!r} has no scores as of {m.base.as_of.date()}; "
                           "offers exist only for known customers")
        rid = new_recommendation_id()
        try:
            decision = m.decide(req.customer_id, req.campaign, recommendation_id=rid)
        except SegmentError as exc:
            raise BadInput(str(exc)) from None
        if decision["offer"] != NO_OFFER:
            self.exposures.shown("/offers", CHAMPION, " ".join(sorted(m.versions.values())), req.customer_id,
                                 None, items_json([decision["offer"]]), rid)
        return OfferResponse(recommendation_id=rid, variant=CHAMPION, **decision)

    @pages_app.get("/report", response_class=HTMLResponse,
                   responses={404: {"description": "No report written yet."}})
    def report(self) -> HTMLResponse:
        """The latest marketer report (`shelfwise report --out DIR` writes it)."""
        path = report_path(self.workspace)
        if not path.exists():
            raise HTTPException(404, detail="no report yet: `shelfwise report --out DIR` writes it")
        return HTMLResponse(path.read_text())

    @pages_app.get("/metrics", include_in_schema=False)
    def metrics(self) -> Response:
        """Prometheus metrics by route template (serving.api.http_metrics); a key of the monitoring or
        admin role, unless SHELFWISE_METRICS_PUBLIC=true."""
        body, content_type = metrics_page()
        return Response(body, media_type=content_type)

    @pages_app.delete("/customers/{customer_id}", status_code=202, responses=BAD_PATH)
    def forget_customer(self, request: Request,
                        customer_id: Annotated[str, Path(min_length=1, max_length=64)]) -> dict:
        """Erase a customer everywhere (admin keys only). When this answers, no endpoint or
        export returns them; the workspace's files then lose their rows in the background and
        an audit record is written (`GET /customers/{id}/erasure` says when)."""
        # AccessMiddleware names the admin key on every request that reaches this route.
        begun = begin(self.workspace, customer_id, f"api:{request.state.api_key}", store=self.store)
        self._erasures.submit(self._finish_erasure, customer_id)
        return {"customer_id": customer_id, "status": "erasing", "live_events_removed": begun["live_events"],
                "status_url": f"/customers/{customer_id}/erasure"}

    @pages_app.get("/customers/{customer_id}/erasure",
                   responses={404: {"description": "The customer was never forgotten."}, **BAD_PATH})
    def erasure(self, customer_id: Annotated[str, Path(min_length=1, max_length=64)]) -> dict:
        """Whether a customer's erasure is still rewriting files (`erasing`), `done`, or `failed`
        because some files could not be read (named, with the reason; the rest are erased), with
        its audit record (admin keys only)."""
        status = erasure_status(self.workspace, customer_id)
        if status is None and self.store.is_forgotten(customer_id):  # through another replica, not yet here
            status = {"customer_id": customer_id, "status": "erasing"}
        if status is None:
            raise HTTPException(404, detail=f"customer {customer_id!r} has not been forgotten")
        return status

    def _erase_forgotten_elsewhere(self) -> None:
        """Every :data:`ERASURE_SYNC_SECONDS`, erase from this replica's disk the customers
        forgotten through another (:func:`serving.privacy.forgotten_elsewhere`)."""
        while True:
            try:
                if found := forgotten_elsewhere(self.workspace, self.store):  # one pass over the files
                    self._erasures.submit(self._finish_erasures, found)
            except Exception as exc:  # an unreachable live store: try again at the next tick
                log.warning("checking the forgotten list failed: %s", exc)
            time.sleep(ERASURE_SYNC_SECONDS)

    def _finish_erasure(self, customer_id: str) -> None:
        self._finish_erasures([customer_id])

    def _finish_erasures(self, customer_ids: list[str]) -> None:
        try:
            finish_all(self.workspace, customer_ids)
        except Exception:  # the pending records stay; the next start finishes them
            log.exception("erasure of %d customer(s) failed; it is retried when the service starts",
                          len(customer_ids))

    @status_app.get("/status", response_model=StatusResponse)
    def status(self, request: Request) -> StatusResponse:
        """Which model versions are served and the registry's state; the workspace and why a
        registry check failed are shown to admin keys only."""
        models, admin = self.models, request.state.api_role == "admin"
        registry = self.champions.registry_state
        if not admin and registry != "ok":
            registry = "the last registry check failed; an admin key sees why"
        return StatusResponse(
            ready=True, state="degraded" if self.champions.degraded else "ok",
            workspace=str(self.workspace.home) if admin else None, models=models.versions,
            families=models.families(), experiment=models.registry_view.get("experiment"),
            customers_scored=len(models.customers.frame),
            features_as_of=models.customers.as_of.date().isoformat(),
            recs_purchases_to=models.storefront.recs.purchases_to if models.storefront is not None else None,
            registry=registry, last_registry_check=self.champions.last_check)



def unavailable(families: list[str], what: str) -> Response:
    """503 naming the missing families and the command that trains each. Returned, not raised:
    BentoML answers a raised 5xx with a generic message."""
    return Response(json.dumps({"error": str(MissingFamilyError(families, what))}), status_code=503,
                    media_type="application/json")


def route_templates() -> list[str]:
    """Every route the service answers, as templates (``/customers/{customer_id}``)."""
    return [*(api.route for api in Shelfwise.apis.values()), *route_paths(pages_app.routes),
            *route_paths(status_app.routes, "/v1"), "/livez", "/readyz", "/healthz", "/", "/docs.json",
            "/static_content/{file:path}"]


# Requests are counted first, refused ones included; then every request passes the key check
# (serving.api.access): `python -m serving` refuses to start without keys, so an empty key set
# here means no request gets through.
Shelfwise.add_asgi_middleware(RequestMetricsMiddleware, templates=route_templates())
Shelfwise.add_asgi_middleware(DocumentMiddleware, version=code_version(), may_call=may_call, is_open=is_open)
Shelfwise.add_asgi_middleware(AccessMiddleware, keys=load_keys(SETTINGS.home),
                              public_metrics=SETTINGS.metrics_public)
Shelfwise.add_asgi_middleware(LimitsMiddleware, max_body_bytes=SETTINGS.max_body_bytes,
                              body_seconds=SETTINGS.body_seconds)
Shelfwise.add_asgi_middleware(ErrorBodyMiddleware)
keep_client_errors_out_of_the_log()
