"""A mem0 Memory Bank on a loopback port, built from the contracts in design.md §1: the
self-hosted REST server (``X-API-Key``) and the hosted platform (``Authorization: Token``),
both served at once from one in-memory store.

It runs its own event loop in a thread, so synchronous tests (driving a real memory-proxy
process) and asynchronous ones (calling a backend in-process) can both use it. Every request is
recorded, and a test can switch it into the failures a real Memory Bank shows."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from aiohttp import web

from cga_devstack._process import free_port

# mem0 stamps memories in US/Pacific; an explicit offset keeps the dates easy to compare.
PACIFIC = timezone(timedelta(hours=-7))
PLATFORM_PREFIXES = ("/v1/", "/v2/", "/v3/")
HANG_LIMIT = 30.0  # a hung request answers after this at the latest, so nothing waits forever

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Mode(StrEnum):
    HEALTHY = "healthy"
    PROVIDER_ERROR = "provider_error"  # 502 {detail, code, request_id}: the LLM/vector store failed
    SERVER_ERROR = "server_error"  # 500 {detail}
    HANG = "hang"  # no answer until the simulator is healed (or HANG_LIMIT passes)
    MALFORMED = "malformed"  # 200 whose body is not JSON


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: Any  # the parsed JSON body, or None
    status: int | None = None  # what the simulator answered, once it has


class Mem0Simulator:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.port = free_port()
        self.requests: list[RecordedRequest] = []
        self.memories: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._mode = Mode.HEALTHY
        self._failures_left: int | None = None
        self._released = asyncio.Event()  # set, in the server's loop, to end a HANG
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def backend_environment(self) -> dict[str, str]:
        """memory-proxy's settings for its ``mem0`` backend pointed at this simulator."""
        return {
            "CGA_MEMORY_PROXY_BACKEND": "mem0",
            "CGA_MEMORY_PROXY_MEM0_URL": self.url,
            "CGA_MEMORY_PROXY_MEM0_API_KEY": self.api_key,
        }

    # --- control, from the test's thread ---

    def fail(self, mode: Mode, *, times: int | None = None) -> None:
        """Answer every request with ``mode`` from now on, or only the next ``times`` ones."""
        with self._lock:
            if mode is Mode.HANG:
                self._released = asyncio.Event()
            self._mode = mode
            self._failures_left = times

    def heal(self) -> None:
        """Answer normally again; requests held by ``HANG`` now get a normal answer."""
        with self._lock:
            self._mode = Mode.HEALTHY
            self._failures_left = None
            released = self._released
        self._loop.call_soon_threadsafe(released.set)

    def seed(
        self,
        user_id: str,
        content: str,
        *,
        metadata: dict[str, Any] | None = None,
        created_at: datetime | None = None,
    ) -> str:
        """Store a memory as mem0 would have, without a request."""
        with self._lock:
            return self._store(user_id, content, metadata or {}, created_at)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        self.heal()
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    # --- the server, in its own thread ---

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._front_door])
        routes: list[tuple[str, str, Handler]] = [
            # self-hosted REST server
            ("POST", "/memories", self._add),
            ("GET", "/memories", self._list_self_hosted),
            ("POST", "/search", self._search),
            ("GET", "/memories/{id}", self._get),
            ("DELETE", "/memories/{id}", self._delete),
            # hosted platform
            ("POST", "/v3/memories/add/", self._add),
            ("POST", "/v3/memories/search/", self._search),
            ("POST", "/v2/memories/", self._list_platform),
            ("GET", "/v1/memories/{id}/", self._get),
            ("DELETE", "/v1/memories/{id}/", self._delete),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _front_door(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await _json_body(request)
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(record)
        response = await self._answer(request, handler)
        record.status = response.status
        return response

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"detail": "Invalid API key"}, status=401)
        mode = self._take_mode()
        if mode is Mode.HANG:
            await self._hold()
            mode = self._current_mode()  # how the Memory Bank answers once it wakes up
        if mode is Mode.PROVIDER_ERROR:
            return web.json_response(
                {
                    "detail": "Embedding provider failed",
                    "code": "provider_error",
                    "request_id": str(uuid.uuid4()),
                },
                status=502,
            )
        if mode is Mode.SERVER_ERROR:
            return web.json_response({"detail": "Internal Server Error"}, status=500)
        if mode is Mode.MALFORMED:
            return web.Response(text='{"results": [{"id": ', content_type="application/json")
        return await handler(request)

    def _authorized(self, request: web.Request) -> bool:
        if request.path.startswith(PLATFORM_PREFIXES):
            return request.headers.get("Authorization") == f"Token {self.api_key}"
        return request.headers.get("X-API-Key") == self.api_key

    def _take_mode(self) -> Mode:
        with self._lock:
            mode = self._mode
            if mode is not Mode.HEALTHY and self._failures_left is not None:
                self._failures_left -= 1
                if self._failures_left <= 0:
                    self._mode, self._failures_left = Mode.HEALTHY, None
            return mode

    def _current_mode(self) -> Mode:
        with self._lock:
            return Mode.HEALTHY if self._mode is Mode.HANG else self._mode

    async def _hold(self) -> None:
        with self._lock:
            released = self._released
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(released.wait(), HANG_LIMIT)

    # --- the mem0 operations ---

    def _store(
        self,
        user_id: str,
        content: str,
        metadata: dict[str, Any],
        created_at: datetime | None,
    ) -> str:
        memory_id = str(uuid.uuid4())
        self.memories[memory_id] = {
            "id": memory_id,
            "memory": content,
            "hash": hashlib.md5(content.encode(), usedforsecurity=False).hexdigest(),
            "metadata": metadata,
            "created_at": (created_at or datetime.now(PACIFIC)).isoformat(),
            "updated_at": None,
            "user_id": user_id,
        }
        return memory_id

    async def _add(self, request: web.Request) -> web.Response:
        body = await _json_body(request) or {}
        if not body.get("user_id"):
            return _detail(400, "At least one identifier (user_id, agent_id, run_id) is required.")
        results = []
        with self._lock:
            for message in body.get("messages", []):
                if message.get("role") == "user":
                    memory_id = self._store(
                        body["user_id"], message["content"], body.get("metadata") or {}, None
                    )
                    results.append({"id": memory_id, "memory": message["content"], "event": "ADD"})
        return web.json_response({"results": results})

    async def _search(self, request: web.Request) -> web.Response:
        body = await _json_body(request) or {}
        filters = dict(body.get("filters") or {})
        user_id = filters.pop("user_id", None)
        if not user_id:
            return _detail(400, "At least one identifier is required in filters.")
        words = _words(body.get("query", ""))
        threshold = float(body.get("threshold", 0.1))
        found = []
        with self._lock:
            for memory in self.memories.values():
                metadata = memory["metadata"]
                if memory["user_id"] != user_id:
                    continue
                if any(metadata.get(key) != value for key, value in filters.items()):
                    continue
                score = len(words & _words(memory["memory"])) / max(len(words), 1)
                if score >= threshold:
                    found.append({**memory, "score": score})
        found.sort(key=lambda item: item["score"], reverse=True)
        return web.json_response({"results": found[: int(body.get("top_k", 10))]})

    async def _list_self_hosted(self, request: web.Request) -> web.Response:
        return self._list_of(request.query.get("user_id"))

    async def _list_platform(self, request: web.Request) -> web.Response:
        body = await _json_body(request) or {}
        return self._list_of((body.get("filters") or {}).get("user_id"))

    def _list_of(self, user_id: str | None) -> web.Response:
        if not user_id:
            return _detail(400, "At least one identifier (user_id, agent_id, run_id) is required.")
        with self._lock:
            # Insertion order, as the server keeps them: ordering is the client's business.
            owned = [memory for memory in self.memories.values() if memory["user_id"] == user_id]
        return web.json_response({"results": owned})

    async def _get(self, request: web.Request) -> web.Response:
        with self._lock:
            memory = self.memories.get(request.match_info["id"])
        if memory is None:
            if request.path.startswith(PLATFORM_PREFIXES):
                return _detail(404, "Memory not found")
            return web.json_response(None)  # the self-hosted server answers 200 null
        return web.json_response(memory)

    async def _delete(self, request: web.Request) -> web.Response:
        with self._lock:
            removed = self.memories.pop(request.match_info["id"], None)
        if removed is None:
            return _detail(404, "Memory not found")
        return web.json_response({"message": "Memory deleted successfully"})


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()  # aiohttp keeps the body: reading it twice is free
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _detail(status: int, detail: str) -> web.Response:
    return web.json_response({"detail": detail}, status=status)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


@contextmanager
def running_simulator(api_key: str) -> Iterator[Mem0Simulator]:
    simulator = Mem0Simulator(api_key)
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()
