"""The mem0 backends against a simulated mem0 speaking the documented contracts over real HTTP:
what goes on the wire, how answers map to our Memory, and how failures are sorted."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from cga_core.memories import Memory, NewMemory, SearchQuery
from cga_memory_proxy.backends.base import BackendError, InvalidCursor
from cga_memory_proxy.backends.mem0 import (
    PLATFORM_ROUTES,
    SELF_HOSTED_ROUTES,
    Mem0Backend,
    Mem0Routes,
)
from cga_memory_proxy.main import remote_backend
from cga_memory_proxy.resilience import MemoryBankTimeout, ResilientBackend
from cga_memory_proxy.settings import BackendName, MemoryProxySettings
from tests.memory_proxy.mem0_simulator import PACIFIC, Mem0Simulator, Mode, running_simulator

API_KEY = "m0-simulated-key-1234"
OWNER = "cga-alice"
OTHER_OWNER = "cga-bob"
FAST_RESILIENCE: dict[str, Any] = {
    "retry_attempts": 3,
    "retry_backoff": timedelta(milliseconds=1),
    "retry_backoff_max": timedelta(milliseconds=5),
    "request_timeout": timedelta(milliseconds=300),
    "breaker_failure_threshold": 100,
}


@dataclass(frozen=True)
class Flavor:
    backend: BackendName
    routes: Mem0Routes
    auth_header: str  # lower-case, as recorded
    auth_value: str
    other_auth_header: str
    unknown_id_status: int  # how the API answers a GET of an id it does not know

    def settings(self, url: str, api_key: str, **overrides: Any) -> MemoryProxySettings:
        if self.backend is BackendName.MEM0:
            connection: dict[str, Any] = {"mem0_url": url, "mem0_api_key": api_key}
        else:
            connection = {"mem0_platform_url": url, "mem0_platform_api_key": api_key}
        values = {**FAST_RESILIENCE, **connection, **overrides}
        return MemoryProxySettings(env="test", backend=self.backend, **values)


SELF_HOSTED = Flavor(
    BackendName.MEM0,
    SELF_HOSTED_ROUTES,
    auth_header="x-api-key",
    auth_value=API_KEY,
    other_auth_header="authorization",
    unknown_id_status=200,
)
PLATFORM = Flavor(
    BackendName.MEM0_PLATFORM,
    PLATFORM_ROUTES,
    auth_header="authorization",
    auth_value=f"Token {API_KEY}",
    other_auth_header="x-api-key",
    unknown_id_status=404,
)


@dataclass
class Harness:
    """Backends wired as ``cga-memory-proxy`` wires them, pointed at the simulator."""

    simulator: Mem0Simulator
    flavor: Flavor
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    def settings(self, **overrides: Any) -> MemoryProxySettings:
        api_key = overrides.pop("api_key", API_KEY)
        return self.flavor.settings(self.simulator.url, api_key, **overrides)

    def backend(self, **overrides: Any) -> Mem0Backend:
        return self._backend(self.settings(**overrides))

    def resilient(self, **overrides: Any) -> ResilientBackend:
        settings = self.settings(**overrides)
        return ResilientBackend(self._backend(settings), settings, idempotent_create=False)

    def _backend(self, settings: MemoryProxySettings) -> Mem0Backend:
        # The session as the service's lifespan opens it.
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=settings.request_timeout.total_seconds())
        )
        self.sessions.append(session)
        backend = remote_backend(settings, session)
        assert isinstance(backend, Mem0Backend)
        return backend

    def one_path(self, memory_id: str) -> str:
        return self.flavor.routes.one.format(memory_id)


@pytest.fixture
def simulator() -> Iterator[Mem0Simulator]:
    with running_simulator(API_KEY) as simulator:
        yield simulator


@pytest.fixture(params=[SELF_HOSTED, PLATFORM], ids=["self-hosted", "platform"])
async def harness(
    request: pytest.FixtureRequest, simulator: Mem0Simulator
) -> AsyncIterator[Harness]:
    harness = Harness(simulator, request.param)
    yield harness
    for session in harness.sessions:
        await session.close()


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# --- what goes on the wire ---


async def test_requests_carry_exactly_the_apis_auth_header(harness: Harness) -> None:
    await harness.backend().search(OWNER, SearchQuery(query="tea"))

    [request] = harness.simulator.requests_to("POST", harness.flavor.routes.search)
    assert request.headers[harness.flavor.auth_header] == harness.flavor.auth_value
    assert harness.flavor.other_auth_header not in request.headers


async def test_search_sends_query_top_k_threshold_and_the_owner_inside_filters(
    harness: Harness,
) -> None:
    query = SearchQuery(query="green tea", limit=5, filters={"topic": "food"})

    await harness.backend().search(OWNER, query)

    [request] = harness.simulator.requests_to("POST", harness.flavor.routes.search)
    assert request.body == {
        "query": "green tea",
        "filters": {"topic": "food", "user_id": OWNER},
        "top_k": 5,
        "threshold": 0.1,
    }


async def test_search_sends_the_configured_threshold(harness: Harness) -> None:
    await harness.backend(search_threshold=0.35).search(OWNER, SearchQuery(query="tea"))

    [request] = harness.simulator.requests_to("POST", harness.flavor.routes.search)
    assert request.body["threshold"] == 0.35


async def test_a_user_id_in_the_filters_cannot_search_another_owners_memories(
    harness: Harness,
) -> None:
    harness.simulator.seed(OTHER_OWNER, "Bob drinks green tea")
    query = SearchQuery(query="green tea", filters={"user_id": OTHER_OWNER})

    found = await harness.backend().search(OWNER, query)

    [request] = harness.simulator.requests_to("POST", harness.flavor.routes.search)
    assert request.body["filters"] == {"user_id": OWNER}
    assert found == []


async def test_add_stores_the_content_verbatim_as_one_user_message(harness: Harness) -> None:
    new = NewMemory(content="I drink green tea", metadata={"topic": "food"}, idempotency_key="j-1")

    await harness.backend().create(OWNER, new)

    [request] = harness.simulator.requests_to("POST", harness.flavor.routes.add)
    assert request.body == {
        "messages": [{"role": "user", "content": "I drink green tea"}],
        "user_id": OWNER,
        "metadata": {"topic": "food", "cga_idempotency_key": "j-1"},
        "infer": False,
    }


async def test_add_asks_for_inference_when_configured(harness: Harness) -> None:
    await harness.backend(mem0_infer=True).create(OWNER, NewMemory(content="I drink tea"))

    [request] = harness.simulator.requests_to("POST", harness.flavor.routes.add)
    assert request.body["infer"] is True


async def test_list_asks_for_the_owners_memories_only(harness: Harness) -> None:
    await harness.backend().list(OWNER, 10, None)

    if harness.flavor.routes.list_in_body:
        [request] = harness.simulator.requests_to("POST", harness.flavor.routes.list_path)
        assert request.body == {"filters": {"user_id": OWNER}}
    else:
        [request] = harness.simulator.requests_to("GET", harness.flavor.routes.list_path)
        assert request.query == {"user_id": OWNER}
        assert request.body is None


# --- how answers map to Memory ---


async def test_search_results_map_to_memories_without_the_idempotency_key(
    harness: Harness,
) -> None:
    created_at = datetime(2025, 3, 4, 5, 6, 7, tzinfo=PACIFIC)
    memory_id = harness.simulator.seed(
        OWNER,
        "Alice drinks green tea",
        metadata={"topic": "food", "cga_idempotency_key": "j-7"},
        created_at=created_at,
    )

    found = await harness.backend().search(OWNER, SearchQuery(query="green tea"))

    assert found == [
        Memory(
            id=memory_id,
            content="Alice drinks green tea",
            score=1.0,
            created_at=created_at,
            updated_at=None,
            metadata={"topic": "food"},
        )
    ]


async def test_create_returns_the_stored_memory_with_its_metadata(harness: Harness) -> None:
    new = NewMemory(content="I drink green tea", metadata={"topic": "food"}, idempotency_key="j-2")

    memory = await harness.backend().create(OWNER, new)

    [stored] = harness.simulator.memories.values()
    assert memory.id == stored["id"]
    assert memory.content == "I drink green tea"
    assert memory.metadata == {"topic": "food"}


async def test_get_maps_the_owners_memory(harness: Harness) -> None:
    created_at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=PACIFIC)
    memory_id = harness.simulator.seed(
        OWNER, "Alice lives in Porto", metadata={"topic": "home"}, created_at=created_at
    )

    memory = await harness.backend().get(OWNER, memory_id)

    assert memory == Memory(
        id=memory_id,
        content="Alice lives in Porto",
        created_at=created_at,
        metadata={"topic": "home"},
    )
    assert harness.simulator.requests_to("GET", harness.one_path(memory_id))


async def test_get_of_an_unknown_id_returns_none(harness: Harness) -> None:
    unknown = "7d3f5c2e-0000-4000-8000-000000000000"

    assert await harness.backend().get(OWNER, unknown) is None

    [request] = harness.simulator.requests_to("GET", harness.one_path(unknown))
    assert request.status == harness.flavor.unknown_id_status


async def test_get_of_another_owners_memory_returns_none(harness: Harness) -> None:
    bobs = harness.simulator.seed(OTHER_OWNER, "Bob's bank PIN hint")

    assert await harness.backend().get(OWNER, bobs) is None


async def test_delete_of_another_owners_memory_returns_false_without_deleting(
    harness: Harness,
) -> None:
    bobs = harness.simulator.seed(OTHER_OWNER, "Bob's bank PIN hint")

    assert await harness.backend().delete(OWNER, bobs) is False

    assert harness.simulator.requests_to("DELETE", harness.one_path(bobs)) == []
    assert bobs in harness.simulator.memories


async def test_delete_of_the_owners_memory_deletes_it(harness: Harness) -> None:
    mine = harness.simulator.seed(OWNER, "Alice's old address")

    assert await harness.backend().delete(OWNER, mine) is True

    [request] = harness.simulator.requests_to("DELETE", harness.one_path(mine))
    assert request.status == 200
    assert mine not in harness.simulator.memories


async def test_list_pages_newest_first_with_cursors(harness: Harness) -> None:
    start = datetime(2025, 6, 1, tzinfo=PACIFIC)
    ids_by_hour = {
        hour: harness.simulator.seed(OWNER, f"memory {hour}", created_at=start.replace(hour=hour))
        for hour in (2, 0, 4, 1, 3)  # stored out of order: the server does not sort
    }
    backend = harness.backend()

    pages = []
    cursor = None
    for _ in range(5):
        page = await backend.list(OWNER, 2, cursor)
        pages.append([memory.id for memory in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break

    assert pages == [
        [ids_by_hour[4], ids_by_hour[3]],
        [ids_by_hour[2], ids_by_hour[1]],
        [ids_by_hour[0]],
    ]


@pytest.mark.parametrize(
    "cursor",
    ["not-a-cursor", _cursor("o-2"), _cursor("x2"), _cursor("o2.5"), "\u00e9t\u00e9"],
    ids=["garbage", "negative-offset", "wrong-prefix", "not-an-integer", "non-ascii"],
)
async def test_a_forged_cursor_is_refused_before_calling_the_memory_bank(
    harness: Harness, cursor: str
) -> None:
    with pytest.raises(InvalidCursor):
        await harness.backend().list(OWNER, 2, cursor)

    assert harness.simulator.request_count() == 0


# --- how failures are sorted and retried ---


async def test_a_provider_failure_is_a_retryable_error(harness: Harness) -> None:
    harness.simulator.fail(Mode.PROVIDER_ERROR)

    with pytest.raises(BackendError) as raised:
        await harness.backend().search(OWNER, SearchQuery(query="tea"))

    assert raised.value.retryable is True
    [request] = harness.simulator.requests_to("POST", harness.flavor.routes.search)
    assert request.status == 502


async def test_a_server_error_is_a_retryable_error(harness: Harness) -> None:
    harness.simulator.fail(Mode.SERVER_ERROR)

    with pytest.raises(BackendError) as raised:
        await harness.backend().list(OWNER, 10, None)

    assert raised.value.retryable is True


async def test_a_passing_provider_failure_is_retried_until_the_search_succeeds(
    harness: Harness,
) -> None:
    harness.simulator.seed(OWNER, "Alice drinks green tea")
    harness.simulator.fail(Mode.PROVIDER_ERROR, times=2)

    found = await harness.resilient(retry_attempts=3).search(OWNER, SearchQuery(query="tea"))

    assert [memory.content for memory in found] == ["Alice drinks green tea"]
    requests = harness.simulator.requests_to("POST", harness.flavor.routes.search)
    assert [request.status for request in requests] == [502, 502, 200]


async def test_a_lasting_provider_failure_gives_up_after_the_configured_attempts(
    harness: Harness,
) -> None:
    harness.simulator.fail(Mode.PROVIDER_ERROR)

    with pytest.raises(BackendError) as raised:
        await harness.resilient(retry_attempts=4).search(OWNER, SearchQuery(query="tea"))

    assert raised.value.retryable is True
    assert len(harness.simulator.requests_to("POST", harness.flavor.routes.search)) == 4


async def test_a_create_is_not_retried_because_mem0_has_no_idempotency(harness: Harness) -> None:
    harness.simulator.fail(Mode.PROVIDER_ERROR)
    new = NewMemory(content="I drink tea", idempotency_key="j-3")

    with pytest.raises(BackendError):
        await harness.resilient(retry_attempts=3).create(OWNER, new)

    assert len(harness.simulator.requests_to("POST", harness.flavor.routes.add)) == 1


async def test_a_wrong_api_key_is_refused_and_not_retried(harness: Harness) -> None:
    backend = harness.resilient(retry_attempts=3, api_key="m0-wrong-key")

    with pytest.raises(BackendError) as raised:
        await backend.search(OWNER, SearchQuery(query="tea"))

    assert raised.value.retryable is False
    [request] = harness.simulator.requests_to("POST", harness.flavor.routes.search)
    assert request.status == 401


async def test_a_hanging_memory_bank_times_out_after_the_configured_attempts(
    harness: Harness,
) -> None:
    harness.simulator.fail(Mode.HANG)
    backend = harness.resilient(retry_attempts=2, request_timeout=timedelta(milliseconds=200))

    started = time.monotonic()
    with pytest.raises(MemoryBankTimeout):
        await backend.search(OWNER, SearchQuery(query="tea"))
    elapsed = time.monotonic() - started

    assert len(harness.simulator.requests_to("POST", harness.flavor.routes.search)) == 2
    assert 0.4 <= elapsed < 2


async def test_a_malformed_body_is_a_non_retryable_error(harness: Harness) -> None:
    harness.simulator.fail(Mode.MALFORMED)

    with pytest.raises(BackendError) as raised:
        await harness.resilient(retry_attempts=3).search(OWNER, SearchQuery(query="tea"))

    assert raised.value.retryable is False
    assert len(harness.simulator.requests_to("POST", harness.flavor.routes.search)) == 1
