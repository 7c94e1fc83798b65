"""Prometheus metrics on ``/metrics``: HTTP metrics per route, plus each service's own."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from fastapi import FastAPI
from prometheus_client.metrics import MetricWrapperBase
from prometheus_fastapi_instrumentator import Instrumentator

METRIC_NAMESPACE = "cga"
# Buckets of cga_http_request_duration_seconds (per route). The alert rules read them: 1 s is the
# latency SLO's threshold and p95 > 2 s an alert, which the library's default (0.1, 0.5, 1)
# cannot show.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5)


def instrument_metrics(app: FastAPI) -> None:
    Instrumentator(
        excluded_handlers=["/metrics", "/livez", "/readyz"],
    ).instrument(
        app, metric_namespace=METRIC_NAMESPACE, latency_lowr_buckets=LATENCY_BUCKETS
    ).expose(app, endpoint="/metrics", include_in_schema=False, should_gzip=True)


def start_at_zero(metric: MetricWrapperBase, **label_values: Iterable[str]) -> None:
    """Create the series of every combination of these label values now, at 0: an alert or a
    dashboard on ``rate()`` then has a series to read before the first event."""
    names = list(label_values)
    for values in itertools.product(*label_values.values()):
        metric.labels(**dict(zip(names, values, strict=True)))
