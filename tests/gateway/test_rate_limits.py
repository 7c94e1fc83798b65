"""Rate limits and admission, with real processes: two gateway replicas share one count in
Redis, the app registry decides who may call at all, and each Redis-down policy does what it
says while Redis is gone."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator

import httpx
import pytest
from redis import Redis

from cga_core.denylist import denylist_key
from tests.support.actions import GptUser, sign_in
from tests.support.auth import RegisteredApp, admin_client, register_app
from tests.support.env import TestStack
from tests.support.metrics import Exposition
from tests.support.processes import ServiceProcess, start_actions_stack, start_service, wait_for

pytestmark = pytest.mark.e2e
MEMORIES = "/api/v1/memories"
READ_ONLY = ["memories:read"]
PLENTY = 10_000
# Short, so that a change in the app registry (disabling an app) reaches the gateways quickly.
POLICY_CACHE_TTL = "200ms"


@pytest.fixture(scope="module")
def services(
    stack: TestStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    log_dir = tmp_path_factory.mktemp("rate-limit-logs")
    environment = {**stack.environment(), "CGA_GATEWAY_APP_POLICY_CACHE_TTL": POLICY_CACHE_TTL}
    started = start_actions_stack(environment, log_dir, gateways=2)
    # A third replica of the same deployment, configured to refuse reads while Redis is down.
    started["gateway-closed"] = start_service(
        "gateway",
        {
            **environment,
            "CGA_GATEWAY_AUTH_PUBLIC_URL": started["auth"].base_url,
            "CGA_GATEWAY_AUTH_INTERNAL_URL": started["auth"].base_url,
            "CGA_GATEWAY_MEMORY_PROXY_URL": started["memory-proxy"].base_url,
            "CGA_GATEWAY_RATE_LIMIT_READS_WHEN_REDIS_DOWN": "closed",
        },
        log_dir,
        name="gateway-closed",
    )
    try:
        started["gateway-closed"].wait_until_live()
        yield started
    finally:
        for service in started.values():
            service.stop()


@pytest.fixture(scope="module")
def gateways(services: dict[str, ServiceProcess]) -> Iterator[list[httpx.Client]]:
    """The two fail-open replicas, as a load balancer would spread calls over them."""
    clients = [
        httpx.Client(base_url=services[name].base_url, timeout=10)
        for name in ("gateway", "gateway-2")
    ]
    yield clients
    for client in clients:
        client.close()


@pytest.fixture(scope="module")
def closed_gateway(services: dict[str, ServiceProcess]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=services["gateway-closed"].base_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def admin(services: dict[str, ServiceProcess]) -> Iterator[httpx.Client]:
    with admin_client(f"http://127.0.0.1:{services['auth'].admin_port}") as client:
        yield client


@pytest.fixture(scope="module")
def auth_url(services: dict[str, ServiceProcess]) -> str:
    return services["auth"].base_url


def users_of(auth_url: str, admin: httpx.Client, app: RegisteredApp, count: int) -> list[GptUser]:
    return [sign_in(auth_url, admin, app) for _ in range(count)]


def grant_id_of(access_token: str) -> str:
    """The ``gid`` claim, read without verification: the test only needs the denylist key."""
    payload = access_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["gid"])


def counter_total(client: httpx.Client, name: str, **labels: str) -> float:
    """The value of one Prometheus counter sample on a gateway's /metrics (0 when absent)."""
    return Exposition.scrape(client).value(f"{name}_total", **labels)


def assert_rate_limited(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    assert set(response.json()) == {"error", "detail"}
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(response.headers["RateLimit-Reset"]) <= 60


def test_the_app_limit_is_one_exact_count_shared_by_every_gateway(
    gateways: list[httpx.Client], admin: httpx.Client, auth_url: str
) -> None:
    app = register_app(
        admin, scopes=READ_ONLY, rate_limit_per_minute=10, user_rate_limit_per_minute=PLENTY
    )
    users = users_of(auth_url, admin, app, 3)

    responses = [gateways[n % 2].get(MEMORIES, headers=users[n % 3].headers) for n in range(30)]

    # Counted per replica, each would admit 10 and the total would be 20.
    assert [r.status_code for r in responses] == [200] * 10 + [429] * 20
    for response in responses[10:]:
        assert_rate_limited(response, limit=10)
        assert "app" in response.json()["detail"]


def test_concurrent_calls_through_both_gateways_admit_exactly_the_limit(
    services: dict[str, ServiceProcess], admin: httpx.Client, auth_url: str
) -> None:
    limit = 25
    app = register_app(
        admin, scopes=READ_ONLY, rate_limit_per_minute=limit, user_rate_limit_per_minute=PLENTY
    )
    users = users_of(auth_url, admin, app, 4)

    async def burst() -> list[int]:
        clients = [
            httpx.AsyncClient(base_url=services[name].base_url, timeout=10)
            for name in ("gateway", "gateway-2")
        ]
        try:
            responses = await asyncio.gather(
                *(
                    clients[n % 2].get(MEMORIES, headers=users[n % 4].headers)
                    for n in range(4 * limit)
                )
            )
        finally:
            for client in clients:
                await client.aclose()
        return [response.status_code for response in responses]

    statuses = asyncio.run(burst())

    # Allowed ÷ limit over the window is exactly 1: no race between the replicas' checks.
    assert sorted(statuses) == [200] * limit + [429] * 3 * limit


def test_each_user_of_an_app_has_a_limit_of_their_own(
    gateways: list[httpx.Client], admin: httpx.Client, auth_url: str
) -> None:
    app = register_app(
        admin, scopes=READ_ONLY, rate_limit_per_minute=PLENTY, user_rate_limit_per_minute=3
    )
    alice, bob = users_of(auth_url, admin, app, 2)

    calls = {
        user.sub: [gateways[n % 2].get(MEMORIES, headers=user.headers) for n in range(6)]
        for user in (alice, bob)
    }

    for responses in calls.values():
        assert [r.status_code for r in responses] == [200] * 3 + [429] * 3
        for response in responses[3:]:
            assert_rate_limited(response, limit=3)
            assert "user" in response.json()["detail"]


def test_refusals_are_counted_in_metrics_by_scope(
    gateways: list[httpx.Client], admin: httpx.Client, auth_url: str
) -> None:
    app = register_app(
        admin, scopes=READ_ONLY, rate_limit_per_minute=1, user_rate_limit_per_minute=PLENTY
    )
    (user,) = users_of(auth_url, admin, app, 1)
    before = sum(counter_total(g, "cga_rate_limited", scope="app") for g in gateways)

    statuses = [gateways[n % 2].get(MEMORIES, headers=user.headers).status_code for n in range(4)]

    after = sum(counter_total(g, "cga_rate_limited", scope="app") for g in gateways)
    assert statuses == [200, 429, 429, 429]
    assert after - before == 3


def test_a_disabled_apps_token_is_refused(
    gateways: list[httpx.Client], admin: httpx.Client, auth_url: str
) -> None:
    app = register_app(admin, scopes=READ_ONLY)
    (user,) = users_of(auth_url, admin, app, 1)
    assert gateways[0].get(MEMORIES, headers=user.headers).status_code == 200

    disabled = admin.post(f"/admin/v1/apps/{app.client_id}/disable")

    assert disabled.status_code == 200, disabled.text
    for gateway in gateways:
        refused = gateway.get(MEMORIES, headers=user.headers)
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"
        assert refused.headers["WWW-Authenticate"].startswith("Bearer ")


def test_a_disabled_app_is_refused_even_if_the_denylist_lost_its_grants(
    gateways: list[httpx.Client], admin: httpx.Client, auth_url: str, stack: TestStack
) -> None:
    app = register_app(admin, scopes=READ_ONLY)
    (user,) = users_of(auth_url, admin, app, 1)
    assert gateways[0].get(MEMORIES, headers=user.headers).status_code == 200
    admin.post(f"/admin/v1/apps/{app.client_id}/disable").raise_for_status()
    # The token is valid again as far as revocation goes (as after a Redis loss): only the
    # gateway's own look at the app registry is left to refuse it.
    with Redis.from_url(stack.redis.url()) as redis:
        assert redis.delete(denylist_key(grant_id_of(user.access_token))) == 1

    def refused_by_the_registry() -> bool:
        detail = gateways[0].get(MEMORIES, headers=user.headers).json().get("detail", "")
        return "no longer allowed" in str(detail)

    wait_for("the gateway to see the app disabled", refused_by_the_registry, timeout=5)
    for gateway in gateways:
        refused = gateway.get(MEMORIES, headers=user.headers)
        assert refused.status_code == 401
        assert refused.json() == {
            "error": "invalid_token",
            "detail": "This app is no longer allowed to act for you.",
        }
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


def test_reads_stay_open_while_redis_is_down(
    gateways: list[httpx.Client], admin: httpx.Client, auth_url: str, stack: TestStack
) -> None:
    app = register_app(admin, scopes=READ_ONLY, rate_limit_per_minute=PLENTY)
    (user,) = users_of(auth_url, admin, app, 1)
    gateway = gateways[0]
    assert gateway.get(MEMORIES, headers=user.headers).status_code == 200
    denylist_misses = counter_total(gateway, "cga_denylist_unavailable")
    unlimited = counter_total(gateway, "cga_rate_limit_unavailable", policy="open")

    stack.redis.stop()
    try:
        response = gateway.get(MEMORIES, headers=user.headers)
    finally:
        stack.redis.start()

    assert response.status_code == 200, response.text
    # Served although neither the revocation denylist nor the rate limit could be checked.
    assert counter_total(gateway, "cga_denylist_unavailable") == denylist_misses + 1
    assert counter_total(gateway, "cga_rate_limit_unavailable", policy="open") == unlimited + 1


def test_a_closed_gateway_refuses_reads_while_redis_is_down(
    closed_gateway: httpx.Client, admin: httpx.Client, auth_url: str, stack: TestStack
) -> None:
    app = register_app(admin, scopes=READ_ONLY, rate_limit_per_minute=PLENTY)
    (user,) = users_of(auth_url, admin, app, 1)
    assert closed_gateway.get(MEMORIES, headers=user.headers).status_code == 200

    stack.redis.stop()
    try:
        response = closed_gateway.get(MEMORIES, headers=user.headers)
    finally:
        stack.redis.start()

    assert response.status_code == 503, response.text
    assert response.json()["error"] == "rate_limit_unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    after_recovery = closed_gateway.get(MEMORIES, headers=user.headers)
    assert after_recovery.status_code == 200, after_recovery.text
