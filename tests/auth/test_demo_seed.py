"""The local stack's demo credentials work for the whole sign-in, and seeding is repeatable."""

from __future__ import annotations

import os
import subprocess

import pytest

from cga_auth.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_EMAIL, DEMO_REDIRECT_URIS
from tests.support.auth import Browser, RegisteredApp, exchange_code
from tests.support.env import TestStack
from tests.support.processes import executable

pytestmark = pytest.mark.e2e


def _seed(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [executable("cga-seed-demo")],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_seeding_twice_succeeds_and_prints_the_credentials(stack: TestStack) -> None:
    first, second = _seed(stack.environment()), _seed(stack.environment())

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert DEMO_EMAIL in first.stdout
    assert DEMO_CLIENT_SECRET in first.stdout


def test_demo_user_signs_in_to_the_demo_app(stack: TestStack, auth_url: str) -> None:
    assert _seed(stack.environment()).returncode == 0
    demo = RegisteredApp(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URIS, ["memories:read"])

    callback = Browser(auth_url).authorize(demo, DEMO_EMAIL, password="demo-password-123")

    assert exchange_code(auth_url, demo, callback["code"]).status_code == 200


def test_seeding_is_refused_outside_development(stack: TestStack) -> None:
    result = _seed({**stack.environment(), "CGA_ENV": "production"})

    assert result.returncode != 0
