from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from cga_core.config import (
    DEVELOPMENT_DATABASE_URL,
    Environment,
    LogFormat,
    describe_validation_error,
    load_settings,
)
from cga_gateway.settings import GatewaySettings
from cga_worker.settings import WorkerSettings

PRODUCTION_URLS = {
    "CGA_DATABASE_URL": "postgresql+asyncpg://cga:s3cret@db.internal:5432/cga",
    "CGA_REDIS_URL": "rediss://:s3cret@redis.internal:6379/0",
    "CGA_INTERNAL_TOKEN": "an-internal-token-of-a-production-deployment",
    "CGA_GATEWAY_PUBLIC_URL": "https://memory.example.com",
    "CGA_GATEWAY_AUTH_PUBLIC_URL": "https://memory.example.com",
}


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CGA_ENV",
        "CGA_DATABASE_URL",
        "CGA_REDIS_URL",
        "CGA_LOG_FORMAT",
        "CGA_INTERNAL_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)


def test_development_defaults_need_no_configuration() -> None:
    settings = GatewaySettings()

    assert settings.env is Environment.DEVELOPMENT
    assert settings.database_url.get_secret_value() == DEVELOPMENT_DATABASE_URL
    assert settings.port == 8000
    assert settings.effective_log_format is LogFormat.CONSOLE


def test_system_wide_values_come_from_cga_prefix_and_own_values_from_service_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CGA_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("CGA_GATEWAY_PORT", "9100")
    monkeypatch.setenv("CGA_WORKER_PORT", "9200")
    monkeypatch.setenv("CGA_WORKER_POLL_DELAY", "0.2")

    gateway, worker = GatewaySettings(), WorkerSettings()

    assert gateway.redis_url.get_secret_value() == worker.redis_url.get_secret_value()
    assert gateway.redis_url.get_secret_value() == "redis://cache:6379/2"
    assert (gateway.port, worker.port) == (9100, 9200)
    assert worker.poll_delay == timedelta(milliseconds=200)


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_default_secrets_are_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    monkeypatch.setenv("CGA_ENV", environment)

    with pytest.raises(ValidationError) as raised:
        GatewaySettings()

    message = describe_validation_error(raised.value)
    assert "CGA_DATABASE_URL must be set" in message
    assert "CGA_REDIS_URL must be set" in message
    assert "\n" not in message


def test_empty_secret_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGA_ENV", "production")
    monkeypatch.setenv("CGA_DATABASE_URL", "   ")
    monkeypatch.setenv("CGA_REDIS_URL", PRODUCTION_URLS["CGA_REDIS_URL"])

    with pytest.raises(ValidationError, match="CGA_DATABASE_URL must be set"):
        GatewaySettings()


def test_production_starts_with_real_secrets_and_logs_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGA_ENV", "production")
    for name, value in PRODUCTION_URLS.items():
        monkeypatch.setenv(name, value)

    settings = GatewaySettings()

    assert settings.env is Environment.PRODUCTION
    assert settings.effective_log_format is LogFormat.JSON
    assert "s3cret" not in repr(settings)


def test_load_settings_exits_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CGA_ENV", "production")

    with pytest.raises(SystemExit) as exited:
        load_settings(GatewaySettings, "cga-gateway")

    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1
    assert stderr.startswith("cga-gateway: configuration error: CGA_DATABASE_URL must be set")


def test_malformed_value_is_reported_by_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CGA_GATEWAY_PORT", "eighty")

    with pytest.raises(SystemExit):
        load_settings(GatewaySettings, "cga-gateway")

    assert "port" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.2", timedelta(milliseconds=200)),
        ("250ms", timedelta(milliseconds=250)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("90d", timedelta(days=90)),
        ("PT45S", timedelta(seconds=45)),
    ],
)
def test_durations_accept_seconds_units_and_iso8601(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: timedelta
) -> None:
    monkeypatch.setenv("CGA_WORKER_AUDIT_RETENTION", raw)

    assert WorkerSettings().audit_retention == expected


def test_malformed_duration_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGA_WORKER_JOB_TIMEOUT", "soon")

    with pytest.raises(ValidationError, match="job_timeout"):
        WorkerSettings()
