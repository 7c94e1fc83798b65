"""One error shape for every service: ``{"error": code, "detail": text}``.

Expected failures raise an :class:`AppError` subclass; FastAPI's own validation and routing
errors are rendered in the same shape. Unexpected exceptions are handled by
:class:`cga_core.middleware.RequestContextMiddleware`, which logs them and answers 500 without
a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import structlog
from asyncpg.exceptions import InternalClientError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

MAX_DETAIL_LENGTH = 500
logger = structlog.get_logger("cga.http")


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str = Field(description="Stable, machine-readable error code.", examples=["not_found"])
    detail: str = Field(description="Short human-readable explanation.", examples=["Not found."])


class AppError(Exception):
    """Base of expected failures; subclasses set the status and the stable error code."""

    status_code: ClassVar[int] = 400
    error: ClassVar[str] = "bad_request"
    default_detail: ClassVar[str] = "The request is invalid."

    def __init__(self, detail: str | None = None, *, headers: Mapping[str, str] | None = None):
        self.detail = detail or self.default_detail
        self.headers = dict(headers or {})
        super().__init__(self.detail)


class InvalidRequest(AppError):
    status_code = 422
    error = "invalid_request"
    default_detail = "The request is invalid."


class NotFound(AppError):
    status_code = 404
    error = "not_found"
    default_detail = "Not found."


class ServiceUnavailable(AppError):
    status_code = 503
    error = "service_unavailable"
    default_detail = "The service is temporarily unavailable; retry later."


_HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "service_unavailable",
}


def error_response(
    status_code: int, error: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "detail": detail[:MAX_DETAIL_LENGTH]},
        status_code=status_code,
        headers=dict(headers or {}),
    )


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """``body.query: Field required; query.limit: ...`` — never echoes the rejected input."""
    parts = []
    for error in errors:
        location = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{location}: {error.get('msg', 'invalid value')}")
    return "; ".join(parts) or InvalidRequest.default_detail


async def _handle_app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)  # noqa: S101 - registered for AppError only
    return error_response(exc.status_code, exc.error, exc.detail, exc.headers)


async def _handle_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type only
    return error_response(422, InvalidRequest.error, describe_validation_errors(exc.errors()))


async def _handle_http_exception(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type only
    code = _HTTP_ERROR_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ").capitalize()
    return error_response(exc.status_code, code, detail, exc.headers)


async def _handle_unavailable_dependency(_: Request, exc: Exception) -> JSONResponse:
    logger.warning("http.dependency.unavailable", reason=type(exc).__name__)
    return error_response(
        503,
        "service_unavailable",
        "A storage service is unavailable; retry shortly.",
        {"Retry-After": "5"},
    )


# A database or another service that cannot be reached is an outage (503), not a bug (500).
UNAVAILABLE_DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    SQLAlchemyTimeoutError,
    ConnectionError,
    RedisConnectionError,
    RedisTimeoutError,
)


# SQLSTATE classes of a server going away or not there yet: connection exception (08),
# operator intervention such as a shutdown or "the database system is starting up" (57),
# insufficient resources such as too many connections (53).
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "57", "53"})


def database_unavailable(exc: DBAPIError) -> bool:
    """Whether a database error means the database is (re)starting or unreachable, rather than
    a bug: errors raised on a connection that broke mid-operation come in many classes."""
    if exc.connection_invalidated:
        return True
    cause: BaseException | None = exc.orig
    while cause is not None:
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES:
            return True
        # The client's protocol state broken by a connection lost mid-statement.
        if isinstance(cause, (InternalClientError, OSError)):
            return True
        cause = cause.__cause__
    return False


def database_outage(exc: BaseException) -> bool:
    """Whether an exception from a database call means the database is away for now."""
    if isinstance(exc, (OperationalError, InterfaceError, SQLAlchemyTimeoutError, OSError)):
        return True
    return isinstance(exc, DBAPIError) and database_unavailable(exc)


async def _handle_database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)  # noqa: S101 - registered for this type only
    if database_unavailable(exc):
        return await _handle_unavailable_dependency(request, exc)
    raise exc  # a bug: the request middleware logs it and answers 500


def install_error_handlers(app: FastAPI) -> None:
    for error in UNAVAILABLE_DEPENDENCY_ERRORS:
        app.add_exception_handler(error, _handle_unavailable_dependency)
    app.add_exception_handler(DBAPIError, _handle_database_error)
    app.add_exception_handler(AppError, _handle_app_error)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
