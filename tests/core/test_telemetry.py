"""Tracing set-up in one process: the sampler, the request span, SQL spans, the trace id in log
lines and the traceparent passed on to memory-proxy. Spans go to an in-memory exporter."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
import structlog
from aiohttp import web
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cga_core.config import CommonSettings, LogFormat
from cga_core.logging import configure_logging
from cga_core.memories import SearchQuery
from cga_core.memory_proxy_client import MemoryProxyClient
from cga_core.middleware import RequestContextMiddleware
from cga_core.telemetry import (
    RequestScopedSampler,
    continued_trace,
    create_tracer_provider,
    fastapi_telemetry,
    install_tracing,
    instrument_app,
    job_span,
    trace_engine,
)
from tests.support.env import TestStack

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER_TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    """Records every trace a request or job starts, as with a sample ratio of 1."""
    provider = TracerProvider(sampler=RequestScopedSampler(1.0))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _sampled(sampler: RequestScopedSampler, kind: SpanKind, parent: trace.Span | None) -> bool:
    context = trace.set_span_in_context(parent) if parent is not None else None
    result = sampler.should_sample(context, trace_id=2**64, name="span", kind=kind)
    return result.decision is Decision.RECORD_AND_SAMPLE


def _remote_parent(sampled: bool) -> trace.Span:
    flags = trace.TraceFlags(trace.TraceFlags.SAMPLED if sampled else trace.TraceFlags.DEFAULT)
    return trace.NonRecordingSpan(
        trace.SpanContext(int(CALLER_TRACE, 16), 1, is_remote=True, trace_flags=flags)
    )


def test_a_scheduled_job_starts_a_trace_kept_at_the_sample_ratio() -> None:
    assert _sampled(RequestScopedSampler(1.0), SpanKind.CONSUMER, None)
    assert not _sampled(RequestScopedSampler(0.0), SpanKind.CONSUMER, None)


def test_a_request_without_a_caller_is_recorded_once_the_middleware_let_it_through() -> None:
    assert _sampled(RequestScopedSampler(0.0), SpanKind.SERVER, None)


def test_a_client_span_outside_any_trace_is_dropped() -> None:
    assert not _sampled(RequestScopedSampler(1.0), SpanKind.CLIENT, None)


def test_inside_a_trace_the_callers_decision_is_followed() -> None:
    assert _sampled(RequestScopedSampler(0.0), SpanKind.CLIENT, _remote_parent(sampled=True))
    assert _sampled(RequestScopedSampler(0.0), SpanKind.CONSUMER, _remote_parent(sampled=True))
    assert not _sampled(RequestScopedSampler(1.0), SpanKind.SERVER, _remote_parent(sampled=False))


def test_without_an_endpoint_spans_have_ids_but_nothing_is_recorded() -> None:
    provider = create_tracer_provider(CommonSettings(otel_exporter_otlp_endpoint=None), "probe")
    tracer = provider.get_tracer("probe")

    with tracer.start_as_current_span("job", kind=SpanKind.CONSUMER) as job:
        child = tracer.start_span("query", kind=SpanKind.CLIENT)

    assert job.get_span_context().is_valid
    assert not job.is_recording()
    assert child.get_span_context().trace_id == job.get_span_context().trace_id


def _settings(*, exporting: bool, ratio: float) -> CommonSettings:
    endpoint = "http://collector.invalid:4318" if exporting else None
    return CommonSettings(otel_exporter_otlp_endpoint=endpoint, otel_sample_ratio=ratio)


@pytest.fixture
async def engine(stack: TestStack, provider: TracerProvider) -> AsyncIterator[AsyncEngine]:
    """An engine whose statements are traced with ``provider``."""
    engine = create_async_engine(stack.database_url)
    trace_engine(engine, provider)
    yield engine
    await engine.dispose()


def _probe_app(provider: TracerProvider, settings: CommonSettings, engine: AsyncEngine) -> FastAPI:
    """Routes that run SQL, behind the access-log middleware, traced as a service is."""
    app = FastAPI(telemetry=fastapi_telemetry(settings, provider))
    app.add_middleware(RequestContextMiddleware)

    @app.get("/notes/{note_id}")
    async def note(note_id: int) -> dict[str, int]:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return {"id": note_id}

    @app.get("/livez")
    @app.get("/readyz")
    @app.get("/metrics")
    async def probe() -> dict[str, str]:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    instrument_app(app, provider)
    return app


ProbeClient = Callable[[CommonSettings], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def probe_client(provider: TracerProvider, engine: AsyncEngine) -> ProbeClient:
    """A client of the probe app, traced with ``provider`` under the given settings."""

    @asynccontextmanager
    async def client(settings: CommonSettings) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=_probe_app(provider, settings, engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client

    return client


class JsonLogs:
    """The log lines of this process, rendered as JSON as the services render them, kept in
    memory instead of going to stdout."""

    def __init__(self) -> None:
        configure_logging(service="gateway", level="INFO", log_format=LogFormat.JSON)
        (handler,) = logging.getLogger().handlers
        assert isinstance(handler, logging.StreamHandler)
        self._stream = io.StringIO()
        handler.setStream(self._stream)

    def lines(self, event: str) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self._stream.getvalue().splitlines() if line]
        return [line for line in lines if line["event"] == event]

    def access_line(self) -> dict[str, Any]:
        (line,) = self.lines("http.request.completed")
        return line


@pytest.fixture
def json_logs() -> JsonLogs:
    return JsonLogs()


async def test_a_recorded_request_is_a_server_span_named_by_its_route_over_its_queries(
    probe_client: ProbeClient, exporter: InMemorySpanExporter
) -> None:
    async with probe_client(_settings(exporting=True, ratio=1.0)) as client:
        assert (await client.get("/notes/7")).status_code == 200

    query, request = exporter.get_finished_spans()
    assert request.name == "GET /notes/{note_id}"
    assert request.kind is SpanKind.SERVER
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["http.route"] == "/notes/{note_id}"
    assert query.kind is SpanKind.CLIENT
    assert query.parent is not None
    assert query.parent.span_id == request.context.span_id


async def test_probes_and_metrics_are_not_traced(
    probe_client: ProbeClient, exporter: InMemorySpanExporter
) -> None:
    async with probe_client(_settings(exporting=True, ratio=1.0)) as client:
        for path in ("/livez", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code == 200

    assert exporter.get_finished_spans() == ()


async def test_a_request_left_out_by_sampling_records_nothing_but_logs_its_trace_id(
    probe_client: ProbeClient, exporter: InMemorySpanExporter, json_logs: JsonLogs
) -> None:
    async with probe_client(_settings(exporting=True, ratio=0.0)) as client:
        assert (await client.get("/notes/7")).status_code == 200

    assert exporter.get_finished_spans() == ()
    assert len(json_logs.access_line()["trace_id"]) == 32


async def test_a_sampled_callers_trace_is_continued_and_recorded(
    probe_client: ProbeClient, exporter: InMemorySpanExporter, json_logs: JsonLogs
) -> None:
    async with probe_client(_settings(exporting=True, ratio=0.0)) as client:
        await client.get("/notes/7", headers={"traceparent": CALLER_TRACEPARENT})

    request = next(span for span in exporter.get_finished_spans() if span.kind is SpanKind.SERVER)
    assert format(request.context.trace_id, "032x") == CALLER_TRACE
    assert request.parent is not None
    assert format(request.parent.span_id, "016x") == CALLER_SPAN
    access_log = json_logs.access_line()
    assert access_log["trace_id"] == CALLER_TRACE
    assert access_log["span_id"] == format(request.context.span_id, "016x")


@pytest.mark.parametrize("exporting", [True, False])
async def test_an_unrecorded_callers_trace_id_is_continued_in_the_logs(
    probe_client: ProbeClient,
    exporter: InMemorySpanExporter,
    json_logs: JsonLogs,
    exporting: bool,
) -> None:
    # Without an exporter even a sampled caller's trace is not recorded here.
    traceparent = CALLER_TRACEPARENT if not exporting else CALLER_TRACEPARENT[:-2] + "00"
    async with probe_client(_settings(exporting=exporting, ratio=1.0)) as client:
        await client.get("/notes/7", headers={"traceparent": traceparent})

    assert exporter.get_finished_spans() == ()
    access_log = json_logs.access_line()
    assert access_log["trace_id"] == CALLER_TRACE
    assert access_log["span_id"] != CALLER_SPAN


async def test_sql_outside_any_request_or_job_is_not_recorded(
    engine: AsyncEngine, exporter: InMemorySpanExporter
) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))

    assert exporter.get_finished_spans() == ()


@pytest.fixture
def tracing_installed() -> None:
    """The process-wide provider (the first one installed in this process) and the aiohttp
    and Redis instrumentations."""
    install_tracing(CommonSettings(), "tests")


@pytest.mark.usefixtures("tracing_installed")
async def test_a_job_continues_the_trace_of_the_request_that_accepted_it(
    json_logs: JsonLogs,
) -> None:
    with job_span("write_memory", continued_trace(CALLER_TRACEPARENT)) as span:
        structlog.get_logger("cga.worker").info("worker.write.succeeded")

    assert format(span.get_span_context().trace_id, "032x") == CALLER_TRACE
    (logged,) = json_logs.lines("worker.write.succeeded")
    assert logged["trace_id"] == CALLER_TRACE


@pytest.mark.usefixtures("tracing_installed")
def test_a_job_without_a_stored_trace_starts_one() -> None:
    with job_span("write_memory", continued_trace(None)) as span:
        assert span.get_span_context().is_valid
    assert format(span.get_span_context().trace_id, "032x") != CALLER_TRACE


@pytest.fixture
async def memory_proxy_stand_in() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP server answering memory-proxy's search with no results; its URL and the
    traceparent headers it received."""
    received: list[str] = []

    async def search(request: web.Request) -> web.Response:
        received.append(request.headers.get("traceparent", ""))
        return web.json_response({"results": []})

    app = web.Application()
    app.router.add_post("/internal/v1/owners/{owner}/memories/search", search)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", received
    await runner.cleanup()


@pytest.fixture
async def memory_proxy_client(
    tracing_installed: None, memory_proxy_stand_in: tuple[str, list[str]]
) -> AsyncIterator[MemoryProxyClient]:
    url, _ = memory_proxy_stand_in
    client = MemoryProxyClient(url, "internal-token", timeout=5, pool_size=1)
    yield client
    await client.close()


def _ids(traceparent: str) -> tuple[str, str]:
    version, trace_id, parent_id, _flags = traceparent.split("-")
    assert version == "00"
    return trace_id, parent_id


async def test_the_memory_proxy_client_passes_the_trace_on_under_its_client_span(
    memory_proxy_client: MemoryProxyClient,
    memory_proxy_stand_in: tuple[str, list[str]],
    provider: TracerProvider,
) -> None:
    with provider.get_tracer("probe").start_as_current_span("request") as request:
        await memory_proxy_client.search("owner-1", SearchQuery(query="tea"))

    _, received = memory_proxy_stand_in
    trace_id, parent_id = _ids(received[0])
    assert trace_id == format(request.get_span_context().trace_id, "032x")
    assert parent_id != format(request.get_span_context().span_id, "016x")


async def test_the_memory_proxy_client_passes_the_trace_on_when_instrumentation_is_off(
    memory_proxy_client: MemoryProxyClient,
    memory_proxy_stand_in: tuple[str, list[str]],
    provider: TracerProvider,
) -> None:
    with (
        provider.get_tracer("probe").start_as_current_span("request") as request,
        suppress_instrumentation(),
    ):
        await memory_proxy_client.search("owner-1", SearchQuery(query="tea"))

    _, received = memory_proxy_stand_in
    assert _ids(received[0]) == (
        format(request.get_span_context().trace_id, "032x"),
        format(request.get_span_context().span_id, "016x"),
    )
