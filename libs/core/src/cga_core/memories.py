"""The one shape of a memory, shared by memory-proxy, the gateway and the worker.

Every backend's results are mapped to it; a backend's raw body never reaches a GPT."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

MAX_CONTENT_LENGTH = 8000


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
