"""One real stack for the monitoring tests: the four services as processes on the private
PostgreSQL and Redis, scraped right after start-up and again after a little real traffic
(a GPT user's sign-in and refresh, a failed sign-in, a search, a write the worker drains, a
rate-limited call), with what that traffic used kept for the checks."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.actions import GptUser, sign_in
from tests.support.auth import (
    Browser,
    RegisteredApp,
    admin_client,
    exchange_code,
    refresh,
    register_app,
)
from tests.support.env import TestStack
from tests.support.metrics import Exposition
from tests.support.processes import ServiceProcess, wait_for
from tests.support.stacks import running_system

ALL_SCOPES = ["memories:read", "memories:write", "memories:delete"]
WRITE_DRAINED_WITHIN = 30.0


@dataclass(frozen=True)
class Traffic:
    """What the traffic used and produced."""

    user: GptUser
    app: RegisteredApp
    job_id: str
    memory_id: str
    unknown_memory_id: str
    unknown_path: str
    write_request_id: str

    def identifiers(self) -> dict[str, str]:
        """Values that name a person, a secret or one object: never a label value."""
        return {
            "user id": self.user.sub,
            "email": self.user.email,
            "access token": self.user.access_token,
            "refresh token": self.user.refresh_token,
            "client secret": self.app.client_secret,
            "job id": self.job_id,
            "memory id": self.memory_id,
            "unknown memory id": self.unknown_memory_id,
            "unknown path": self.unknown_path,
        }


@dataclass(frozen=True)
class MonitoredStack:
    services: dict[str, ServiceProcess]
    at_start: dict[str, Exposition]
    after_traffic: dict[str, Exposition]
    traffic: Traffic


def scrape_all(services: dict[str, ServiceProcess]) -> dict[str, Exposition]:
    return {name: Exposition.scrape(service) for name, service in services.items()}


def _drive_traffic(services: dict[str, ServiceProcess]) -> Traffic:
    auth_url = services["auth"].base_url
    with admin_client(f"http://127.0.0.1:{services['auth'].admin_port}") as admin:
        app = register_app(admin, scopes=ALL_SCOPES)
        user = sign_in(auth_url, admin, app)
        limited_app = register_app(admin, scopes=ALL_SCOPES, rate_limit_per_minute=1)
        limited_user = sign_in(auth_url, admin, limited_app)
    assert refresh(auth_url, app, user.refresh_token).status_code == 200
    assert Browser(auth_url).sign_in(user.email, "not the password").status_code == 400
    assert exchange_code(auth_url, app, "cga_ac_never-issued").status_code == 400

    with httpx.Client(base_url=services["gateway"].base_url, timeout=10) as api:
        searched = api.post("/api/v1/memories/search", json={"query": "tea"}, headers=user.headers)
        assert searched.status_code == 200, searched.text
        accepted = api.post(
            "/api/v1/memories", json={"content": "Ada takes her tea black"}, headers=user.headers
        )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        memory_id = _wait_until_written(api, user, job_id)
        assert api.get(f"/api/v1/memories/{memory_id}", headers=user.headers).status_code == 200
        unknown_memory_id = str(uuid.uuid4())
        missing = api.get(f"/api/v1/memories/{unknown_memory_id}", headers=user.headers)
        assert missing.status_code == 404
        unknown_path = f"/api/v1/nowhere-{uuid.uuid4().hex}"
        assert api.get(unknown_path).status_code == 404
        limited = [
            api.get("/api/v1/memories", headers=limited_user.headers).status_code for _ in range(2)
        ]
        assert limited == [200, 429]
    return Traffic(
        user,
        app,
        job_id,
        memory_id,
        unknown_memory_id,
        unknown_path,
        accepted.headers["x-request-id"],
    )


def _wait_until_written(api: httpx.Client, user: GptUser, job_id: str) -> str:
    """The id of the memory the worker wrote for the job."""
    deadline = time.monotonic() + WRITE_DRAINED_WITHIN
    while time.monotonic() < deadline:
        job = api.get(f"/api/v1/memories/jobs/{job_id}", headers=user.headers).json()
        if job["status"] == "succeeded":
            return str(job["memory_id"])
        assert job["status"] in {"queued", "running"}, job
        time.sleep(0.1)
    raise AssertionError(f"the worker did not write job {job_id} in time")


# Package scope: its worker must be gone before other packages' tests, which count on being
# the only consumer of the shared queue.
@pytest.fixture(scope="package")
def monitored_stack(
    stack: TestStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MonitoredStack]:
    log_dir = tmp_path_factory.mktemp("monitoring-logs")
    with running_system(stack.environment(), log_dir, metrics_interval="200ms") as services:
        at_start = scrape_all(services)
        traffic = _drive_traffic(services)
        # The job's status is committed a moment before the worker counts the run.
        wait_for(
            "the worker to count the write",
            lambda: (
                Exposition.scrape(services["worker"]).value("cga_jobs_total", outcome="succeeded")
                >= 1
            ),
        )
        yield MonitoredStack(services, at_start, scrape_all(services), traffic)
