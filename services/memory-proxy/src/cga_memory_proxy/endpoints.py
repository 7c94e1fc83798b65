"""The internal API: the gateway and the worker call it, nobody else can (token + NetworkPolicy).

``owner`` is the subject of the caller's verified access token; the Memory Bank user id is
derived from it here, never taken from a request body."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ValidationError

from cga_core.errors import AppError, InvalidRequest, NotFound, describe_validation_errors
from cga_core.internal import INTERNAL_TOKEN_HEADER
from cga_core.memories import (
    OWNER_MAX_LENGTH,
    OWNER_PATTERN,
    BatchItemResult,
    BatchResults,
    Memory,
    MemoryBatch,
    MemoryPage,
    NewMemory,
    OwnedNewMemory,
    SearchQuery,
)
from cga_core.security import secrets_equal
from cga_memory_proxy.backends.base import BackendError, InvalidCursor
from cga_memory_proxy.breaker import BreakerOpen
from cga_memory_proxy.errors import (
    InvalidCursorError,
    MemoryBankFailed,
    MemoryBankTimedOut,
    MemoryBankUnavailable,
)
from cga_memory_proxy.resilience import (
    MEMORY_BANK_FAILURES,
    MemoryBankTimeout,
    Overloaded,
    ResilientBackend,
)

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


# async: a plain function would be run in the thread pool, on every call.
async def require_internal_token(request: Request) -> None:
    presented = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    expected = request.state.internal_token
    if not presented or not secrets_equal(presented, expected):
        raise InternalUnauthorized


async def get_backend(request: Request) -> ResilientBackend:
    backend: ResilientBackend = request.state.backend
    return backend


Backend = Annotated[ResilientBackend, Depends(get_backend)]
Owner = Annotated[str, Path(min_length=1, max_length=OWNER_MAX_LENGTH, pattern=OWNER_PATTERN)]
MemoryId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]

router = APIRouter(
    prefix="/internal/v1/owners/{owner}/memories",
    tags=["internal"],
    dependencies=[Depends(require_internal_token)],
)


batch_router = APIRouter(
    prefix="/internal/v1/memories",
    tags=["internal"],
    dependencies=[Depends(require_internal_token)],
)
# Room for MAX_BATCH_ITEMS of the largest memories NewMemory admits, JSON-escaped (~120 KB).
MAX_BATCH_BODY_BYTES = 16 * 1024 * 1024


def backend_user(owner: str) -> str:
    return OWNER_PREFIX + owner


def app_error(exc: Exception) -> AppError:
    """How a Memory Bank failure (one of ``MEMORY_BANK_FAILURES``) or a bad cursor looks to
    the caller."""
    if isinstance(exc, BreakerOpen):
        return MemoryBankUnavailable.retry_in(exc.retry_after)
    if isinstance(exc, Overloaded):
        return MemoryBankUnavailable.retry_in(1, "Too many Memory Bank calls in flight.")
    if isinstance(exc, MemoryBankTimeout):
        return MemoryBankTimedOut()
    if isinstance(exc, InvalidCursor):
        return InvalidCursorError()
    if isinstance(exc, BackendError) and exc.retryable:
        return MemoryBankUnavailable.retry_in(5)
    return MemoryBankFailed()


@asynccontextmanager
async def _mapped_failures() -> AsyncIterator[None]:
    try:
        yield
    except (*MEMORY_BANK_FAILURES, InvalidCursor) as exc:
        raise app_error(exc) from None


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


def _validated(raw: dict[str, Any]) -> OwnedNewMemory | AppError:
    try:
        return OwnedNewMemory.model_validate(raw)
    except ValidationError as exc:
        return InvalidRequest(describe_validation_errors(exc.errors()))


def _result(outcome: Memory | Exception) -> BatchItemResult:
    if isinstance(outcome, Memory):
        return BatchItemResult(status=201, memory=outcome)
    error = outcome if isinstance(outcome, AppError) else app_error(outcome)
    return BatchItemResult(
        status=error.status_code,
        error=error.error,
        detail=error.detail,
        retry_after=error.headers.get("Retry-After"),
    )


@batch_router.post("/batch", max_body_size=MAX_BATCH_BODY_BYTES)
async def create_memories(batch: MemoryBatch, backend: Backend) -> BatchResults:
    """Many writes, of any owners, in one call: the worker's way of draining its queue. Each
    item has its own result, in item order; an invalid item fails alone."""
    items = [_validated(raw) for raw in batch.items]
    valid = [(backend_user(item.owner), item) for item in items if isinstance(item, OwnedNewMemory)]
    stored: Iterator[Memory | Exception] = iter(())
    if valid:
        stored = iter(await _run(backend.create_batch(valid)))
    return BatchResults(
        results=[_result(item if isinstance(item, AppError) else next(stored)) for item in items]
    )
