"""The Actions API end to end: a token from the real OAuth flow, the real gateway, the real
memory-proxy with the local backend, over HTTP — as ChatGPT calls it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.models import AuditEvent
from tests.support.actions import GptUser, seed_memory, sign_in
from tests.support.auth import RegisteredApp, admin_client, register_app
from tests.support.env import TestStack
from tests.support.processes import ServiceProcess, start_actions_stack

pytestmark = pytest.mark.e2e
ALL_SCOPES = ["memories:read", "memories:write", "memories:delete"]


@pytest.fixture(scope="module")
def stack_services(
    stack: TestStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    services = start_actions_stack(stack.environment(), tmp_path_factory.mktemp("actions-logs"))
    yield services
    for service in services.values():
        service.stop()


@pytest.fixture(scope="module")
def api(stack_services: dict[str, ServiceProcess]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack_services["gateway"].base_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def admin(stack_services: dict[str, ServiceProcess]) -> Iterator[httpx.Client]:
    with admin_client(f"http://127.0.0.1:{stack_services['auth'].admin_port}") as client:
        yield client


@pytest.fixture(scope="module")
def app(admin: httpx.Client) -> RegisteredApp:
    return register_app(admin, scopes=ALL_SCOPES)


@pytest.fixture(scope="module")
def alice(
    stack_services: dict[str, ServiceProcess], admin: httpx.Client, app: RegisteredApp
) -> GptUser:
    return sign_in(stack_services["auth"].base_url, admin, app)


@pytest.fixture(scope="module")
def bob(
    stack_services: dict[str, ServiceProcess], admin: httpx.Client, app: RegisteredApp
) -> GptUser:
    return sign_in(stack_services["auth"].base_url, admin, app)


@pytest.fixture(scope="module")
def memory_proxy_url(stack_services: dict[str, ServiceProcess]) -> str:
    return stack_services["memory-proxy"].base_url


def test_search_finds_the_users_memories_best_first(
    api: httpx.Client, alice: GptUser, memory_proxy_url: str
) -> None:
    seed_memory(memory_proxy_url, alice.sub, "Alice drinks green tea every morning", topic="food")
    seed_memory(memory_proxy_url, alice.sub, "Alice's sister lives in Lisbon")

    response = api.post(
        "/api/v1/memories/search", json={"query": "what tea does she drink?"}, headers=alice.headers
    )

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["content"] for r in results] == ["Alice drinks green tea every morning"]
    assert results[0]["score"] > 0
    assert results[0]["metadata"] == {"topic": "food"}


def test_one_user_never_sees_another_users_memories(
    api: httpx.Client, alice: GptUser, bob: GptUser, memory_proxy_url: str
) -> None:
    secret_id = seed_memory(memory_proxy_url, alice.sub, "Alice's bank PIN hint is the cat's name")

    searched = api.post(
        "/api/v1/memories/search", json={"query": "bank PIN cat"}, headers=bob.headers
    )
    listed = api.get("/api/v1/memories", headers=bob.headers)
    read = api.get(f"/api/v1/memories/{secret_id}", headers=bob.headers)
    deleted = api.delete(f"/api/v1/memories/{secret_id}", headers=bob.headers)

    assert searched.json()["results"] == []
    assert all(item["id"] != secret_id for item in listed.json()["items"])
    assert read.status_code == 404
    assert deleted.status_code == 404
    assert api.get(f"/api/v1/memories/{secret_id}", headers=alice.headers).status_code == 200


def test_list_pages_newest_first(
    api: httpx.Client,
    admin: httpx.Client,
    app: RegisteredApp,
    stack_services: dict[str, ServiceProcess],
    memory_proxy_url: str,
) -> None:
    carol = sign_in(stack_services["auth"].base_url, admin, app)
    ids = [seed_memory(memory_proxy_url, carol.sub, f"note number {n}") for n in range(5)]

    first = api.get("/api/v1/memories", params={"limit": 2}, headers=carol.headers).json()
    second = api.get(
        "/api/v1/memories",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=carol.headers,
    ).json()
    third = api.get(
        "/api/v1/memories",
        params={"limit": 2, "cursor": second["next_cursor"]},
        headers=carol.headers,
    ).json()

    pages = [item["id"] for page in (first, second, third) for item in page["items"]]
    assert pages == list(reversed(ids))
    assert third["next_cursor"] is None


def test_read_and_delete_one_memory(
    api: httpx.Client, alice: GptUser, memory_proxy_url: str
) -> None:
    memory_id = seed_memory(memory_proxy_url, alice.sub, "Alice is allergic to peanuts")

    read = api.get(f"/api/v1/memories/{memory_id}", headers=alice.headers)
    deleted = api.delete(f"/api/v1/memories/{memory_id}", headers=alice.headers)
    again = api.get(f"/api/v1/memories/{memory_id}", headers=alice.headers)

    assert read.json()["content"] == "Alice is allergic to peanuts"
    assert deleted.status_code == 200
    assert deleted.json() == {"id": memory_id, "deleted": True}
    assert again.status_code == 404
    assert again.json()["error"] == "memory_not_found"


def test_long_memories_are_truncated_to_fit_chatgpt(
    api: httpx.Client, alice: GptUser, memory_proxy_url: str
) -> None:
    memory_id = seed_memory(memory_proxy_url, alice.sub, "long " + "x" * 7900)

    listed = api.get("/api/v1/memories", params={"limit": 50}, headers=alice.headers)
    long_one = next(item for item in listed.json()["items"] if item["id"] == memory_id)

    assert long_one["truncated"] is True
    assert len(long_one["content"]) <= 4000
    assert len(listed.text) < 100_000


def test_missing_token_is_401_with_a_bearer_challenge(api: httpx.Client) -> None:
    response = api.get("/api/v1/memories")

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("token", ["garbage", "cga_at_not.a.jwt", "cga_at_" + "e30." * 2 + "x"])
def test_invalid_token_is_401_invalid_token(api: httpx.Client, token: str) -> None:
    response = api.get("/api/v1/memories", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_missing_scope_is_403_insufficient_scope(
    api: httpx.Client,
    admin: httpx.Client,
    stack_services: dict[str, ServiceProcess],
    memory_proxy_url: str,
) -> None:
    read_only = register_app(admin, scopes=["memories:read"])
    dave = sign_in(stack_services["auth"].base_url, admin, read_only)
    memory_id = seed_memory(memory_proxy_url, dave.sub, "Dave's memory")

    response = api.delete(f"/api/v1/memories/{memory_id}", headers=dave.headers)

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert 'scope="memories:delete"' in response.headers["www-authenticate"]


def test_a_revoked_grant_is_refused_at_once(
    api: httpx.Client,
    admin: httpx.Client,
    app: RegisteredApp,
    stack_services: dict[str, ServiceProcess],
) -> None:
    auth_url = stack_services["auth"].base_url
    erin = sign_in(auth_url, admin, app)
    assert api.get("/api/v1/memories", headers=erin.headers).status_code == 200

    httpx.post(
        auth_url + "/oauth/revoke", data={"token": erin.refresh_token}, headers=app.basic_auth
    )

    refused = api.get("/api/v1/memories", headers=erin.headers)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/memories/search", {"query": ""}),
        ("POST", "/api/v1/memories/search", {"query": "x" * 1001}),
        ("POST", "/api/v1/memories/search", {"query": "tea", "limit": 500}),
        ("POST", "/api/v1/memories/search", {"query": "tea", "filters": {"a": {"nested": 1}}}),
        ("POST", "/api/v1/memories/search", None),
        ("GET", "/api/v1/memories?limit=0", None),
        ("GET", "/api/v1/memories/bad%20id", None),
    ],
)
def test_bad_input_is_a_4xx_with_the_error_body(
    api: httpx.Client, alice: GptUser, method: str, path: str, body: object
) -> None:
    response = api.request(method, path, json=body, headers=alice.headers)

    assert 400 <= response.status_code < 500, response.text
    assert set(response.json()) == {"error", "detail"}


def test_a_cursor_we_did_not_make_is_a_422(api: httpx.Client, alice: GptUser) -> None:
    response = api.get("/api/v1/memories", params={"cursor": "forged"}, headers=alice.headers)

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_cursor"


def test_openapi_points_gpts_at_this_server(
    api: httpx.Client, stack_services: dict[str, ServiceProcess]
) -> None:
    document = api.get("/openapi.json").json()

    assert document["servers"] == [{"url": stack_services["gateway"].base_url}]
    flow = document["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == stack_services["auth"].base_url + "/oauth/authorize"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_everything_from_this_server(api: httpx.Client, page: str) -> None:
    html = api.get(page).text

    assert "cdn" not in html.lower()
    for asset in ("/docs-assets/",):
        assert asset in html
    for script in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/redoc.standalone.js"):
        assert api.get(script).status_code == 200


def test_privacy_policy_page(api: httpx.Client) -> None:
    response = api.get("/privacy")

    assert response.status_code == 200
    assert "Privacy policy" in response.text


async def test_each_call_is_audited_without_content(
    api: httpx.Client, alice: GptUser, engine: AsyncEngine, app: RegisteredApp
) -> None:
    await asyncio.to_thread(
        api.post, "/api/v1/memories/search", json={"query": "audited tea"}, headers=alice.headers
    )

    async def search_rows() -> list[Row[Any]]:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(AuditEvent).where(
                    AuditEvent.service == "gateway",
                    AuditEvent.user_id == alice.sub,
                    AuditEvent.action == "memories.search",
                )
            )
            return list(rows.all())

    for _ in range(50):
        rows = await search_rows()
        if rows:
            break
        await asyncio.sleep(0.1)
    assert rows, "the audit buffer flushed within 5 s"
    row = rows[-1]
    assert row.client_id == app.client_id
    assert row.outcome == "success"
    assert row.latency_ms is not None
    assert row.request_id
    assert "audited tea" not in str(row.details)


def test_logs_hold_no_token(stack_services: dict[str, ServiceProcess], alice: GptUser) -> None:
    for service in stack_services.values():
        assert alice.access_token not in Path(service.log_path).read_text()
