"""The one shape of a memory, shared by memory-proxy, the gateway and the worker.

Every backend's results are mapped to it; a backend's raw body never reaches a GPT."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

MAX_CONTENT_LENGTH = 8000
# Our user (the access token's subject) as memory-proxy's internal API takes it.
OWNER_PATTERN = r"^[A-Za-z0-9._:@-]+$"
OWNER_MAX_LENGTH = 128
MAX_BATCH_ITEMS = 100


def _without_nul(text: str) -> str:
    # PostgreSQL text and jsonb cannot hold NUL; refused here it is bad input (422), not a
    # Memory Bank failure that would be retried and count against the circuit breaker.
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


PlainText = Annotated[str, AfterValidator(_without_nul)]
MetadataValue = (
    Annotated[str, Field(max_length=500), AfterValidator(_without_nul)] | int | float | bool | None
)
Metadata = Annotated[
    dict[
        Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_without_nul)],
        MetadataValue,
    ],
    Field(max_length=20, description="Flat key/value labels, at most 20."),
]


class Memory(BaseModel):
    id: str = Field(description="The memory's identifier.")
    content: str = Field(description="The remembered text.")
    score: float | None = Field(None, description="Relevance to the search (higher is closer).")
    created_at: datetime | None = Field(None, description="When it was stored (UTC).")
    updated_at: datetime | None = Field(None, description="When it last changed (UTC).")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Labels stored with it.")


class MemoryPage(BaseModel):
    items: list[Memory]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")


class SearchQuery(BaseModel):
    query: PlainText = Field(min_length=1, max_length=1000)
    limit: int = Field(10, ge=1, le=50)
    filters: Metadata = Field(default_factory=dict)


class NewMemory(BaseModel):
    content: PlainText = Field(min_length=1, max_length=MAX_CONTENT_LENGTH)
    metadata: Metadata = Field(default_factory=dict)
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)


class OwnedNewMemory(NewMemory):
    """One write of a batch: the memory and whose it is."""

    owner: str = Field(min_length=1, max_length=OWNER_MAX_LENGTH, pattern=OWNER_PATTERN)


class MemoryBatch(BaseModel):
    # Objects, not OwnedNewMemory: each item is validated on its own, so one bad item is one
    # failed result instead of a rejected batch.
    items: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class BatchItemResult(BaseModel):
    """What one write of a batch came to: the stored memory, or the error the single write
    would have answered (its status, code, detail and Retry-After)."""

    status: int
    memory: Memory | None = None
    error: str | None = None
    detail: str | None = None
    retry_after: str | None = None


class BatchResults(BaseModel):
    results: list[BatchItemResult] = Field(description="One result per item, in item order.")
