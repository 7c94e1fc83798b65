"""What GPTs send and get back. Descriptions are written for the model that reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cga_core.memories import Metadata, PlainText


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
