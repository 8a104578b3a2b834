"""The service's Prometheus metrics, labelled by route template, never by the raw path.

BentoML's own HTTP metrics label each request with ``scope["path"]``, before any key check:
every distinct URL a client sends becomes a series that lives in each worker's memory and
files until restart, so keyless requests to random paths could grow them without bound, and
``DELETE /customers/13085`` put a customer id on the metrics page. The service turns those
metrics off (``metrics={"enabled": False}``) and counts requests here instead:
``/customers/13085`` is counted as ``/customers/{customer_id}``, a path that matches no route
as ``other``, and a method outside HTTP's usual ones as ``OTHER``, so the number of series is
fixed by the routes, whatever clients send.

The series are kept by BentoML's Prometheus client (multiprocess mode: every worker writes
its own file and the page sums them), under the names BentoML uses, so dashboards built for
BentoML keep working: ``bentoml_service_request_total``,
``bentoml_service_request_duration_seconds`` and ``bentoml_service_request_in_progress``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from timeit import default_timer

from starlette.routing import compile_path

NAMESPACE = "bentoml_service"
OTHER_PATH = "other"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class RouteTemplates:
    """Maps a request path to the template of the route it matches, or ``other``."""

    def __init__(self, templates: Iterable[str]):
        self.exact: set[str] = set()
        self.patterns: list[tuple[re.Pattern, str]] = []
        for t in templates:
            if "{" in t:
                self.patterns.append((compile_path(t)[0], t))
            else:
                self.exact.add(t)

    def __call__(self, path: str) -> str:
        if path in self.exact:
            return path
        return next((t for regex, t in self.patterns if regex.match(path)), OTHER_PATH)


def route_paths(routes, prefix: str = "") -> list[str]:
    """The path templates of a Starlette or FastAPI app's routes, included routers too."""
    out = []
    for r in routes:
        if hasattr(r, "original_router"):  # FastAPI's included router
            inner = getattr(r.include_context, "prefix", "") or ""
            out += route_paths(r.original_router.routes, prefix + inner)
        elif hasattr(r, "path"):
            out.append(prefix + r.path)
    return out


def metrics_client():
    """BentoML's Prometheus client of this process (multiprocess-aware under ``bentoml serve``)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    return BentoMLContainer.metrics_client.get()


class RequestMetricsMiddleware:
    """ASGI middleware counting every HTTP request and its duration by route template,
    method and status, answered or refused (401s included)."""

    def __init__(self, app, templates: Iterable[str], client=None):
        self.app, self.route, self.client = app, RouteTemplates(templates), client
        self._series = None

    def _setup(self):
        client = self.client or metrics_client()
        labels = ["endpoint", "method", "http_response_code"]
        self._series = (
            client.Counter(namespace=NAMESPACE, name="request_total", labelnames=labels,
                           documentation="HTTP requests by route template, method and status"),
            client.Histogram(namespace=NAMESPACE, name="request_duration_seconds", labelnames=labels,
                             documentation="HTTP request duration in seconds by route template"),
            client.Gauge(namespace=NAMESPACE, name="request_in_progress", labelnames=["endpoint"],
                         documentation="HTTP requests in progress by route template",
                         multiprocess_mode="livesum"),
        )
        return self._series

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        total, duration, in_progress = self._series or self._setup()
        endpoint = self.route(scope["path"])
        method = scope["method"] if scope["method"] in METHODS else "OTHER"
        start, status = default_timer(), 500

        async def counted_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            with in_progress.labels(endpoint).track_inprogress():
                await self.app(scope, receive, counted_send)
        finally:
            labels = (endpoint, method, str(status))
            total.labels(*labels).inc()
            duration.labels(*labels).observe(max(default_timer() - start, 0.0))


def metrics_page(client=None) -> tuple[bytes, str]:
    """The Prometheus exposition of every worker's series, and its content type."""
    client = client or metrics_client()
    return client.generate_latest(), client.CONTENT_TYPE_LATEST
