"""Readiness follows PostgreSQL and Redis going away and coming back, without a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from cga_core.app import create_service_app
from cga_gateway.settings import GatewaySettings
from tests.support.env import TestStack
from tests.support.http import app_client


@pytest.fixture
async def client(service_env: TestStack) -> AsyncIterator[httpx.AsyncClient]:
    app = create_service_app(service="gateway", settings=GatewaySettings(), title="probe")
    async with app_client(app) as client:
        yield client


@pytest.fixture
def postgres_stopped(stack: TestStack) -> Iterator[None]:
    stack.postgres.stop()
    try:
        yield
    finally:
        stack.postgres.start()


@pytest.fixture
def redis_stopped(stack: TestStack) -> Iterator[None]:
    stack.redis.stop()
    try:
        yield
    finally:
        stack.redis.start()


async def test_liveness_needs_no_dependency(client: httpx.AsyncClient) -> None:
    response = await client.get("/livez")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_postgres_and_redis_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


async def test_not_ready_while_postgres_is_down_and_ready_after_it_returns(
    client: httpx.AsyncClient, stack: TestStack
) -> None:
    assert (await client.get("/readyz")).status_code == 200  # the pool holds a connection now

    stack.postgres.stop()
    try:
        down = await client.get("/readyz")
    finally:
        stack.postgres.start()
    back = await client.get("/readyz")

    assert down.status_code == 503
    assert down.json() == {
        "status": "unavailable",
        "error": "not_ready",
        "detail": "unavailable: database",
        "failed": ["database"],
        "checks": {"database": "unavailable", "redis": "ok"},
    }
    assert back.status_code == 200


async def test_not_ready_while_redis_is_down(
    client: httpx.AsyncClient, redis_stopped: None
) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]


async def test_liveness_holds_while_dependencies_are_down(
    client: httpx.AsyncClient, postgres_stopped: None, redis_stopped: None
) -> None:
    live = await client.get("/livez")
    ready = await client.get("/readyz")

    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["database", "redis"]


async def test_metrics_are_exposed_in_prometheus_format(client: httpx.AsyncClient) -> None:
    await client.get("/nowhere")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "cga_http_requests_total" in response.text
