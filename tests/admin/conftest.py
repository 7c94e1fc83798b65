"""A real auth process for the ``cga-admin`` tests, and a way to run the real executable."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cga_auth.settings import DEVELOPMENT_ADMIN_TOKEN
from tests.support.env import TestStack
from tests.support.processes import ServiceProcess, executable, start_service


@dataclass(frozen=True)
class AdminCli:
    """``cga-admin`` as an operator runs it, pointed at one auth service's admin port."""

    admin_url: str
    token: str = DEVELOPMENT_ADMIN_TOKEN

    def run(
        self, *args: str, input_text: str | None = None, **environment: str
    ) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "80",
            "CGA_ADMIN_URL": self.admin_url,
            "CGA_ADMIN_TOKEN": self.token,
            **environment,
        }
        return subprocess.run(
            [executable("cga-admin"), *args],
            input=input_text or "",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )

    def json(self, *args: str, input_text: str | None = None) -> Any:
        """Run a command with ``--json``; it must succeed and print JSON only."""
        result = self.run(*args, "--json", input_text=input_text)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def auth_service(
    stack: TestStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    environment = {
        **stack.environment(),
        # Every test signs in from 127.0.0.1 and the throttle lives in the session's shared
        # Redis: a per-IP limit of its own keeps other modules' failed sign-ins from counting.
        "CGA_AUTH_LOGIN_FAILURES_PER_IP": "10000",
    }
    service = start_service("auth", environment, tmp_path_factory.mktemp("auth-logs"))
    service.wait_until_live()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def cli(auth_service: ServiceProcess) -> AdminCli:
    return AdminCli(f"http://127.0.0.1:{auth_service.admin_port}")
