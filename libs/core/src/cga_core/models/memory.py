"""Memories of the embedded ``local`` Memory Bank backend."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Computed, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from cga_core.models._columns import CreatedAt, UpdatedAt, UUIDPrimaryKey
from cga_core.models.base import Base


class StoredMemory(Base):
    __tablename__ = "memories"
    __table_args__ = (
        # Newest-first listing of one owner's memories (keyset pagination).
        Index("ix_memories_owner_created_at_id", "owner", "created_at", "id"),
        Index("ix_memories_search_vector", "search_vector", postgresql_using="gin"),
        # A retried write carrying the same key never stores twice (keys are per owner).
        UniqueConstraint("owner", "idempotency_key"),
    )

    id: Mapped[UUIDPrimaryKey]
    owner: Mapped[str] = mapped_column(String(128))
    content: Mapped[str] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default="{}")
    # Stemmed English words of the content, maintained by PostgreSQL itself.
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR, Computed("to_tsvector('english', content)", persisted=True)
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
