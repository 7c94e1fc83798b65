"""The client of memory-proxy's internal API, shared by the gateway and the worker.

aiohttp rather than httpx on this hop: it is the hot path of every Actions call, and aiohttp's
client costs a fraction of httpx's CPU per request (docs/decisions/0006). One session per
process, keep-alive connections, the internal token and the trace context on every call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from opentelemetry.propagate import inject

from cga_core.errors import AppError
from cga_core.internal import INTERNAL_TOKEN_HEADER
from cga_core.memories import (
    BatchItemResult,
    BatchResults,
    Memory,
    MemoryPage,
    NewMemory,
    SearchQuery,
)


class UpstreamError(AppError):
    """memory-proxy's own error, passed on with its status, code and Retry-After."""

    def __init__(self, status_code: int, error: str, detail: str, retry_after: str | None) -> None:
        super().__init__(detail, headers={"Retry-After": retry_after} if retry_after else None)
        self.status_code = status_code  # type: ignore[misc]
        self.error = error  # type: ignore[misc]


class MemoryProxyUnreachable(AppError):
    status_code = 503
    error = "memory_bank_unavailable"
    default_detail = "The memory service is unreachable; retry later."


class MemoryProxyClient:
    def __init__(self, base_url: str, token: str, *, timeout: float, pool_size: int) -> None:
        self.base_url = base_url.rstrip("/") + "/internal/v1/owners/"
        self.batch_url = base_url.rstrip("/") + "/internal/v1/memories/batch"
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=pool_size, keepalive_timeout=30),
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers={INTERNAL_TOKEN_HEADER: token, "Content-Type": "application/json"},
            json_serialize=lambda value: orjson.dumps(value).decode(),
        )

    async def close(self) -> None:
        await self.session.close()

    def _url(self, owner: str, suffix: str = "") -> str:
        return f"{self.base_url}{quote(owner, safe='')}/memories{suffix}"

    async def _call(
        self, method: str, url: str, *, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        # Set here as well as by the aiohttp instrumentation, which is suppressed in traces that
        # are not recorded: memory-proxy's log lines carry the caller's trace id either way.
        trace_headers: dict[str, str] = {}
        inject(trace_headers)
        try:
            async with self.session.request(
                method,
                url,
                data=orjson.dumps(body) if body is not None else None,
                params=params,
                headers=trace_headers,
            ) as response:
                raw = await response.read()
                if response.status == 204:
                    return None
                payload = orjson.loads(raw) if raw else {}
                if response.status >= 400:
                    raise UpstreamError(
                        response.status,
                        str(payload.get("error", "memory_bank_error")),
                        str(payload.get("detail", "The memory service failed.")),
                        response.headers.get("Retry-After"),
                    )
                return payload
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError):
            raise MemoryProxyUnreachable from None

    async def search(self, owner: str, query: SearchQuery) -> list[Memory]:
        body = await self._call("POST", self._url(owner, "/search"), body=query.model_dump())
        return [Memory.model_validate(item) for item in body["results"]]

    async def list(self, owner: str, limit: int, cursor: str | None) -> MemoryPage:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        return MemoryPage.model_validate(await self._call("GET", self._url(owner), params=params))

    async def get(self, owner: str, memory_id: str) -> Memory:
        body = await self._call("GET", self._url(owner, "/" + quote(memory_id, safe="")))
        return Memory.model_validate(body)

    async def delete(self, owner: str, memory_id: str) -> None:
        await self._call("DELETE", self._url(owner, "/" + quote(memory_id, safe="")))

    async def create_batch(
        self, items: Sequence[tuple[str, NewMemory]]
    ) -> Sequence[Memory | UpstreamError]:
        """Store many memories, of any owners, in one call: each ``(owner, memory)`` item's
        stored memory or its own error, in item order. A failure of the whole call raises."""
        body = {"items": [{**memory.model_dump(), "owner": owner} for owner, memory in items]}
        answer = await self._call("POST", self.batch_url, body=body)
        return [_item_outcome(result) for result in BatchResults.model_validate(answer).results]


def _item_outcome(result: BatchItemResult) -> Memory | UpstreamError:
    if result.memory is not None:
        return result.memory
    return UpstreamError(
        result.status,
        result.error or "memory_bank_error",
        result.detail or "The memory service failed.",
        result.retry_after,
    )
