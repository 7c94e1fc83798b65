"""mem0's memory format, and the two mem0 APIs built on it: the self-hosted REST server and the
hosted platform. Contracts: ``../shared/design.md`` §1, verified against a running server."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from cga_core.memories import Memory, MemoryPage, NewMemory, SearchQuery
from cga_memory_proxy.backends.base import BackendError, InvalidCursor
from cga_memory_proxy.backends.http import NOT_FOUND, JsonApi, results_of

IDEMPOTENCY_METADATA_KEY = "cga_idempotency_key"


def to_memory(item: dict[str, Any]) -> Memory:
    try:
        return Memory(
            id=str(item["id"]),
            content=str(item.get("memory") or item.get("text") or ""),
            score=item.get("score"),
            created_at=item.get("created_at"),
            updated_at=item.get("updated_at"),
            metadata={
                key: value
                for key, value in (item.get("metadata") or {}).items()
                if key != IDEMPOTENCY_METADATA_KEY
            },
        )
    except (KeyError, TypeError, ValidationError, AttributeError) as exc:
        raise BackendError(f"malformed memory: {type(exc).__name__}", retryable=False) from None


def _encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def decode_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        offset = int(raw[1:]) if raw.startswith("o") else -1
    except ValueError:
        offset = -1
    if offset < 0:
        raise InvalidCursor(cursor)
    return offset


def page_of(memories: list[Memory], offset: int, limit: int) -> MemoryPage:
    """Newest first, ``limit`` from ``offset``: mem0 lists everything at once."""
    ordered = sorted(memories, key=lambda m: (m.created_at is not None, m.created_at), reverse=True)
    items = ordered[offset : offset + limit]
    more = offset + limit < len(ordered)
    return MemoryPage(items=items, next_cursor=_encode_offset(offset + limit) if more else None)


def owned(item: Any, owner: str) -> Memory | None:
    """The memory when it exists and is the owner's: another user's id is a plain 'not found'."""
    if item is NOT_FOUND or not isinstance(item, dict) or item.get("user_id") != owner:
        return None
    return to_memory(item)


def created(body: Any, memory: NewMemory) -> Memory:
    results = [item for item in results_of(body) if item.get("id")]
    if not results:
        raise BackendError("the Memory Bank stored nothing", retryable=False)
    stored = to_memory(results[0])
    # mem0 answers an add with id, text and event only; the metadata it stored is what we sent.
    if "metadata" not in results[0]:
        stored.metadata = dict(memory.metadata)
    return stored


def add_body(owner: str, memory: NewMemory, infer: bool) -> dict[str, Any]:
    metadata = dict(memory.metadata)
    if memory.idempotency_key:
        metadata[IDEMPOTENCY_METADATA_KEY] = memory.idempotency_key
    return {
        "messages": [{"role": "user", "content": memory.content}],
        "user_id": owner,
        "metadata": metadata,
        "infer": infer,
    }


def search_body(owner: str, query: SearchQuery, threshold: float) -> dict[str, Any]:
    return {
        "query": query.query,
        "filters": {**query.filters, "user_id": owner},
        "top_k": query.limit,
        "threshold": threshold,
    }


@dataclass(frozen=True)
class Mem0Routes:
    """Where one mem0 API keeps each operation."""

    search: str
    add: str
    one: str  # formatted with the memory id
    list_path: str
    list_in_body: bool  # the platform takes the owner in a POST body, the server in the query


SELF_HOSTED_ROUTES = Mem0Routes(
    search="/search", add="/memories", one="/memories/{}", list_path="/memories", list_in_body=False
)
PLATFORM_ROUTES = Mem0Routes(
    search="/v3/memories/search/",
    add="/v3/memories/add/",
    one="/v1/memories/{}/",
    list_path="/v2/memories/",
    list_in_body=True,
)


class Mem0Backend:
    """A mem0 Memory Bank: the self-hosted server (``X-API-Key``) or the hosted platform
    (``Authorization: Token``), which differ only in their routes."""

    def __init__(
        self, name: str, api: JsonApi, routes: Mem0Routes, *, infer: bool, threshold: float
    ) -> None:
        self.name = name
        self.api = api
        self.routes = routes
        self.infer = infer
        self.threshold = threshold

    async def search(self, owner: str, query: SearchQuery) -> list[Memory]:
        body = search_body(owner, query, self.threshold)
        found = await self.api.call("POST", self.routes.search, json=body)
        return [to_memory(item) for item in results_of(found)][: query.limit]

    async def list(self, owner: str, limit: int, cursor: str | None) -> MemoryPage:
        offset = decode_offset(cursor)
        if self.routes.list_in_body:
            body = await self.api.call(
                "POST", self.routes.list_path, json={"filters": {"user_id": owner}}
            )
        else:
            body = await self.api.call("GET", self.routes.list_path, params={"user_id": owner})
        return page_of([to_memory(item) for item in results_of(body)], offset, limit)

    async def get(self, owner: str, memory_id: str) -> Memory | None:
        return owned(
            await self.api.call("GET", self.routes.one.format(quote(memory_id, safe=""))), owner
        )

    async def delete(self, owner: str, memory_id: str) -> bool:
        if await self.get(owner, memory_id) is None:
            return False
        await self.api.call("DELETE", self.routes.one.format(quote(memory_id, safe="")))
        return True

    async def create(self, owner: str, memory: NewMemory) -> Memory:
        body = add_body(owner, memory, self.infer)
        return created(await self.api.call("POST", self.routes.add, json=body), memory)
