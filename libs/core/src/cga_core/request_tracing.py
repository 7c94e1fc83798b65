"""The span of each HTTP request, at a cost that depends on whether anyone records it.

Each request is sampled once, as it arrives: it follows its caller's decision when it brings a
``traceparent`` (memory-proxy follows the gateway), and is otherwise kept at the sample ratio.
A request whose trace is recorded gets FastAPI's own OpenTelemetry server span, named by its
route. Any other request — every one when nothing is exported, four in five at a ratio of
0.2 — only gets the ids of a span, for its log lines and the ``traceparent`` it passes on, and
runs with the client instrumentations (SQL, Redis, aiohttp) suppressed: they would build spans
that nobody records. Measured in-process, that costs 15 to 25 µs of CPU per request; FastAPI's
telemetry would spend some 50 µs on a span nobody records (docs/operations/tracing.md).
"""

from __future__ import annotations

import random

from fastapi.telemetry import TelemetryConfig
from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.propagate import extract
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.trace import TracerProvider
from starlette.types import ASGIApp, Receive, Scope, Send

UNTRACED_PATHS = frozenset({"/livez", "/readyz", "/metrics"})


class _ScopeHeaders(Getter[Scope]):
    """Reads a header from the ASGI scope without building a headers object."""

    def get(self, carrier: Scope, key: str) -> list[str] | None:
        name = key.encode("latin-1")
        values = [value.decode("latin-1") for header, value in carrier["headers"] if header == name]
        return values or None

    def keys(self, carrier: Scope) -> list[str]:
        return [header.decode("latin-1") for header, _ in carrier["headers"]]


_SCOPE_HEADERS = _ScopeHeaders()


def caller_context(scope: Scope) -> Context:
    """The trace context the caller sent (``traceparent``), empty when it sent none."""
    return extract(scope, getter=_SCOPE_HEADERS)


class RequestSampling:
    """Decides, per request, whether its trace is recorded."""

    def __init__(self, *, exporting: bool, sample_ratio: float) -> None:
        self.exporting = exporting
        self.sample_ratio = sample_ratio

    def skips(self, scope: Scope) -> bool:
        """True for a request whose trace is not recorded (FastAPI's ``exclude`` hook)."""
        if not self.exporting or scope["path"] in UNTRACED_PATHS:
            return True
        caller = trace.get_current_span(caller_context(scope)).get_span_context()
        if caller.is_valid:
            return not caller.trace_flags.sampled
        return random.random() >= self.sample_ratio  # noqa: S311 - sampling, not security

    def fastapi_telemetry(self, provider: TracerProvider) -> TelemetryConfig:
        """FastAPI's telemetry records the server span of the requests sampled here, and
        nothing else: Prometheus has the metrics, structlog the logs."""
        return {
            "tracer_provider": provider,
            # Without an exporter no request is recorded: FastAPI's telemetry stays out.
            "tracing": self.exporting,
            "metrics": False,
            "logs": False,
            # Spans for dependencies, endpoint and serialization would double a recorded
            # request's cost; its SQL, Redis and HTTP spans already show where time goes.
            "operation_spans": False,
            "auto_configure": False,
            "exclude": self.skips,
        }


class TraceIdsMiddleware:
    """Gives the requests FastAPI's telemetry left out the ids of a span of their own (or of
    their caller's trace), current while their other middleware (access log included) and
    route run: it must be the outermost middleware."""

    def __init__(self, app: ASGIApp, *, provider: TracerProvider) -> None:
        self.app = app
        self.ids = provider.id_generator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in UNTRACED_PATHS
            or trace.get_current_span().get_span_context().is_valid  # a recorded request
        ):
            await self.app(scope, receive, send)
            return
        caller_ctx = caller_context(scope)
        caller = trace.get_current_span(caller_ctx).get_span_context()
        span = trace.NonRecordingSpan(
            trace.SpanContext(
                caller.trace_id if caller.is_valid else self.ids.generate_trace_id(),
                self.ids.generate_span_id(),
                is_remote=False,
                trace_state=caller.trace_state,
            )
        )
        token = context.attach(trace.set_span_in_context(span, caller_ctx))
        try:
            with suppress_instrumentation():
                await self.app(scope, receive, send)
        finally:
            context.detach(token)
