from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from cga_core.memories import Memory, MemoryPage, NewMemory, SearchQuery


class BackendError(Exception):
    """The Memory Bank failed; ``retryable`` when trying again may help (5xx, timeouts)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class InvalidCursor(ValueError):
    """A list cursor that this backend did not hand out."""


class MemoryBackend(Protocol):
    """A Memory Bank, seen on behalf of one owner (the backend user id, never from input)."""

    name: str

    async def search(self, owner: str, query: SearchQuery) -> list[Memory]: ...

    async def list(self, owner: str, limit: int, cursor: str | None) -> MemoryPage: ...

    async def get(self, owner: str, memory_id: str) -> Memory | None: ...

    async def delete(self, owner: str, memory_id: str) -> bool: ...

    async def create(self, owner: str, memory: NewMemory) -> Memory: ...


@runtime_checkable
class ManyCreating(Protocol):
    """A Memory Bank that stores many memories in one call, all or none."""

    async def create_many(self, items: Sequence[tuple[str, NewMemory]]) -> Sequence[Memory]:
        """The memory of each ``(owner, memory)`` item, in item order; an item whose owner
        and idempotency key are stored already gets the memory stored first."""
        ...
