"""A trivial Memory Bank for the bench: mem0's self-hosted REST contract (design.md §1) served
from memory by a bare asyncio server, so that the Memory Bank costs next to nothing and what is
measured is our own path. It counts the calls it receives by route (``GET /_stub/calls``), which
is how the bench counts upstream calls per GPT request.

    python -m scripts.bench.stub_memory_bank --port PORT
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qs

import httptools
import orjson
import uvloop

CALLS_PATH = "/_stub/calls"
MEMORIES = "/memories"
SEARCH_SCORE = 0.5  # above mem0's default threshold, so every result is kept

Answer = tuple[int, Any]


class StubBank:
    """The memories, by owner, and the calls received, as ``"METHOD /route"``."""

    def __init__(self) -> None:
        self.memories: dict[str, dict[str, Any]] = {}
        self.owners: dict[str, list[str]] = {}
        self.calls: Counter[str] = Counter()

    def answer(self, method: str, target: str, body: bytes) -> Answer:
        path, _, query = target.partition("?")
        if path == CALLS_PATH:
            return HTTPStatus.OK, dict(self.calls)
        route, memory_id = _route(path)
        self.calls[f"{method} {route}"] += 1
        try:
            payload = orjson.loads(body) if body else None
            return self._dispatch(method, route, memory_id, parse_qs(query), payload)
        except (orjson.JSONDecodeError, KeyError, TypeError, IndexError) as exc:
            return HTTPStatus.UNPROCESSABLE_ENTITY, {"detail": f"invalid request: {exc!r}"}

    def _dispatch(
        self,
        method: str,
        route: str,
        memory_id: str,
        query: dict[str, list[str]],
        payload: Any,
    ) -> Answer:
        if (method, route) == ("POST", "/search"):
            return self._search(payload["filters"]["user_id"], int(payload.get("top_k", 10)))
        if (method, route) == ("POST", MEMORIES):
            return self._add(payload["user_id"], payload["messages"][-1]["content"], payload)
        if (method, route) == ("GET", MEMORIES):
            return HTTPStatus.OK, {"results": self._owned(query["user_id"][0])}
        if (method, route) == ("GET", MEMORIES + "/{id}"):
            # mem0 answers an unknown id with 200 and a null body.
            return HTTPStatus.OK, self.memories.get(memory_id)
        if (method, route) == ("DELETE", MEMORIES + "/{id}"):
            return self._delete(memory_id)
        return HTTPStatus.NOT_FOUND, {"detail": "Not Found"}

    def _owned(self, owner: str) -> list[dict[str, Any]]:
        return [self.memories[memory_id] for memory_id in self.owners.get(owner, [])]

    def _search(self, owner: str, top_k: int) -> Answer:
        found = [{**item, "score": SEARCH_SCORE} for item in self._owned(owner)[:top_k]]
        return HTTPStatus.OK, {"results": found}

    def _add(self, owner: str, content: str, payload: dict[str, Any]) -> Answer:
        memory_id = str(uuid.uuid4())
        self.memories[memory_id] = {
            "id": memory_id,
            "memory": content,
            "metadata": payload.get("metadata") or {},
            "user_id": owner,
            "created_at": datetime.now(UTC).isoformat(),
            "updated_at": None,
        }
        self.owners.setdefault(owner, []).append(memory_id)
        return HTTPStatus.OK, {"results": [{"id": memory_id, "memory": content, "event": "ADD"}]}

    def _delete(self, memory_id: str) -> Answer:
        item = self.memories.pop(memory_id, None)
        if item is None:
            return HTTPStatus.NOT_FOUND, {"detail": "Memory not found"}
        self.owners[item["user_id"]].remove(memory_id)
        return HTTPStatus.OK, {"message": "Memory deleted successfully!"}


def _route(path: str) -> tuple[str, str]:
    """The route template of a path, and the memory id in it (empty when none)."""
    prefix = MEMORIES + "/"
    if path.startswith(prefix) and len(path) > len(prefix):
        return MEMORIES + "/{id}", path[len(prefix) :]
    return path, ""


def http_response(status: int, payload: Any, *, keep_alive: bool) -> bytes:
    content = orjson.dumps(payload)
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(content)}\r\n"
        f"connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("ascii") + content


class StubConnection(asyncio.Protocol):
    """One client connection: HTTP/1.1 requests parsed by httptools, answered in order."""

    def __init__(self, bank: StubBank) -> None:
        self.bank = bank
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = bytearray()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode("ascii")
        status, payload = self.bank.answer(method, self.url.decode(), bytes(self.body))
        keep_alive = self.parser.should_keep_alive()
        if self.transport is not None:
            self.transport.write(http_response(status, payload, keep_alive=keep_alive))
        if not keep_alive:
            self._close()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def serve(host: str, port: int) -> None:
    bank = StubBank()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: StubConnection(bank), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
