"""What the end-to-end tests of the whole system share: a module starts the system as its
``services`` fixture (each with its own environment, e.g. with or without an OTLP endpoint)
and gets a user signed in through the real OAuth flow and a client of the gateway."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.actions import GptUser
from tests.support.processes import ServiceProcess
from tests.support.stacks import signed_in_user


@pytest.fixture(scope="module")
def user(services: dict[str, ServiceProcess]) -> GptUser:
    return signed_in_user(services)


@pytest.fixture(scope="module")
def api(services: dict[str, ServiceProcess]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=services["gateway"].base_url, timeout=10) as client:
        yield client
