"""structlog configuration: one JSON object per line on stdout, or console output in development.

Third-party loggers (uvicorn, SQLAlchemy, ARQ) go through the same processors, so every line
carries the request id, the trace id and the service name, and secrets are masked.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import orjson
import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from cga_core.config import LogFormat

REDACTED = "[redacted]"
_SECRET_KEYS = frozenset(
    {
        "password",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "code",
        "authorization",
        "cookie",
        "set-cookie",
        "admin_token",
        "api_key",
    }
)
# Tokens we issue carry these prefixes so a leaked one is recognisable (and maskable) anywhere.
_TOKEN_PATTERN = re.compile(r"\bcga_(?:at|rt|cs|ac)_[A-Za-z0-9_\-.]+")
_BEARER_PATTERN = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9_\-.~+/=]+")


def _mask(value: str) -> str:
    return _BEARER_PATTERN.sub(r"\1 " + REDACTED, _TOKEN_PATTERN.sub(REDACTED, value))


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key, value in event_dict.items():
        if key.lower() in _SECRET_KEYS and value is not None:
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = _mask(value)
    return event_dict


def add_trace_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def _service_adder(service: str) -> Processor:
    def add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


def _json_dumps(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def configure_logging(*, service: str, level: str, log_format: LogFormat) -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _service_adder(service),
        add_trace_context,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        redact_secrets,
    ]
    renderer: Processor
    if log_format is LogFormat.JSON:
        renderer = structlog.processors.JSONRenderer(serializer=_json_dumps)
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer()

    structlog.configure(
        # Drop events below the level before any processor runs: the access log line of every
        # request costs nothing when INFO is off.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "arq", "sqlalchemy", "alembic"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # Requests are logged once, by RequestContextMiddleware, without query strings (which may
    # carry authorization codes).
    logging.getLogger("uvicorn.access").disabled = True
