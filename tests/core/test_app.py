"""The shared application factory: error bodies, request ids, access logs and sessions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.app import DbSession, create_service_app
from cga_core.config import LogFormat
from cga_core.errors import NotFound
from cga_core.logging import configure_logging
from cga_gateway.settings import GatewaySettings
from tests.support.env import TestStack
from tests.support.http import app_client


class Note(BaseModel):
    text: str = Field(min_length=1, max_length=20)
    stars: int = Field(ge=1, le=5)


def _probe_router() -> APIRouter:
    router = APIRouter()

    @router.post("/notes")
    async def create_note(note: Note, session: DbSession) -> dict[str, str]:
        await session.execute(text("INSERT INTO probe_notes (body) VALUES (:t)"), {"t": note.text})
        return {"stored": note.text}

    @router.post("/notes/then-fail")
    async def create_note_then_fail(note: Note, session: DbSession) -> None:
        await session.execute(text("INSERT INTO probe_notes (body) VALUES (:t)"), {"t": note.text})
        raise NotFound("That note board does not exist.")

    @router.post("/notes/slowly")
    async def create_note_slowly(note: Note, session: DbSession) -> dict[str, str]:
        await session.execute(text("INSERT INTO probe_notes (body) VALUES (:t)"), {"t": note.text})
        await session.execute(text("SELECT pg_sleep(10)"))
        return {"stored": note.text}

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("database password is hunter2")

    return router


@pytest.fixture
def app(service_env: TestStack) -> FastAPI:
    return create_service_app(
        service="gateway", settings=GatewaySettings(), title="probe", routers=[_probe_router()]
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(app) as client:
        yield client


@pytest.fixture
async def probe_table(engine: AsyncEngine) -> AsyncIterator[None]:
    async with engine.begin() as connection:
        # Uniqueness checked at commit: a commit that fails after the route returned.
        await connection.execute(
            text("CREATE TABLE probe_notes (body text UNIQUE DEFERRABLE INITIALLY DEFERRED)")
        )
    yield
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE probe_notes"))


async def _stored_notes(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.execute(text("SELECT body FROM probe_notes"))).scalars())


async def test_unknown_route_renders_the_standard_error_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not Found"}


async def test_wrong_method_renders_the_standard_error_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/notes")

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


async def test_invalid_body_is_422_naming_each_field_without_echoing_input(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/notes", json={"text": "x" * 50, "stars": 9})

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_request"
    assert "body.text" in body["detail"]
    assert "body.stars" in body["detail"]
    assert "x" * 50 not in body["detail"]


async def test_malformed_json_is_a_4xx_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/notes", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


async def test_unhandled_exception_is_a_500_without_details(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await client.get("/crash")

    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "detail": "An internal error occurred."}
    assert "hunter2" not in response.text
    assert response.headers["x-request-id"]


async def test_request_id_is_generated_and_returned(client: httpx.AsyncClient) -> None:
    first = await client.get("/livez")
    second = await client.get("/livez")

    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_callers_request_id_is_propagated(client: httpx.AsyncClient) -> None:
    response = await client.get("/livez", headers={"X-Request-ID": "trace-me-0001"})

    assert response.headers["x-request-id"] == "trace-me-0001"


@pytest.mark.parametrize("forged", ["short", "has spaces in it", "x" * 200, "evil\\n{json}"])
async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient, forged: str) -> None:
    response = await client.get("/livez", headers={"X-Request-ID": forged})

    assert response.headers["x-request-id"] != forged


async def test_session_commits_when_the_route_succeeds(
    client: httpx.AsyncClient, engine: AsyncEngine, probe_table: None
) -> None:
    response = await client.post("/notes", json={"text": "kept", "stars": 3})

    assert response.status_code == 200
    assert await _stored_notes(engine) == ["kept"]


async def test_session_rolls_back_when_the_route_raises(
    client: httpx.AsyncClient, engine: AsyncEngine, probe_table: None
) -> None:
    response = await client.post("/notes/then-fail", json={"text": "dropped", "stars": 3})

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "That note board does not exist."}
    assert await _stored_notes(engine) == []


async def test_a_failed_commit_is_the_response_not_a_success_already_sent(
    client: httpx.AsyncClient, engine: AsyncEngine, probe_table: None
) -> None:
    assert (await client.post("/notes", json={"text": "once", "stars": 3})).status_code == 200

    response = await client.post("/notes", json={"text": "once", "stars": 3})

    assert response.status_code == 500
    assert response.json()["error"] == "internal_error"
    assert await _stored_notes(engine) == ["once"]


async def test_an_unreachable_database_is_a_503_not_a_500(
    client: httpx.AsyncClient, stack: TestStack, probe_table: None
) -> None:
    stack.postgres.stop()
    try:
        response = await client.post("/notes", json={"text": "while down", "stars": 1})
    finally:
        stack.postgres.start()

    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"
    assert response.headers["retry-after"] == "5"


async def test_a_database_shut_down_mid_request_is_a_503_not_a_500(
    client: httpx.AsyncClient, stack: TestStack, probe_table: None
) -> None:
    request = asyncio.create_task(client.post("/notes/slowly", json={"text": "cut", "stars": 1}))
    await asyncio.sleep(1)  # the statement is running
    stack.postgres.stop()
    try:
        response = await request
    finally:
        stack.postgres.start()

    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"


async def test_logs_are_one_json_object_per_line_with_request_id(
    app: FastAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(service="gateway", level="INFO", log_format=LogFormat.JSON)
    async with app_client(app) as client:
        await client.get("/nowhere?code=SECRET-CODE", headers={"X-Request-ID": "req-log-shape-1"})
        await client.get("/crash", headers={"X-Request-ID": "req-log-shape-2"})

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    completed = [line for line in lines if line["event"] == "http.request.completed"]
    assert [(line["path"], line["status"]) for line in completed] == [
        ("/nowhere", 404),
        ("/crash", 500),
    ]
    first = completed[0]
    assert first["request_id"] == "req-log-shape-1"
    assert first["service"] == "gateway"
    assert first["level"] == "info"
    assert first["method"] == "GET"
    assert isinstance(first["duration_ms"], float)
    assert first["timestamp"].endswith("Z")
    crash = next(line for line in lines if line["event"] == "http.request.unhandled_error")
    assert crash["request_id"] == "req-log-shape-2"
    assert crash["level"] == "error"
    assert "RuntimeError" in crash["exception"]
    # The query string (which may hold an authorization code) is never logged.
    assert all("SECRET-CODE" not in json.dumps(line) for line in completed)


async def test_logs_carry_the_trace_id_when_tracing_is_on(
    service_env: TestStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A collector that is not there: spans are dropped at export, which is all this test needs.
    monkeypatch.setenv("CGA_OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0.2")
    configure_logging(service="gateway", level="INFO", log_format=LogFormat.JSON)
    app = create_service_app(service="gateway", settings=GatewaySettings(), title="traced")
    parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736"

    async with app_client(app) as client:
        await client.get(
            "/nowhere", headers={"traceparent": f"00-{parent_trace}-00f067aa0ba902b7-01"}
        )

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    completed = next(line for line in lines if line["event"] == "http.request.completed")
    assert completed["trace_id"] == parent_trace
    assert len(completed["span_id"]) == 16
