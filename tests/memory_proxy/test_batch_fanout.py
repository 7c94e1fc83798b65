"""A batch of writes on a mem0 Memory Bank, which has no batch API: one add per item, a few at a
time, each with the breaker, bulkhead and retries of a single write, and a result of its own.
Against the simulated mem0 over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from cga_core.memories import Memory, NewMemory
from cga_memory_proxy.backends.base import BackendError
from cga_memory_proxy.breaker import BreakerOpen
from cga_memory_proxy.main import remote_backend
from cga_memory_proxy.resilience import ResilientBackend
from cga_memory_proxy.settings import BackendName, MemoryProxySettings
from tests.memory_proxy.mem0_simulator import Mem0Simulator, Mode, running_simulator
from tests.support.writes import eventually

API_KEY = "m0-fanout-key"
ADD = "/memories"


@pytest.fixture
def simulator() -> Iterator[Mem0Simulator]:
    with running_simulator(API_KEY) as simulator:
        yield simulator


@pytest.fixture
async def sessions() -> AsyncIterator[list[aiohttp.ClientSession]]:
    opened: list[aiohttp.ClientSession] = []
    yield opened
    for session in opened:
        await session.close()


@pytest.fixture
def backend(
    simulator: Mem0Simulator, sessions: list[aiohttp.ClientSession]
) -> Callable[..., ResilientBackend]:
    """A factory of the mem0 backend as memory-proxy wires it, with these settings."""

    def build(**overrides: Any) -> ResilientBackend:
        settings = MemoryProxySettings(
            env="test",
            backend=BackendName.MEM0,
            mem0_url=simulator.url,
            mem0_api_key=API_KEY,
            retry_attempts=1,
            request_timeout=timedelta(seconds=5),
            **overrides,
        )
        session = aiohttp.ClientSession()
        sessions.append(session)
        return ResilientBackend(
            remote_backend(settings, session), settings, idempotent_create=False
        )

    return build


def _items(*contents: str) -> list[tuple[str, NewMemory]]:
    return [(f"cga-owner-{n}", NewMemory(content=content)) for n, content in enumerate(contents)]


async def test_each_item_is_one_add_with_its_result_in_item_order(
    backend: Callable[..., ResilientBackend], simulator: Mem0Simulator
) -> None:
    outcomes = await backend().create_batch(_items("tea", "bees", "Lisbon"))

    assert [outcome.content for outcome in outcomes if isinstance(outcome, Memory)] == [
        "tea",
        "bees",
        "Lisbon",
    ]
    adds = simulator.requests_to("POST", ADD)
    assert sorted(request.body["user_id"] for request in adds) == [
        "cga-owner-0",
        "cga-owner-1",
        "cga-owner-2",
    ]


async def test_a_failed_add_fails_its_item_alone(
    backend: Callable[..., ResilientBackend], simulator: Mem0Simulator
) -> None:
    simulator.fail(Mode.PROVIDER_ERROR, times=1)

    outcomes = await backend().create_batch(_items("one", "two", "three"))

    failures = [outcome for outcome in outcomes if not isinstance(outcome, Memory)]
    assert len(failures) == 1
    assert isinstance(failures[0], BackendError)
    assert failures[0].retryable
    assert len(simulator.memories) == 2


async def test_an_open_breaker_rejects_the_rest_of_the_batch(
    backend: Callable[..., ResilientBackend], simulator: Mem0Simulator
) -> None:
    # One lane (a quarter of a bulkhead of 4): the items go one after the other.
    resilient = backend(breaker_failure_threshold=1, max_concurrency=4)
    simulator.fail(Mode.SERVER_ERROR)

    outcomes = await resilient.create_batch(_items("one", "two", "three"))

    assert [type(outcome) for outcome in outcomes] == [BackendError, BreakerOpen, BreakerOpen]
    assert len(simulator.requests_to("POST", ADD)) == 1


async def test_a_batch_takes_a_quarter_of_the_bulkhead_at_most(
    backend: Callable[..., ResilientBackend], simulator: Mem0Simulator
) -> None:
    async def two_adds_held() -> bool:
        return simulator.request_count() >= 2

    simulator.fail(Mode.HANG)
    batch = asyncio.create_task(backend(max_concurrency=8).create_batch(_items(*"abcdef")))
    try:
        await eventually("two adds held by the Memory Bank", two_adds_held, within=10)
        await asyncio.sleep(0.2)  # room for a third add to arrive, were one on its way
        assert simulator.request_count() == 2
    finally:
        simulator.heal()
    outcomes = await batch

    assert all(isinstance(outcome, Memory) for outcome in outcomes)
    assert simulator.request_count() == 6
