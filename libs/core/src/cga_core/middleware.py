"""Request context: a request id on every request, its log lines and its response."""

from __future__ import annotations

import re
import time
import uuid

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = b"x-request-id"
# Accept a caller's id only if it is short and plain, so it cannot forge log content.
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{8,128}$")
_QUIET_PATHS = frozenset({"/livez", "/readyz", "/metrics"})

logger = structlog.get_logger("cga.http")


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER and _VALID_REQUEST_ID.match(value):
            return str(value.decode("ascii"))
    return None


class RequestContextMiddleware:
    """Binds ``request_id`` for the request's logs, echoes it in ``X-Request-ID``, writes one
    access log line (path without query string) unless ``access_log`` is off, and turns an
    unhandled exception into a 500 with the standard error body instead of a stack trace."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status_code = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_code = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (REQUEST_ID_HEADER, request_id.encode("ascii")),
                ]
            await send(message)

        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_request_id)
            except Exception:
                logger.exception("http.request.unhandled_error", path=scope["path"])
                if not response_started:
                    await _send_internal_error(send_with_request_id)
            finally:
                if self.access_log and scope["path"] not in _QUIET_PATHS:
                    logger.info(
                        "http.request.completed",
                        method=scope["method"],
                        path=scope["path"],
                        status=status_code,
                        duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    )


async def _send_internal_error(send: Send) -> None:
    body = orjson.dumps({"error": "internal_error", "detail": "An internal error occurred."})
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
