"""The embedded ``local`` Memory Bank through memory-proxy's internal API, in-process, against
the private PostgreSQL built by the migrations."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from asyncpg.exceptions import AdminShutdownError, CannotConnectNowError, UniqueViolationError
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.internal import DEVELOPMENT_INTERNAL_TOKEN, INTERNAL_TOKEN_HEADER
from cga_core.models import StoredMemory
from cga_memory_proxy.backends.base import BackendError
from cga_memory_proxy.backends.local import LocalBackend
from cga_memory_proxy.main import create_app
from cga_memory_proxy.settings import MemoryProxySettings
from tests.support.env import TestStack
from tests.support.http import app_client


@pytest.fixture
async def client(stack: TestStack) -> AsyncIterator[httpx.AsyncClient]:
    settings = MemoryProxySettings(
        env="test",
        database_url=stack.database_url,
        redis_url=stack.redis.url(),
        backend="local",
        retry_backoff=timedelta(milliseconds=10),
        retry_backoff_max=timedelta(milliseconds=50),
        # The database-down test must see the database's failure, not an open breaker.
        breaker_failure_threshold=100,
    )
    async with app_client(create_app(settings)) as client:
        client.headers[INTERNAL_TOKEN_HEADER] = DEVELOPMENT_INTERNAL_TOKEN
        yield client


@pytest.fixture
def owner() -> str:
    """A fresh owner per test: the memories table is shared and committed to."""
    return f"user-{uuid.uuid4().hex[:12]}"


def _memories(owner: str) -> str:
    return f"/internal/v1/owners/{owner}/memories"


async def _create(client: httpx.AsyncClient, owner: str, content: str, **extra: Any) -> str:
    response = await client.post(_memories(owner), json={"content": content, **extra})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _search(client: httpx.AsyncClient, owner: str, **query: Any) -> httpx.Response:
    return await client.post(_memories(owner) + "/search", json=query)


async def test_creating_twice_with_one_idempotency_key_stores_one_row(
    client: httpx.AsyncClient, owner: str, engine: AsyncEngine
) -> None:
    key = f"memory-write:{uuid.uuid4()}"

    first = await _create(client, owner, "Alice drinks green tea", idempotency_key=key)
    second = await _create(client, owner, "Alice drinks green tea", idempotency_key=key)

    assert first == second
    async with engine.connect() as connection:
        rows = await connection.scalar(
            select(func.count()).where(StoredMemory.idempotency_key == key)
        )
    assert rows == 1


async def test_idempotency_keys_are_per_owner(client: httpx.AsyncClient, owner: str) -> None:
    key = f"memory-write:{uuid.uuid4()}"
    other = f"user-{uuid.uuid4().hex[:12]}"

    mine = await _create(client, owner, "mine", idempotency_key=key)
    theirs = await _create(client, other, "theirs", idempotency_key=key)

    assert mine != theirs


async def test_search_ranks_the_memory_matching_more_words_first(
    client: httpx.AsyncClient, owner: str
) -> None:
    one_word = await _create(client, owner, "Alice likes tea")
    three_words = await _create(client, owner, "Alice drinks green tea every morning")
    await _create(client, owner, "Alice's sister lives in Lisbon")

    response = await _search(client, owner, query="green tea in the morning")

    assert response.status_code == 200
    assert [memory["id"] for memory in response.json()["results"]] == [three_words, one_word]
    scores = [memory["score"] for memory in response.json()["results"]]
    assert scores[0] > scores[1] > 0


async def test_search_keeps_only_memories_whose_metadata_matches_the_filters(
    client: httpx.AsyncClient, owner: str
) -> None:
    food = await _create(client, owner, "Alice drinks green tea", metadata={"topic": "food"})
    await _create(client, owner, "Alice bought a tea set", metadata={"topic": "shopping"})
    await _create(client, owner, "Alice spilled tea")

    response = await _search(client, owner, query="tea", filters={"topic": "food"})

    assert [memory["id"] for memory in response.json()["results"]] == [food]
    assert response.json()["results"][0]["metadata"] == {"topic": "food"}


async def test_an_owner_never_sees_another_owners_memories(
    client: httpx.AsyncClient, owner: str
) -> None:
    other_owner = f"user-{uuid.uuid4().hex[:12]}"
    theirs = await _create(client, other_owner, "Bob keeps his tea in the attic")

    found = await _search(client, owner, query="tea attic")
    listed = await client.get(_memories(owner))
    fetched = await client.get(f"{_memories(owner)}/{theirs}")
    deleted = await client.delete(f"{_memories(owner)}/{theirs}")

    assert found.json()["results"] == []
    assert listed.json()["items"] == []
    assert fetched.status_code == 404
    assert deleted.status_code == 404
    still_there = await client.get(f"{_memories(other_owner)}/{theirs}")
    assert still_there.status_code == 200


async def _search_until_it_answers(client: httpx.AsyncClient, owner: str) -> httpx.Response:
    deadline = time.monotonic() + 15
    while True:
        response = await _search(client, owner, query="tea")
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)


async def test_a_stopped_postgresql_answers_503_and_the_backend_recovers(
    client: httpx.AsyncClient, owner: str, stack: TestStack
) -> None:
    memory_id = await _create(client, owner, "Alice drinks green tea")

    stack.postgres.stop()
    try:
        started = time.monotonic()
        during = await _search(client, owner, query="tea")
        elapsed = time.monotonic() - started
    finally:
        stack.postgres.start()
    after = await _search_until_it_answers(client, owner)

    assert during.status_code == 503, during.text
    assert during.json()["error"] == "memory_bank_unavailable"
    assert int(during.headers["Retry-After"]) >= 1
    assert elapsed < 5
    assert after.status_code == 200, after.text
    assert [memory["id"] for memory in after.json()["results"]] == [memory_id]


@pytest.mark.parametrize(
    ("driver_error", "retryable"),
    [
        # PostgreSQL restarting: the statement failed because the database is away for now.
        (CannotConnectNowError("the database system is starting up"), True),
        (AdminShutdownError("terminating connection due to administrator command"), True),
        # The database is up and refused the statement: trying again cannot help.
        (UniqueViolationError("duplicate key value violates unique constraint"), False),
    ],
)
async def test_a_database_error_is_retryable_only_while_the_database_is_away(
    engine: AsyncEngine, driver_error: Exception, retryable: bool
) -> None:
    backend = LocalBackend(engine)
    with pytest.raises(BackendError) as raised:
        async with backend._database():
            raise DBAPIError("SELECT 1", None, driver_error)
    assert raised.value.retryable is retryable
