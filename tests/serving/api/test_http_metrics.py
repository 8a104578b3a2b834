"""Request metrics by route template (serving/api/http_metrics.py): the series are fixed by the routes."""

from __future__ import annotations

import asyncio

from serving.api.http_metrics import OTHER_PATH, RequestMetricsMiddleware, RouteTemplates, metrics_page
from serving.api.service import route_templates


def test_paths_are_labelled_by_their_route_template_and_unknown_paths_fold_into_one():
    route = RouteTemplates(route_templates())
    assert route("/recommend") == "/recommend"
    assert route("/customers/13085") == "/customers/{customer_id}"
    assert route("/customers/13085/erasure") == "/customers/{customer_id}/erasure"
    assert route("/segments/rfm-lost/export") == "/segments/{name}/export"
    assert route("/v1/status") == "/v1/status"
    assert route("/metrics") == "/metrics"
    assert route("/wp-login.php") == route("/recommend/13085") == route("/customers/a/b/c") == OTHER_PATH


def _series(page: bytes) -> set[str]:
    return {line.split(" ")[0] for line in page.decode().splitlines()
            if line.startswith("bentoml_service_request_total{")}


def test_thousands_of_distinct_paths_add_no_series_and_no_customer_id():
    from bentoml._internal.server.metrics.prometheus import PrometheusClient

    client = PrometheusClient(multiproc=False)  # one process here; `bentoml serve` sums its workers
    async def app(scope, receive, send):
        status = 200 if scope["path"] == "/recommend" else 401
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = RequestMetricsMiddleware(app, route_templates(), client)

    async def request(path: str, method: str = "GET") -> None:
        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(message):
            pass

        await middleware({"type": "http", "path": path, "method": method}, receive, send)

    async def traffic(paths):
        for p in paths:
            await request(p)

    asyncio.run(traffic(["/recommend", "/customers/1", "/nothing-here"]))
    before = _series(metrics_page(client)[0])
    asyncio.run(traffic([f"/customers/{n}" for n in range(2000)] + [f"/x{n}" for n in range(2000)]))
    asyncio.run(request("/recommend", method="BREW"))
    after = _series(metrics_page(client)[0])

    assert len(after - before) == 1 and 'method="OTHER"' in next(iter(after - before))
    assert not any("13085" in s or "/x1" in s for s in after)
