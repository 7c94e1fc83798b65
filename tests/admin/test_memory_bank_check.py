"""``cga-admin memory-bank check``, run as an operator runs it in a memory-proxy pod: the real
executable with memory-proxy's settings in its environment, against the ``local`` backend on the
private PostgreSQL and against the mem0 simulator (healthy, refusing the key, failing, down,
hung). Whatever happens, nothing is written."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.models import StoredMemory
from cga_devstack._process import free_port
from tests.admin.conftest import AdminCli
from tests.memory_proxy.mem0_simulator import Mem0Simulator, Mode, running_simulator
from tests.support.env import TestStack

API_KEY = "mem0-test-key-1234"
STEPS = ["configuration", "reachability", "authentication", "search", "latency"]
# The command reads no admin API; the URL only satisfies the root options.
CLI = AdminCli("http://127.0.0.1:9")
# Where each mem0 flavour searches, and the settings that select it.
MEM0_FLAVOURS = {
    "mem0": ("/search", "CGA_MEMORY_PROXY_MEM0_URL", "CGA_MEMORY_PROXY_MEM0_API_KEY"),
    "mem0-platform": (
        "/v3/memories/search/",
        "CGA_MEMORY_PROXY_MEM0_PLATFORM_URL",
        "CGA_MEMORY_PROXY_MEM0_PLATFORM_API_KEY",
    ),
}


def check(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return CLI.run("memory-bank", "check", *args, **environment)


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stderr == "", result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert [step["step"] for step in report["steps"]] == STEPS
    return report


def results(report: dict[str, Any]) -> dict[str, str]:
    return {step["step"]: step["result"] for step in report["steps"]}


def detail(report: dict[str, Any], step: str) -> str:
    return str(next(s["detail"] for s in report["steps"] if s["step"] == step))


def mem0_environment(
    stack: TestStack, flavour: str, url: str, api_key: str = API_KEY
) -> dict[str, str]:
    _, url_variable, key_variable = MEM0_FLAVOURS[flavour]
    return {
        **stack.environment(),
        "CGA_MEMORY_PROXY_BACKEND": flavour,
        url_variable: url,
        key_variable: api_key,
    }


def assert_only_searches(simulator: Mem0Simulator, search_path: str) -> None:
    requests = [(r.method, r.path) for r in simulator.requests]
    assert requests, "the check sent nothing"
    assert set(requests) == {("POST", search_path)}


@pytest.fixture
def simulator() -> Iterator[Mem0Simulator]:
    with running_simulator(API_KEY) as simulator:
        yield simulator


# --- the local backend, on the real PostgreSQL ---


async def _memory_count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count(StoredMemory.id)))).scalar_one())


async def test_local_backend_healthy_finds_the_users_memory_and_writes_nothing(
    stack: TestStack, engine: AsyncEngine
) -> None:
    owner = f"user-{uuid.uuid4().hex[:12]}"
    async with engine.begin() as connection:
        await connection.execute(
            insert(StoredMemory).values(owner=owner, content="Ada drinks green tea")
        )
    before = await _memory_count(engine)
    # A password the trusting test server ignores: it must never be shown.
    with_password = make_url(stack.database_url).set(password="pg-s3cret-pw")
    environment = {
        **stack.environment(),
        "CGA_MEMORY_PROXY_BACKEND": "local",
        "CGA_DATABASE_URL": with_password.render_as_string(hide_password=False),
    }

    result = await asyncio.to_thread(
        check, "--user", owner, "--query", "green tea", "--count", "3", "--json", **environment
    )

    assert result.returncode == 0, result.stdout
    report = report_of(result)
    assert report["healthy"] is True
    assert set(results(report).values()) == {"ok"}
    assert report["backend"] == "local"
    assert "pg-s3cret-pw" not in result.stdout
    assert "***" in report["location"]
    assert detail(report, "search").startswith(f"1 memory found for user {owner} in ")
    latency = report["latency_ms"]
    assert latency["count"] == 3
    assert 0 < latency["min"] <= latency["p50"] <= latency["max"]
    assert await _memory_count(engine) == before


def test_local_backend_default_probe_user_owns_nothing(stack: TestStack) -> None:
    result = check(**stack.environment(), CGA_MEMORY_PROXY_BACKEND="local")

    assert result.returncode == 0, result.stdout
    assert "0 memories found for user cga-memory-bank-probe" in result.stdout
    assert result.stdout.rstrip().endswith("healthy")


def test_local_backend_unreachable_database(stack: TestStack) -> None:
    port = free_port()
    nowhere = make_url(stack.database_url).set(port=port).render_as_string(hide_password=False)

    result = check("--json", **{**stack.environment(), "CGA_DATABASE_URL": nowhere})

    assert result.returncode == 1
    report = report_of(result)
    assert report["healthy"] is False
    assert results(report) == {
        "configuration": "ok",
        "reachability": "failed",
        "authentication": "skipped",
        "search": "skipped",
        "latency": "skipped",
    }
    assert detail(report, "reachability") == (
        f"connection refused by 127.0.0.1:{port}: nothing listens there"
    )


# --- mem0, self-hosted and hosted, through the simulator ---


@pytest.mark.parametrize("flavour", MEM0_FLAVOURS)
def test_mem0_healthy_searches_as_the_user_and_writes_nothing(
    stack: TestStack, simulator: Mem0Simulator, flavour: str
) -> None:
    simulator.seed("user-ada", "Ada drinks green tea")
    memories = dict(simulator.memories)
    search_path = MEM0_FLAVOURS[flavour][0]

    result = check(
        *("--user", "user-ada", "--query", "green tea", "--count", "4", "--json"),
        **mem0_environment(stack, flavour, simulator.url),
    )

    assert result.returncode == 0, result.stdout
    report = report_of(result)
    assert report["healthy"] is True
    assert report["backend"] == flavour
    assert report["location"] == simulator.url
    assert detail(report, "authentication") == f"API key accepted (POST {search_path}: HTTP 200)"
    assert detail(report, "search").startswith("1 memory found for user user-ada in ")
    assert report["latency_ms"]["count"] == 4
    assert API_KEY not in result.stdout
    # authentication, the search, then the four timed searches: all searches, as user-ada.
    assert_only_searches(simulator, search_path)
    assert len(simulator.requests) == 6
    assert {r.body["filters"]["user_id"] for r in simulator.requests} == {"user-ada"}
    assert simulator.memories == memories


def test_mem0_rejected_api_key(stack: TestStack, simulator: Mem0Simulator) -> None:
    result = check(**mem0_environment(stack, "mem0", simulator.url, api_key="not-the-key"))

    assert result.returncode == 1
    assert result.stderr == ""
    lines = result.stdout.rstrip().splitlines()
    assert lines[-1] == (
        "unhealthy: authentication failed: the Memory Bank refused the API key:"
        " HTTP 401 (Invalid API key)"
    )
    assert "not-the-key" not in result.stdout
    assert_only_searches(simulator, "/search")
    assert len(simulator.requests) == 1, "nothing after the refusal"


def test_mem0_server_error(stack: TestStack, simulator: Mem0Simulator) -> None:
    simulator.fail(Mode.PROVIDER_ERROR)

    result = check("--json", **mem0_environment(stack, "mem0", simulator.url))

    assert result.returncode == 1
    report = report_of(result)
    assert results(report)["authentication"] == "failed"
    assert detail(report, "authentication") == (
        "POST /search answered HTTP 502 (Embedding provider failed)"
    )
    assert_only_searches(simulator, "/search")


def test_mem0_down(stack: TestStack) -> None:
    port = free_port()

    result = check("--json", **mem0_environment(stack, "mem0", f"http://127.0.0.1:{port}"))

    assert result.returncode == 1
    report = report_of(result)
    assert results(report)["reachability"] == "failed"
    assert detail(report, "reachability") == (
        f"connection refused by 127.0.0.1:{port}: nothing listens there"
    )
    assert results(report)["authentication"] == "skipped"


def test_mem0_hung_times_out(stack: TestStack, simulator: Mem0Simulator) -> None:
    simulator.fail(Mode.HANG)

    result = check("--timeout", "1", "--json", **mem0_environment(stack, "mem0", simulator.url))

    assert result.returncode == 1
    report = report_of(result)
    assert results(report) == {
        "configuration": "ok",
        "reachability": "ok",
        "authentication": "failed",
        "search": "skipped",
        "latency": "skipped",
    }
    assert detail(report, "authentication") == "no answer within 1 s"
    assert_only_searches(simulator, "/search")


def test_missing_credentials_are_a_configuration_failure(stack: TestStack) -> None:
    result = check("--json", **stack.environment(), CGA_MEMORY_PROXY_BACKEND="mem0")

    assert result.returncode == 1
    report = report_of(result)
    assert results(report)["configuration"] == "failed"
    assert "CGA_MEMORY_PROXY_MEM0_API_KEY must be set for backend mem0" in detail(
        report, "configuration"
    )
    assert set(list(results(report).values())[1:]) == {"skipped"}
