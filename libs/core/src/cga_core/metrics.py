"""Prometheus metrics on ``/metrics``: HTTP metrics per route, plus each service's own.

The HTTP metrics are recorded by a small ASGI middleware rather than a general instrumentation
library: it reads the route the router matched from the request's scope instead of matching
every route again, and records only the two families the alerts and dashboards read — on the
gateway's hot path that halves their cost per request (docs/performance.md)."""

from __future__ import annotations

import gzip
import itertools
import time
from collections.abc import Iterable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METRIC_NAMESPACE = "cga"
# Buckets of cga_http_request_duration_seconds (per route). The alert rules read them: 1 s is the
# latency SLO's threshold and p95 > 2 s an alert.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5)
UNMATCHED = "none"  # the handler of a request no route matched: its path is unbounded
UNMEASURED_PATHS = frozenset({"/metrics", "/livez", "/readyz"})

REQUESTS = Counter(
    "http_requests_total",
    "Requests answered, by route template, method and status class.",
    ["handler", "method", "status"],
    namespace=METRIC_NAMESPACE,
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "Seconds from a request's arrival to the end of its answer, by route template and method.",
    ["handler", "method"],
    namespace=METRIC_NAMESPACE,
    buckets=LATENCY_BUCKETS,
)


class HttpMetricsMiddleware:
    """Counts each request and observes its duration under the matched route's template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNMEASURED_PATHS:
            await self.app(scope, receive, send)
            return
        status = 500  # unless the response starts: an exception escaped

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route = scope.get("route")
            handler = getattr(route, "path", UNMATCHED) if route is not None else UNMATCHED
            method = scope["method"]
            REQUESTS.labels(handler, method, f"{status // 100}xx").inc()
            DURATION.labels(handler, method).observe(time.perf_counter() - started)


def metrics_response(request: Request) -> Response:
    """The exposition, gzipped when the scraper accepts it (Prometheus does)."""
    body = generate_latest()
    headers = {"Content-Type": CONTENT_TYPE_LATEST}
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return Response(body, headers=headers)


def instrument_metrics(app: FastAPI) -> None:
    app.add_middleware(HttpMetricsMiddleware)
    app.add_api_route("/metrics", metrics_response, methods=["GET"], include_in_schema=False)


def start_at_zero(metric: MetricWrapperBase, **label_values: Iterable[str]) -> None:
    """Create the series of every combination of these label values now, at 0: an alert or a
    dashboard on ``rate()`` then has a series to read before the first event."""
    names = list(label_values)
    for values in itertools.product(*label_values.values()):
        metric.labels(**dict(zip(names, values, strict=True)))
