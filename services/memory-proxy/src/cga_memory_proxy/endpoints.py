"""The internal API: the gateway and the worker call it, nobody else can (token + NetworkPolicy).

``owner`` is the subject of the caller's verified access token; the Memory Bank user id is
derived from it here, never taken from a request body."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from cga_core.errors import AppError, NotFound
from cga_core.internal import INTERNAL_TOKEN_HEADER
from cga_core.memories import Memory, MemoryPage, NewMemory, SearchQuery
from cga_core.security import secrets_equal
from cga_memory_proxy.backends.base import BackendError, InvalidCursor
from cga_memory_proxy.breaker import BreakerOpen
from cga_memory_proxy.errors import (
    InvalidCursorError,
    MemoryBankFailed,
    MemoryBankTimedOut,
    MemoryBankUnavailable,
)
from cga_memory_proxy.resilience import MemoryBankTimeout, Overloaded, ResilientBackend

ResultT = TypeVar("ResultT")
OWNER_PREFIX = "cga-"


class InternalUnauthorized(AppError):
    status_code = 401
    error = "unauthorized"
    default_detail = "The internal token is missing or wrong."


class MemoryNotFound(NotFound):
    error = "memory_not_found"
    default_detail = "No memory with this id."


class SearchResults(BaseModel):
    results: list[Memory]


def require_internal_token(request: Request) -> None:
    presented = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    expected = request.state.internal_token
    if not presented or not secrets_equal(presented, expected):
        raise InternalUnauthorized


def get_backend(request: Request) -> ResilientBackend:
    backend: ResilientBackend = request.state.backend
    return backend


Backend = Annotated[ResilientBackend, Depends(get_backend)]
Owner = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]
MemoryId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]

router = APIRouter(
    prefix="/internal/v1/owners/{owner}/memories",
    tags=["internal"],
    dependencies=[Depends(require_internal_token)],
)


def backend_user(owner: str) -> str:
    return OWNER_PREFIX + owner


@asynccontextmanager
async def _mapped_failures() -> AsyncIterator[None]:
    try:
        yield
    except BreakerOpen as exc:
        raise MemoryBankUnavailable.retry_in(exc.retry_after) from None
    except Overloaded:
        raise MemoryBankUnavailable.retry_in(1, "Too many Memory Bank calls in flight.") from None
    except MemoryBankTimeout:
        raise MemoryBankTimedOut from None
    except InvalidCursor:
        raise InvalidCursorError from None
    except BackendError as exc:
        if exc.retryable:
            raise MemoryBankUnavailable.retry_in(5) from None
        raise MemoryBankFailed from None


async def _run(call: Awaitable[ResultT]) -> ResultT:
    async with _mapped_failures():
        return await call


@router.post("/search")
async def search(owner: Owner, query: SearchQuery, backend: Backend) -> SearchResults:
    return SearchResults(results=await _run(backend.search(backend_user(owner), query)))


@router.get("")
async def list_memories(
    owner: Owner,
    backend: Backend,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> MemoryPage:
    return await _run(backend.list(backend_user(owner), limit, cursor))


@router.get("/{memory_id}")
async def get_memory(owner: Owner, memory_id: MemoryId, backend: Backend) -> Memory:
    memory = await _run(backend.get(backend_user(owner), memory_id))
    if memory is None:
        raise MemoryNotFound
    return memory


@router.delete("/{memory_id}", status_code=204)
async def delete_memory(owner: Owner, memory_id: MemoryId, backend: Backend) -> Response:
    if not await _run(backend.delete(backend_user(owner), memory_id)):
        raise MemoryNotFound
    return Response(status_code=204)


@router.post("", status_code=201)
async def create_memory(owner: Owner, memory: NewMemory, backend: Backend) -> Memory:
    return await _run(backend.create(backend_user(owner), memory))
