"""OpenTelemetry tracing: exported over OTLP/HTTP when an endpoint is configured, off otherwise."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

from cga_core.config import ServiceSettings

_UNTRACED_PATHS = "livez,readyz,metrics"


def create_tracer_provider(settings: ServiceSettings, service: str) -> TracerProvider | None:
    if not settings.otel_exporter_otlp_endpoint:
        return None
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": f"cga-{service}", "deployment.environment": str(settings.env)}
        ),
        sampler=ParentBasedTraceIdRatio(settings.otel_sample_ratio),
    )
    endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return provider


def instrument_app(app: FastAPI, provider: TracerProvider) -> None:
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=_UNTRACED_PATHS)
