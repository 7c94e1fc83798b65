"""Traces end to end: the real gateway, auth, memory-proxy and worker export their spans over
OTLP/HTTP to a receiver in this process, as to a collector. A search is one trace from the
gateway into memory-proxy; a write is one trace from the gateway's intake through the worker's
job into memory-proxy; the log lines of the request and the job carry the trace id."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.actions import GptUser
from tests.support.env import IsolatedStack
from tests.support.logs import logged, request_trace_id
from tests.support.otlp import ReceivedSpan, SpanReceiver
from tests.support.processes import ServiceProcess, wait_for
from tests.support.stacks import running_system

pytestmark = pytest.mark.e2e

SEARCH_ROUTE = "POST /api/v1/memories/search"
WRITE_ROUTE = "POST /api/v1/memories"
PROXY_SEARCH_ROUTE = "POST /internal/v1/owners/{owner}/memories/search"
# The worker writes through the batch endpoint, a batch of one in this test.
PROXY_WRITE_ROUTE = "POST /internal/v1/memories/batch"


@pytest.fixture(scope="module")
def receiver() -> Iterator[SpanReceiver]:
    with SpanReceiver().running() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def services(
    isolated_stack: IsolatedStack, receiver: SpanReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    environment = {
        **isolated_stack("e2e_tracing").environment(),
        "CGA_OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "CGA_OTEL_SAMPLE_RATIO": "1",
        # Export within 100 ms of a span's end instead of the SDK's 5 s.
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with running_system(environment, tmp_path_factory.mktemp("tracing-logs")) as services:
        yield services


class Trace:
    """The spans of one trace the receiver holds."""

    def __init__(self, spans: list[ReceivedSpan]) -> None:
        self.spans = spans
        self.by_id = {span.span_id: span for span in spans}

    def one(self, service: str, name: str, kind: str) -> ReceivedSpan:
        (span,) = [
            span
            for span in self.spans
            if (span.service, span.name, span.kind) == (f"cga-{service}", name, kind)
        ]
        return span

    def ancestors(self, span: ReceivedSpan) -> list[ReceivedSpan]:
        chain = []
        while span.parent_span_id in self.by_id:
            span = self.by_id[span.parent_span_id]
            chain.append(span)
        return chain

    def clients(self, service: str, db_system: str) -> list[ReceivedSpan]:
        return [
            span
            for span in self.spans
            if span.service == f"cga-{service}"
            and span.kind == "CLIENT"
            and span.attributes.get("db.system") == db_system
        ]


def wait_for_trace(receiver: SpanReceiver, trace_id: str, *expected: tuple[str, str]) -> Trace:
    """The trace once spans of these (service, name) have arrived, and with them their
    children: a span ends after its children, and each service exports in order of ending."""

    def spans() -> list[ReceivedSpan]:
        return [span for span in receiver.spans() if span.trace_id == trace_id]

    def complete() -> bool:
        present = {(span.service, span.name) for span in spans()}
        return all((f"cga-{service}", name) in present for service, name in expected)

    wait_for(f"trace {trace_id} with {expected}", complete)
    return Trace(spans())


def test_a_search_is_one_trace_from_the_gateway_into_memory_proxy(
    services: dict[str, ServiceProcess],
    receiver: SpanReceiver,
    api: httpx.Client,
    user: GptUser,
) -> None:
    response = api.post("/api/v1/memories/search", json={"query": "tea"}, headers=user.headers)
    assert response.status_code == 200, response.text

    trace_id = request_trace_id(services["gateway"], response.headers["x-request-id"])
    trace = wait_for_trace(
        receiver, trace_id, ("gateway", SEARCH_ROUTE), ("memory-proxy", PROXY_SEARCH_ROUTE)
    )
    request = trace.one("gateway", SEARCH_ROUTE, "SERVER")
    proxied = trace.one("memory-proxy", PROXY_SEARCH_ROUTE, "SERVER")
    assert request.parent_span_id == ""
    hop = trace.ancestors(proxied)
    assert [(span.service, span.kind) for span in hop] == [
        ("cga-gateway", "CLIENT"),
        ("cga-gateway", "SERVER"),
    ]
    assert hop[-1] == request
    assert trace.clients("gateway", "redis")  # token denylist, rate limits
    assert trace.clients("memory-proxy", "postgresql")  # the local Memory Bank's query
    assert logged(services["memory-proxy"], "http.request.completed", trace_id=trace_id)


def test_a_write_is_one_trace_from_the_intake_through_the_job_into_memory_proxy(
    services: dict[str, ServiceProcess],
    receiver: SpanReceiver,
    api: httpx.Client,
    user: GptUser,
) -> None:
    response = api.post(
        "/api/v1/memories", json={"content": "Ada takes her tea with lemon"}, headers=user.headers
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]

    def written() -> bool:
        status = api.get(f"/api/v1/memories/jobs/{job_id}", headers=user.headers).json()
        return bool(status["status"] == "succeeded")

    wait_for(f"write {job_id}", written)
    trace_id = request_trace_id(services["gateway"], response.headers["x-request-id"])
    trace = wait_for_trace(
        receiver,
        trace_id,
        ("gateway", WRITE_ROUTE),
        ("worker", "write_memory"),
        ("memory-proxy", PROXY_WRITE_ROUTE),
    )
    intake = trace.one("gateway", WRITE_ROUTE, "SERVER")
    job = trace.one("worker", "write_memory", "CONSUMER")
    written_by = trace.one("memory-proxy", PROXY_WRITE_ROUTE, "SERVER")
    assert job.parent_span_id == intake.span_id
    assert job.attributes["cga.job.id"] == job_id
    assert job in trace.ancestors(written_by)
    assert trace.clients("gateway", "postgresql")  # the outbox row
    assert trace.clients("gateway", "redis")  # the enqueued job
    assert trace.clients("worker", "postgresql")  # the job marked done
    assert trace.clients("memory-proxy", "postgresql")  # the memory stored
    (succeeded,) = logged(services["worker"], "worker.write.succeeded", job_id=job_id)
    assert succeeded["trace_id"] == trace_id
    assert succeeded["request_id"] == response.headers["x-request-id"]


def test_probes_and_background_queries_leave_no_spans(
    services: dict[str, ServiceProcess], receiver: SpanReceiver
) -> None:
    for service in services.values():
        for path in ("/livez", "/readyz", "/metrics"):
            assert service.get(path).status_code == 200
    time.sleep(0.5)  # two export intervals

    spans = receiver.spans()
    assert not [span for span in spans if span.name.endswith(("/livez", "/readyz", "/metrics"))]
    # ARQ's queue polls, the backlog gauge and the probes' pings have no request or job.
    assert not [span for span in spans if span.kind == "CLIENT" and not span.parent_span_id]
