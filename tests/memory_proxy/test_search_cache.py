"""The search cache: a search's results served again, to the same owner's same search only, until
a write or delete of that owner's memories or the TTL — in Redis itself, and through a real
memory-proxy process in front of the mem0 Memory Bank, whose calls the simulator counts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from cga_core.internal import DEVELOPMENT_INTERNAL_TOKEN, INTERNAL_TOKEN_HEADER
from cga_core.memories import Memory, SearchQuery
from cga_devstack import RedisServer
from cga_memory_proxy.search_cache import KEY_PREFIX, SearchCache
from cga_memory_proxy.settings import MemoryProxySettings
from tests.memory_proxy.mem0_simulator import Mem0Simulator, running_simulator
from tests.support.env import TestStack, running_redis
from tests.support.metrics import Exposition
from tests.support.processes import ServiceProcess, start_service

TTL_SECONDS = 60.0


def _memory(content: str) -> Memory:
    return Memory(id=uuid.uuid4().hex, content=content, created_at=datetime.now(UTC))


def _owner() -> str:
    return f"cga-{uuid.uuid4()}"


# --- the cache in Redis ---


@pytest.fixture
async def redis(stack: TestStack, module_redis_database: int) -> AsyncIterator[Redis]:
    client = Redis.from_url(stack.redis.url(module_redis_database))
    yield client
    await client.aclose()


@pytest.fixture
def cache(redis: Redis) -> SearchCache:
    return SearchCache(redis, TTL_SECONDS)


async def _kept(cache: SearchCache, owner: str, query: SearchQuery) -> list[Memory] | None:
    return (await cache.lookup(owner, query)).results


async def _keep(cache: SearchCache, owner: str, query: SearchQuery, results: list[Memory]) -> None:
    lookup = await cache.lookup(owner, query)
    assert lookup.results is None
    await cache.keep(lookup, results)


async def test_a_kept_search_is_served_to_the_same_owners_same_search_only(
    cache: SearchCache,
) -> None:
    alice, bob = _owner(), _owner()
    tea = SearchQuery(query="tea")
    results = [_memory("Ada drinks green tea"), _memory("Ada's tea comes from Kyoto")]

    await _keep(cache, alice, tea, results)

    assert await _kept(cache, alice, tea) == results
    assert await _kept(cache, alice, SearchQuery(query="tea")) == results
    assert await _kept(cache, bob, tea) is None
    assert await _kept(cache, alice, SearchQuery(query="tea", limit=3)) is None
    assert await _kept(cache, alice, SearchQuery(query="tea", filters={"topic": "food"})) is None
    assert await _kept(cache, alice, SearchQuery(query="coffee")) is None


async def test_an_empty_result_is_kept_too(cache: SearchCache) -> None:
    owner, query = _owner(), SearchQuery(query="nothing yet")

    await _keep(cache, owner, query, [])

    assert await _kept(cache, owner, query) == []


async def test_a_change_forgets_the_owners_searches_and_no_one_elses(cache: SearchCache) -> None:
    alice, bob = _owner(), _owner()
    tea = SearchQuery(query="tea")
    await _keep(cache, alice, tea, [_memory("alice's")])
    await _keep(cache, bob, tea, [_memory("bob's")])

    await cache.forget([alice])

    assert await _kept(cache, alice, tea) is None
    assert await _kept(cache, bob, tea) is not None
    # What is read after the change is kept again.
    await _keep(cache, alice, tea, [_memory("alice's, after")])
    assert await _kept(cache, alice, tea) is not None


async def test_a_search_read_before_a_change_and_kept_after_it_is_not_kept(
    cache: SearchCache, redis: Redis
) -> None:
    """Not even under its own generation: kept longer than the owner's new generation lives,
    it would be served again once the owner is back at that generation."""
    owner, tea = _owner(), SearchQuery(query="tea")
    before = await cache.lookup(owner, tea)

    await cache.forget([owner])  # a write lands while the search is at the Memory Bank
    await cache.keep(before, [_memory("read before the write")])

    assert await _kept(cache, owner, tea) is None
    assert not await redis.exists(f"{KEY_PREFIX}{owner}:{before.generation}:{before.digest}")


async def test_kept_searches_expire(redis: Redis) -> None:
    cache = SearchCache(redis, 0.2)
    owner, tea = _owner(), SearchQuery(query="tea")
    await _keep(cache, owner, tea, [_memory("soon gone")])
    assert await _kept(cache, owner, tea) is not None

    await asyncio.sleep(0.4)

    assert await _kept(cache, owner, tea) is None


async def test_a_generation_outlives_the_searches_kept_before_it(
    cache: SearchCache, redis: Redis
) -> None:
    """Were the owner's generation to expire first, the owner would be back at the generation
    of its oldest kept searches, and those would be served again after the change."""
    owner = _owner()

    await cache.forget([owner])

    assert await redis.pttl(KEY_PREFIX + owner) > TTL_SECONDS * 1000


def test_the_ttl_is_bounded() -> None:
    with pytest.raises(ValueError, match="search_cache_ttl"):
        MemoryProxySettings(search_cache_ttl="-1s")
    with pytest.raises(ValueError, match="search_cache_ttl"):
        MemoryProxySettings(search_cache_ttl="11m")
    assert MemoryProxySettings().search_cache_ttl.total_seconds() == 0  # off unless asked for


# --- memory-proxy with the cache on, in front of mem0 ---

API_KEY = "m0-search-cache-test-key"
HEADERS = {INTERNAL_TOKEN_HEADER: DEVELOPMENT_INTERNAL_TOKEN}


@pytest.fixture(scope="module")
def simulator() -> Iterator[Mem0Simulator]:
    with running_simulator(API_KEY) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis of the module's own, which a test stops."""
    with running_redis(tmp_path_factory.mktemp("cache-redis")) as server:
        yield server


@pytest.fixture(scope="module")
def memory_proxy(
    stack: TestStack,
    simulator: Mem0Simulator,
    own_redis: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServiceProcess]:
    environment = {
        **stack.environment(),
        **simulator.backend_environment(),
        "CGA_REDIS_URL": own_redis.url(),
        "CGA_MEMORY_PROXY_SEARCH_CACHE_TTL": f"{TTL_SECONDS:.0f}s",
        "CGA_MEMORY_PROXY_RETRY_ATTEMPTS": "1",
    }
    log_dir: Path = tmp_path_factory.mktemp("search-cache-logs")
    service = start_service("memory-proxy", environment, log_dir)
    service.wait_until_live()
    yield service
    service.stop()


class Owner:
    """One owner's view of memory-proxy, and how often its searches reached the Memory Bank."""

    def __init__(self, memory_proxy: ServiceProcess, simulator: Mem0Simulator) -> None:
        self.name = f"owner-{uuid.uuid4().hex[:12]}"
        self.memories = f"{memory_proxy.base_url}/internal/v1/owners/{self.name}/memories"
        self.simulator = simulator

    def search(self, query: str = "tea") -> list[str]:
        response = httpx.post(self.memories + "/search", json={"query": query}, headers=HEADERS)
        assert response.status_code == 200, response.text
        return sorted(memory["content"] for memory in response.json()["results"])

    def create(self, content: str) -> str:
        response = httpx.post(self.memories, json={"content": content}, headers=HEADERS)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def upstream_searches(self) -> int:
        return sum(
            1
            for request in self.simulator.requests_to("POST", "/search")
            if request.body["filters"]["user_id"] == "cga-" + self.name
        )


@pytest.fixture
def owner(memory_proxy: ServiceProcess, simulator: Mem0Simulator) -> Owner:
    return Owner(memory_proxy, simulator)


def _cache_results(memory_proxy: ServiceProcess, result: str) -> float:
    return Exposition.scrape(memory_proxy).value(
        "cga_memory_bank_search_cache_total", result=result
    )


def test_a_repeated_search_reaches_the_memory_bank_once(
    memory_proxy: ServiceProcess, owner: Owner
) -> None:
    hits_before = _cache_results(memory_proxy, "hit")
    owner.create("Ada's tea comes from Kyoto")

    first, again = owner.search(), owner.search()

    assert first == again == ["Ada's tea comes from Kyoto"]
    assert owner.upstream_searches() == 1
    assert _cache_results(memory_proxy, "hit") == hits_before + 1


def test_a_write_is_in_the_next_search(memory_proxy: ServiceProcess, owner: Owner) -> None:
    owner.create("Ada drinks green tea")
    assert owner.search() == ["Ada drinks green tea"]

    owner.create("Ada's tea comes from Kyoto")

    assert owner.search() == ["Ada drinks green tea", "Ada's tea comes from Kyoto"]
    assert owner.upstream_searches() == 2


def test_a_batch_write_is_in_the_next_search_of_each_of_its_owners(
    memory_proxy: ServiceProcess, simulator: Mem0Simulator
) -> None:
    alice, bob = Owner(memory_proxy, simulator), Owner(memory_proxy, simulator)
    assert alice.search() == bob.search() == []

    items = [{"owner": o.name, "content": f"{o.name} likes tea"} for o in (alice, bob)]
    response = httpx.post(
        memory_proxy.base_url + "/internal/v1/memories/batch",
        json={"items": items},
        headers=HEADERS,
    )
    assert response.status_code == 200, response.text

    assert alice.search() == [f"{alice.name} likes tea"]
    assert bob.search() == [f"{bob.name} likes tea"]


def test_a_deleted_memory_is_not_in_the_next_search(
    memory_proxy: ServiceProcess, owner: Owner
) -> None:
    memory_id = owner.create("Ada drinks green tea")
    assert owner.search() == ["Ada drinks green tea"]

    response = httpx.delete(f"{owner.memories}/{memory_id}", headers=HEADERS)
    assert response.status_code == 204, response.text

    assert owner.search() == []


def test_searches_go_to_the_memory_bank_while_redis_is_down(
    memory_proxy: ServiceProcess, owner: Owner, own_redis: RedisServer
) -> None:
    owner.create("Ada drinks green tea")
    owner.search()
    errors_before = _cache_results(memory_proxy, "error")

    own_redis.stop()
    try:
        assert owner.search() == ["Ada drinks green tea"]
        owner.create("Ada's tea comes from Kyoto")
        assert owner.search() == ["Ada drinks green tea", "Ada's tea comes from Kyoto"]
    finally:
        own_redis.start()

    assert owner.upstream_searches() == 3
    # Lookups failed and so did the write's change of generation: nothing silent.
    assert _cache_results(memory_proxy, "error") >= errors_before + 3
    owner.search()
    owner.search()
    assert owner.upstream_searches() == 4  # kept again once Redis is back
