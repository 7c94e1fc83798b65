"""A real auth process on loopback ports, shared by the auth tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.auth import RegisteredApp, admin_client, register_app
from tests.support.env import TestStack
from tests.support.processes import ServiceProcess, start_service


@pytest.fixture(scope="module")
def auth_service(
    stack: TestStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    environment = {
        **stack.environment(),
        "CGA_AUTH_REFRESH_REUSE_GRACE": "2s",
        "CGA_AUTH_AUTHORIZATION_CODE_TTL": "3s",
        "CGA_AUTH_SECRET_ROTATION_OVERLAP": "2s",
    }
    service = start_service("auth", environment, tmp_path_factory.mktemp("auth-logs"))
    service.wait_until_live()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def auth_url(auth_service: ServiceProcess) -> str:
    return auth_service.base_url


@pytest.fixture(scope="module")
def admin(auth_service: ServiceProcess) -> Iterator[httpx.Client]:
    with admin_client(f"http://127.0.0.1:{auth_service.admin_port}") as client:
        yield client


@pytest.fixture
def app(admin: httpx.Client) -> RegisteredApp:
    """A new app registered through the admin API, for one test."""
    return register_app(admin)
