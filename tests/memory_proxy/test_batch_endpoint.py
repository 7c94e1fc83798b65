"""memory-proxy's batch write (``POST /internal/v1/memories/batch``) on the ``local`` Memory
Bank, in-process, against the private PostgreSQL built by the migrations: one result per item,
the idempotency key honoured within a batch, across batches and per owner, and the limits."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.internal import DEVELOPMENT_INTERNAL_TOKEN, INTERNAL_TOKEN_HEADER
from cga_core.memories import MAX_BATCH_ITEMS
from cga_core.models import StoredMemory
from cga_memory_proxy.endpoints import MAX_BATCH_BODY_BYTES, backend_user
from cga_memory_proxy.main import create_app
from cga_memory_proxy.settings import MemoryProxySettings
from tests.support.env import TestStack
from tests.support.http import app_client

BATCH = "/internal/v1/memories/batch"


@pytest.fixture
async def client(stack: TestStack) -> AsyncIterator[httpx.AsyncClient]:
    settings = MemoryProxySettings(
        env="test", database_url=stack.database_url, redis_url=stack.redis.url(), backend="local"
    )
    async with app_client(create_app(settings)) as client:
        client.headers[INTERNAL_TOKEN_HEADER] = DEVELOPMENT_INTERNAL_TOKEN
        yield client


def _owner() -> str:
    """A fresh owner: the memories table is shared and committed to."""
    return f"user-{uuid.uuid4().hex[:12]}"


def _key() -> str:
    return f"memory-write:{uuid.uuid4()}"


def _item(owner: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"owner": owner, "content": content, **extra}


async def _batch(client: httpx.AsyncClient, *items: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.post(BATCH, json={"items": list(items)})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert len(results) == len(items)
    return results


async def _rows(engine: AsyncEngine, owner: str) -> int:
    query = select(func.count()).where(StoredMemory.owner == backend_user(owner))
    async with engine.connect() as connection:
        return int((await connection.scalar(query)) or 0)


async def test_each_item_is_stored_for_its_owner_with_a_result_in_item_order(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice, bob = _owner(), _owner()

    results = await _batch(
        client,
        _item(alice, "Alice drinks green tea", metadata={"topic": "food"}, idempotency_key=_key()),
        _item(bob, "Bob keeps bees"),
        _item(alice, "Alice lives in Lisbon"),
    )

    assert [result["status"] for result in results] == [201, 201, 201]
    memories = [result["memory"] for result in results]
    assert [memory["content"] for memory in memories] == [
        "Alice drinks green tea",
        "Bob keeps bees",
        "Alice lives in Lisbon",
    ]
    assert memories[0]["metadata"] == {"topic": "food"}
    assert len({memory["id"] for memory in memories}) == 3
    assert (await _rows(engine, alice), await _rows(engine, bob)) == (2, 1)
    fetched = await client.get(f"/internal/v1/owners/{bob}/memories/{memories[1]['id']}")
    assert fetched.json()["content"] == "Bob keeps bees"


async def test_an_invalid_item_fails_alone(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    owner = _owner()

    results = await _batch(
        client,
        _item(owner, "first"),
        _item(owner, "nul \x00 inside"),
        _item("not an owner!", "bad owner"),
        _item(owner, "last"),
    )

    assert [result["status"] for result in results] == [201, 422, 422, 201]
    assert [result["error"] for result in results[1:3]] == ["invalid_request"] * 2
    assert results[1]["detail"].startswith("content: ")
    assert results[2]["detail"].startswith("owner: ")
    assert results[1]["memory"] is None
    assert await _rows(engine, owner) == 2


async def test_a_key_twice_in_one_batch_is_one_memory(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    owner, key = _owner(), _key()

    first, second = await _batch(
        client,
        _item(owner, "Alice drinks green tea", idempotency_key=key),
        _item(owner, "Alice drinks green tea", idempotency_key=key),
    )

    assert first["memory"]["id"] == second["memory"]["id"]
    assert await _rows(engine, owner) == 1


async def test_a_key_stored_by_an_earlier_batch_answers_the_stored_memory(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    owner, key = _owner(), _key()
    [stored] = await _batch(client, _item(owner, "the first words", idempotency_key=key))

    [again, new] = await _batch(
        client,
        _item(owner, "other words, same key", idempotency_key=key),
        _item(owner, "a new memory", idempotency_key=_key()),
    )

    assert again["status"] == 201
    assert again["memory"]["id"] == stored["memory"]["id"]
    assert again["memory"]["content"] == "the first words"
    assert new["memory"]["id"] != stored["memory"]["id"]
    assert await _rows(engine, owner) == 2


async def test_another_owners_key_is_another_memory(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    alice, bob, key = _owner(), _owner(), _key()
    [alices] = await _batch(client, _item(alice, "Alice's secret", idempotency_key=key))

    [bobs] = await _batch(client, _item(bob, "Bob's secret", idempotency_key=key))

    assert bobs["memory"]["id"] != alices["memory"]["id"]
    assert bobs["memory"]["content"] == "Bob's secret"
    assert (await _rows(engine, alice), await _rows(engine, bob)) == (1, 1)


async def test_more_items_than_the_limit_are_refused_whole(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    owner = _owner()
    items = [_item(owner, f"fact {n}") for n in range(MAX_BATCH_ITEMS + 1)]

    response = await client.post(BATCH, json={"items": items})

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert await _rows(engine, owner) == 0


async def test_a_body_over_the_size_limit_is_refused_with_413(client: httpx.AsyncClient) -> None:
    body = b'{"items": [{"owner": "someone", "content": "' + b"x" * MAX_BATCH_BODY_BYTES + b'"}]}'

    response = await client.post(BATCH, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 413


async def test_a_batch_without_the_internal_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        BATCH,
        json={"items": [_item(_owner(), "sneaky")]},
        headers={INTERNAL_TOKEN_HEADER: "wrong"},
    )

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
