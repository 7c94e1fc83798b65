"""The four services as real processes against the private PostgreSQL and Redis."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.env import TestStack
from tests.support.processes import (
    SERVICES,
    ServiceProcess,
    executable,
    start_all,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def services(
    stack: TestStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    running = start_all(stack.environment(), tmp_path_factory.mktemp("service-logs"))
    yield running
    for service in running.values():
        service.stop()


def _all_ready(services: dict[str, ServiceProcess]) -> bool:
    return all(service.get("/readyz").status_code == 200 for service in services.values())


def test_every_service_becomes_ready(services: dict[str, ServiceProcess]) -> None:
    wait_for("every /readyz to answer 200", lambda: _all_ready(services))

    for service in services.values():
        body = service.get("/readyz").json()
        assert body == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}, (
            service.name
        )


def test_readiness_follows_postgres_without_restarting_services(
    services: dict[str, ServiceProcess], stack: TestStack
) -> None:
    wait_for("every /readyz to answer 200", lambda: _all_ready(services))
    pids = {name: service.process.pid for name, service in services.items()}

    stack.postgres.stop()
    try:
        answers = {name: service.get("/readyz") for name, service in services.items()}
    finally:
        stack.postgres.start()

    for name, answer in answers.items():
        assert answer.status_code == 503, name
        assert answer.json()["failed"] == ["database"], name
        assert answer.json()["checks"]["database"] == "unavailable", name
    wait_for("every /readyz to recover", lambda: _all_ready(services))
    assert {name: service.process.pid for name, service in services.items()} == pids
    assert all(service.process.poll() is None for service in services.values())


def test_each_service_writes_json_logs_with_request_ids(
    services: dict[str, ServiceProcess],
) -> None:
    for service in services.values():
        response = service.get("/no-such-page")
        assert response.status_code == 404
        assert response.json() == {"error": "not_found", "detail": "Not Found"}
        request_id = response.headers["x-request-id"]

        def access_lines(
            service: ServiceProcess = service, request_id: str = request_id
        ) -> list[dict[str, Any]]:
            events = [json.loads(line) for line in service.log_lines()]
            return [event for event in events if event.get("request_id") == request_id]

        # The access line is written as the response completes: poll, do not race it.
        wait_for(f"{service.name}'s access log line", access_lines, timeout=5)
        access = access_lines()
        assert len(access) == 1, service.name
        assert access[0]["event"] == "http.request.completed"
        assert access[0]["service"] == service.name
        assert access[0]["status"] == 404


def test_services_exit_cleanly_on_sigterm(stack: TestStack, tmp_path: Path) -> None:
    running = start_all(stack.environment(), tmp_path)

    exit_codes = {name: service.stop(timeout=30) for name, service in running.items()}

    assert exit_codes == dict.fromkeys(SERVICES, 0)
    for service in running.values():
        events = [json.loads(line)["event"] for line in service.log_lines()]
        assert any("shutdown" in event.lower() for event in events), service.name


@pytest.mark.parametrize("program", [*(f"cga-{name}" for name in SERVICES), "cga-migrate"])
def test_production_refuses_to_start_with_default_secrets(program: str) -> None:
    result = subprocess.run(
        [executable(program)],
        env={"PATH": "/usr/bin:/bin", "CGA_ENV": "production"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"{program}: configuration error: CGA_DATABASE_URL must be set")


def test_admin_status_reports_every_service_ready(services: dict[str, ServiceProcess]) -> None:
    wait_for("every /readyz to answer 200", lambda: _all_ready(services))
    options = [f"--{name}-url={service.base_url}" for name, service in services.items()]

    result = subprocess.run(
        [executable("cga-admin"), "status", *options],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )

    assert result.returncode == 0, result.stdout
    assert result.stdout.count("ready") == 4
    assert "database=ok, redis=ok" in result.stdout


def test_admin_status_fails_when_a_service_is_unreachable(
    services: dict[str, ServiceProcess],
) -> None:
    result = subprocess.run(
        [executable("cga-admin"), "status", "--gateway-url=http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )

    assert result.returncode == 1
    assert "unreachable" in result.stdout
