"""What GPTs send and get back. Descriptions are written for the model that reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cga_core.memories import MAX_CONTENT_LENGTH, Metadata, PlainText


class SearchRequest(BaseModel):
    # JSON types as documented: `true` is not a limit, `"5"` is not a number.
    model_config = ConfigDict(strict=True)

    query: PlainText = Field(
        min_length=1,
        max_length=1000,
        description="What to look for, in natural language (e.g. 'my favourite tea').",
    )
    limit: int = Field(10, ge=1, le=50, description="Most results to return (1-50, default 10).")
    filters: Metadata = Field(
        default_factory=dict,
        description="Only memories whose metadata has all these key/value pairs.",
    )


class MemoryOut(BaseModel):
    id: str = Field(description="Identifier, for getting or deleting this memory.")
    content: str = Field(description="The remembered text (shortened if very long).")
    truncated: bool = Field(False, description="True when content was shortened.")
    score: float | None = Field(None, description="Relevance to the search; higher is closer.")
    created_at: datetime | None = Field(None, description="When it was saved (UTC).")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Labels saved with it.")


class SearchResponse(BaseModel):
    results: list[MemoryOut] = Field(description="Best matches first.")


class MemoryList(BaseModel):
    items: list[MemoryOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        None, description="More memories exist: pass this as `cursor` to get the next page."
    )


class NewMemoryRequest(BaseModel):
    model_config = ConfigDict(strict=True)

    content: PlainText = Field(
        min_length=1,
        max_length=MAX_CONTENT_LENGTH,
        description="The fact to remember, as one self-contained sentence or short paragraph.",
    )
    metadata: Metadata = Field(
        default_factory=dict, description="Optional labels, e.g. {'topic': 'food'}."
    )
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Optional. Send the same key again when retrying, to save only once.",
    )


class JobAccepted(BaseModel):
    job_id: str = Field(description="The write's id: check it with getMemoryJob.")
    status: str = Field(description="queued, running, succeeded or failed.")
    status_url: str = Field(description="Where the write's status can be read.")


class JobState(BaseModel):
    job_id: str = Field(description="The write's id.")
    status: str = Field(description="queued, running, succeeded or failed.")
    attempts: int = Field(description="How many times saving was tried.")
    memory_id: str | None = Field(None, description="The saved memory's id, once succeeded.")
    error: str | None = Field(None, description="Why it failed, when it did.")
    created_at: datetime = Field(description="When the write was accepted (UTC).")
    finished_at: datetime | None = Field(None, description="When it succeeded or failed (UTC).")
