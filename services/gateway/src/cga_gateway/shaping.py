"""Keeping every answer inside ChatGPT's 100,000-character limit for request plus response."""

from __future__ import annotations

from collections.abc import Sequence

from cga_core.memories import Memory
from cga_gateway.schemas import MemoryOut

ITEM_OVERHEAD = 400  # JSON keys, id, dates and metadata of one memory, generously
MARK = " […]"


def shaped(memories: Sequence[Memory], max_chars: int, budget: int) -> list[MemoryOut]:
    """Each memory's content cut to ``max_chars`` — less when many share the ``budget``."""
    if not memories:
        return []
    per_item = min(max_chars, budget // len(memories) - ITEM_OVERHEAD)
    per_item = max(per_item, 100)
    return [_one(memory, per_item) for memory in memories]


def _one(memory: Memory, limit: int) -> MemoryOut:
    truncated = len(memory.content) > limit
    content = memory.content[: limit - len(MARK)] + MARK if truncated else memory.content
    return MemoryOut(
        id=memory.id,
        content=content,
        truncated=truncated,
        score=memory.score,
        created_at=memory.created_at,
        metadata=memory.metadata,
    )
