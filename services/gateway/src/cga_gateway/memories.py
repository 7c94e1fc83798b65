"""The Actions API: search, list, read and delete the signed-in user's memories.

No ``from __future__ import annotations`` here: the routes annotate parameters with
dependencies built inside ``router_for``, which FastAPI must see as objects, not strings."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from cga_core.errors import ErrorBody
from cga_core.memories import SearchQuery
from cga_core.memory_proxy_client import MemoryProxyClient
from cga_gateway.admission import admitted
from cga_gateway.schemas import MemoryList, MemoryOut, SearchRequest, SearchResponse
from cga_gateway.security import requires
from cga_gateway.settings import GatewaySettings
from cga_gateway.shaping import shaped
from cga_gateway.tokens import Principal

READ = "memories:read"
WRITE = "memories:write"
DELETE = "memories:delete"
SCOPES = {
    READ: "Search and read your saved memories",
    WRITE: "Save new memories for you",
    DELETE: "Delete your saved memories",
}
MemoryId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The id of a memory, as returned by search or list.",
    ),
]
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        401: "Sign-in needed or expired.",
        403: "The app lacks the permission for this action.",
        429: "Too many requests; wait for Retry-After seconds.",
        503: "Temporarily unavailable; retry after Retry-After seconds.",
    }.items()
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such memory among the user's memories."}
}
UNREADABLE_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not readable JSON (e.g. not UTF-8)."}
}


class Deleted(BaseModel):
    id: str = Field(description="The deleted memory's id.")
    deleted: bool = Field(True, description="Always true.")


def router_for(settings: GatewaySettings, scheme: Any) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["memories"], responses=ERRORS)
    reader = Depends(requires(READ, scheme))
    deleter = Depends(requires(DELETE, scheme))

    @router.post(
        "/memories/search",
        operation_id="searchMemories",
        summary="Search the user's saved memories",
        description=(
            "Find the user's saved memories most relevant to a natural-language query. Use it"
            " before answering anything that may depend on what the user told you earlier."
        ),
        responses=UNREADABLE_BODY,
        # A read, though a POST: ChatGPT treats unmarked non-GET operations as consequential
        # and would ask the user to confirm every search.
        openapi_extra={"x-openai-isConsequential": False},
    )
    async def search(
        body: SearchRequest, request: Request, caller: Annotated[Principal, reader]
    ) -> SearchResponse:
        async with admitted(request, settings, "memories.search", caller):
            proxy: MemoryProxyClient = request.state.memory_proxy
            found = await proxy.search(
                caller.sub, SearchQuery(query=body.query, limit=body.limit, filters=body.filters)
            )
        return SearchResponse(
            results=shaped(found, settings.max_memory_chars, settings.max_response_chars)
        )

    @router.get(
        "/memories",
        operation_id="listMemories",
        summary="List the user's saved memories, newest first",
        description="Page through everything the user has saved, newest first.",
    )
    async def list_memories(
        request: Request,
        caller: Annotated[Principal, reader],
        limit: Annotated[int, Query(ge=1, le=50, description="Memories per page (1-50).")] = 20,
        cursor: Annotated[
            str | None,
            Query(max_length=512, description="next_cursor from the previous page."),
        ] = None,
    ) -> MemoryList:
        async with admitted(request, settings, "memories.list", caller):
            proxy: MemoryProxyClient = request.state.memory_proxy
            page = await proxy.list(caller.sub, limit, cursor)
        return MemoryList(
            items=shaped(page.items, settings.max_memory_chars, settings.max_response_chars),
            next_cursor=page.next_cursor,
        )

    @router.get(
        "/memories/{memory_id}",
        operation_id="getMemory",
        summary="Read one saved memory",
        description="Read one of the user's memories in full, by the id search or list gave.",
        responses=NOT_FOUND,
    )
    async def get_memory(
        memory_id: MemoryId, request: Request, caller: Annotated[Principal, reader]
    ) -> MemoryOut:
        async with admitted(request, settings, "memories.get", caller):
            proxy: MemoryProxyClient = request.state.memory_proxy
            memory = await proxy.get(caller.sub, memory_id)
        return shaped([memory], settings.max_response_chars, settings.max_response_chars)[0]

    @router.delete(
        "/memories/{memory_id}",
        operation_id="deleteMemory",
        summary="Delete one saved memory",
        description=(
            "Delete one of the user's memories for good. Only when the user asks to forget it;"
            " confirm which memory first."
        ),
        responses=NOT_FOUND,
        openapi_extra={"x-openai-isConsequential": True},
    )
    async def delete_memory(
        memory_id: MemoryId, request: Request, caller: Annotated[Principal, deleter]
    ) -> Deleted:
        async with admitted(request, settings, "memories.delete", caller, write=True):
            proxy: MemoryProxyClient = request.state.memory_proxy
            await proxy.delete(caller.sub, memory_id)
        return Deleted(id=memory_id)

    return router
