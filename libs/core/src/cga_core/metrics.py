"""Prometheus metrics on ``/metrics``: HTTP metrics per route, plus each service's own."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_fastapi_instrumentator import Instrumentator

METRIC_NAMESPACE = "cga"


def instrument_metrics(app: FastAPI) -> None:
    Instrumentator(
        excluded_handlers=["/metrics", "/livez", "/readyz"],
    ).instrument(app, metric_namespace=METRIC_NAMESPACE).expose(
        app, endpoint="/metrics", include_in_schema=False, should_gzip=True
    )
