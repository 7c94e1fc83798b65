"""Settings shared by every service.

System-wide values (environment, database, Redis, tracing) are read from ``CGA_*`` variables;
each service's own values from its prefix, e.g. ``CGA_GATEWAY_PORT``.
"""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Self, TypeVar

from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:54329/cga"
DEVELOPMENT_REDIS_URL = "redis://127.0.0.1:63790/0"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def _parse_duration(value: object) -> object:
    """``"1.5"`` (seconds), ``"500ms"``, ``"30s"``, ``"5m"``, ``"2h"``, ``"90d"``; anything else
    (ISO 8601 ``PT30S``, a timedelta) is left to pydantic."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]
"""A duration setting: seconds, or a number with a unit (ms, s, m, h, d)."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    STAGING = "staging"
    PRODUCTION = "production"

    @property
    def accepts_development_secrets(self) -> bool:
        return self in (Environment.DEVELOPMENT, Environment.TEST)


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


def system_wide(default: Any, variable: str, description: str) -> Any:
    """A setting read from one ``CGA_*`` variable by every service."""
    return Field(default, validation_alias=AliasChoices(variable), description=description)


class CommonSettings(BaseSettings):
    """Settings of every program that touches the database; secrets are validated here."""

    model_config = SettingsConfigDict(
        env_prefix="CGA_", extra="ignore", validate_by_name=True, validate_default=True
    )

    env: Environment = system_wide(
        Environment.DEVELOPMENT,
        "CGA_ENV",
        "Deployment environment; secrets are enforced outside development/test.",
    )
    log_level: str = system_wide("INFO", "CGA_LOG_LEVEL", "Minimum log level.")
    log_format: LogFormat | None = system_wide(
        None, "CGA_LOG_FORMAT", "json or console; json unless the environment is development."
    )
    database_url: SecretStr = system_wide(
        SecretStr(DEVELOPMENT_DATABASE_URL),
        "CGA_DATABASE_URL",
        "SQLAlchemy URL of PostgreSQL (postgresql+asyncpg://user:password@host:port/db).",
    )
    otel_exporter_otlp_endpoint: str | None = system_wide(
        None,
        "CGA_OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTLP/HTTP endpoint spans are exported to (http://otel-collector:4318); when unset"
        " nothing is recorded, but requests and jobs still get trace ids for logs.",
    )
    otel_sample_ratio: float = system_wide(
        1.0,
        "CGA_OTEL_SAMPLE_RATIO",
        "Share of new traces that are recorded (0..1); a caller's traceparent decides for its own.",
    )
    dependency_timeout: Duration = Field(
        timedelta(seconds=2), description="Time a connection attempt or readiness check may take."
    )

    @property
    def effective_log_format(self) -> LogFormat:
        if self.log_format is not None:
            return self.log_format
        return LogFormat.CONSOLE if self.env is Environment.DEVELOPMENT else LogFormat.JSON

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> Self:
        if self.env.accepts_development_secrets:
            return self
        problems = [
            f"{self.variable_name(name)} must be set (an empty value or the development default"
            f" is refused when CGA_ENV={self.env})"
            for name, field in type(self).model_fields.items()
            if _is_unset_or_default_secret(getattr(self, name), field)
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @classmethod
    def variable_name(cls, field_name: str) -> str:
        alias = cls.model_fields[field_name].validation_alias
        if isinstance(alias, AliasChoices):
            return str(alias.choices[0])
        return f"{cls.model_config.get('env_prefix', '')}{field_name}".upper()


class ServiceSettings(CommonSettings):
    """Base of every service's settings; subclasses set ``env_prefix`` and their port."""

    redis_url: SecretStr = system_wide(
        SecretStr(DEVELOPMENT_REDIS_URL), "CGA_REDIS_URL", "URL of Redis (redis:// or rediss://)."
    )
    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port of the HTTP server.")
    access_log: bool = system_wide(
        True,
        "CGA_ACCESS_LOG",
        "Log one line per HTTP request; off saves its cost under load (errors are still logged).",
    )
    database_pool_size: int = Field(5, ge=1, description="Connections kept in the database pool.")
    database_max_overflow: int = Field(
        5, ge=0, description="Extra connections above the pool size."
    )
    shutdown_grace: Duration = Field(
        timedelta(seconds=20), description="Time in-flight work may take after SIGTERM."
    )


def _is_unset_or_default_secret(value: object, field: FieldInfo) -> bool:
    if not isinstance(value, SecretStr):
        return False
    secret = value.get_secret_value().strip()
    default = field.default.get_secret_value() if isinstance(field.default, SecretStr) else None
    return not secret or secret == default


SettingsT = TypeVar("SettingsT", bound=CommonSettings)


def load_settings(settings_class: type[SettingsT], program: str) -> SettingsT:
    """Read settings from the environment; on a bad value print one line and exit 2."""
    try:
        return settings_class()
    except ValidationError as exc:
        print(f"{program}: configuration error: {describe_validation_error(exc)}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        location = ".".join(str(part) for part in error["loc"])
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)
