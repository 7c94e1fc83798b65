"""OpenTelemetry tracing (docs/operations/tracing.md).

Every process installs an SDK tracer provider, so every request and job has a trace id — in its
log lines and in the ``traceparent`` it passes on to memory-proxy and into jobs — whether spans
are exported or not. Spans are recorded, and exported over OTLP/HTTP, only when an endpoint is
configured, and then for the share of traces the sample ratio keeps.

Instrumented: HTTP requests (FastAPI's own telemetry, sampled in ``request_tracing``), jobs
(:func:`job_span`), aiohttp client sessions, Redis commands and SQL statements.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.config import CommonSettings
from cga_core.request_tracing import RequestSampling, TraceIdsMiddleware

SQL_INSTRUMENTATION = "opentelemetry.instrumentation.sqlalchemy"
# Metrics come from Prometheus; the instrumentations' own OpenTelemetry metrics stay no-ops.
_NO_METRICS = NoOpMeterProvider()
_jobs = trace.get_tracer("cga.jobs")
_DROP = SamplingResult(Decision.DROP)
_RECORD = SamplingResult(Decision.RECORD_AND_SAMPLE)


class RequestScopedSampler(Sampler):
    """The sampler of a process that exports spans.

    - Inside a trace, the parent's decision is followed: a trace is recorded whole or not at
      all, across services and into jobs.
    - A server span without a parent is recorded: ``RequestSampling`` has sampled the request
      already, and FastAPI's telemetry starts spans only for the requests it kept.
    - A client span without a parent is dropped: a SQL statement, Redis command or HTTP call
      outside any request or job is background chatter (ARQ polling its queue, readiness
      probes, gauge refreshes), many per second and of interest to nobody reading traces.
    - Any other span without a parent (a scheduled job) is kept at ``ratio``.
    """

    def __init__(self, ratio: float) -> None:
        self._ratio = ratio
        self._new_traces = ParentBased(TraceIdRatioBased(ratio))

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if not trace.get_current_span(parent_context).get_span_context().is_valid:
            if kind is SpanKind.CLIENT:
                return _DROP
            if kind is SpanKind.SERVER:
                return _RECORD
        return self._new_traces.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"RequestScopedSampler{{ratio={self._ratio}}}"


def create_tracer_provider(settings: CommonSettings, service: str) -> TracerProvider:
    endpoint = settings.otel_exporter_otlp_endpoint
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": f"cga-{service}", "deployment.environment": str(settings.env)}
        ),
        # With nothing to export, nothing is recorded: spans still get their ids.
        sampler=RequestScopedSampler(settings.otel_sample_ratio) if endpoint else ALWAYS_OFF,
    )
    if endpoint:
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def install_tracing(settings: CommonSettings, service: str) -> TracerProvider:
    """Make this process's tracer provider the global one, and trace every aiohttp session
    created from now on and every Redis command.

    Once per process: a later call (another app built in the same process) gets the provider
    installed first. The SDK flushes its spans when the process exits."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = create_tracer_provider(settings, service)
    trace.set_tracer_provider(provider)
    AioHttpClientInstrumentor().instrument(tracer_provider=provider, meter_provider=_NO_METRICS)
    RedisInstrumentor().instrument(tracer_provider=provider)
    return provider


def fastapi_telemetry(settings: CommonSettings, provider: TracerProvider) -> TelemetryConfig:
    """The ``telemetry`` argument of ``FastAPI()``."""
    sampling = RequestSampling(
        exporting=bool(settings.otel_exporter_otlp_endpoint),
        sample_ratio=settings.otel_sample_ratio,
    )
    return sampling.fastapi_telemetry(provider)


def instrument_app(app: FastAPI, provider: TracerProvider) -> None:
    """Span ids for the requests FastAPI's telemetry leaves out. Call it after every other
    middleware is added: its span must be current in all of them."""
    app.add_middleware(TraceIdsMiddleware, provider=provider)


def trace_engine(engine: AsyncEngine, provider: trace.TracerProvider | None = None) -> None:
    """One client span per SQL statement the engine runs; the global provider by default,
    looked up when each span starts, so an engine may be created before tracing is installed.

    Engine by engine rather than through the instrumentor's patch of ``create_async_engine``,
    which misses modules that imported that function before the patch."""
    pool_usage = _NO_METRICS.get_meter(SQL_INSTRUMENTATION).create_up_down_counter(
        "db.client.connections.usage"
    )
    EngineTracer(  # type: ignore[no-untyped-call]
        trace.get_tracer(SQL_INSTRUMENTATION, tracer_provider=provider),
        engine.sync_engine,
        pool_usage,
    )


def continued_trace(traceparent: str | None) -> Context | None:
    """The context of a ``traceparent`` stored with a job; None (a new trace) without one."""
    return extract({"traceparent": traceparent}) if traceparent else None


@contextmanager
def job_span(
    name: str,
    parent: Context | None = None,
    attributes: Attributes = None,
    links: Sequence[Link] | None = None,
) -> Iterator[trace.Span]:
    """The span of one job run, current while it runs (``links``: the spans of the jobs a
    batch serves). A job whose trace is not recorded runs with the client instrumentations
    suppressed, as a request does: they would only build spans nobody records."""
    with _jobs.start_as_current_span(
        name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes, links=links
    ) as span:
        if span.is_recording():
            yield span
        else:
            with suppress_instrumentation():
                yield span
