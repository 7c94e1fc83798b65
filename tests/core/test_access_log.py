"""CGA_ACCESS_LOG: one log line per request by default; none when switched off (a cost saved
under load), while errors are still logged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import APIRouter

from cga_core.app import create_service_app
from cga_core.config import LogFormat
from cga_core.logging import configure_logging
from cga_gateway.settings import GatewaySettings
from tests.support.env import TestStack
from tests.support.http import app_client


def _crashing_router() -> APIRouter:
    router = APIRouter()

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("boom")

    return router


async def _logged_events(capsys: pytest.CaptureFixture[str]) -> list[str]:
    configure_logging(service="gateway", level="INFO", log_format=LogFormat.JSON)
    app = create_service_app(
        service="gateway", settings=GatewaySettings(), title="probe", routers=[_crashing_router()]
    )
    async with app_client(app) as client:
        await client.get("/nowhere")
        await client.get("/crash")
    lines: list[dict[str, Any]] = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line
    ]
    return [line["event"] for line in lines]


async def test_every_request_is_logged_by_default(
    service_env: TestStack, capsys: pytest.CaptureFixture[str]
) -> None:
    events = await _logged_events(capsys)

    assert events.count("http.request.completed") == 2


async def test_switched_off_no_request_is_logged_but_errors_are(
    service_env: TestStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CGA_ACCESS_LOG", "false")

    events = await _logged_events(capsys)

    assert "http.request.completed" not in events
    assert "http.request.unhandled_error" in events
