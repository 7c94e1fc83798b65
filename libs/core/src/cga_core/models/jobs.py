"""The outbox of accepted memory writes: a row is inserted in the request's transaction, so an
accepted write survives Redis losing its queue, a worker dying, or the Memory Bank being down."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from cga_core.models._columns import CreatedAt, UpdatedAt
from cga_core.models.base import Base


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class MemoryJob(Base):
    __tablename__ = "memory_jobs"
    __table_args__ = (
        UniqueConstraint("owner", "idempotency_key"),
        # The sweeper's and the queue metrics' query: unfinished jobs, oldest first.
        Index("ix_memory_jobs_status_updated_at", "status", "updated_at"),
        # Collapsing identical content sent twice in a short window.
        Index(
            "ix_memory_jobs_owner_content_hash_created_at", "owner", "content_hash", "created_at"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    client_id: Mapped[str] = mapped_column(String(64))
    # Cleared once written: the Memory Bank keeps the memory, the outbox need not.
    content: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default="{}")
    content_hash: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[JobStatus] = mapped_column(String(16), default=JobStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    memory_id: Mapped[str | None] = mapped_column(String(128))
    request_id: Mapped[str | None] = mapped_column(String(128))
    traceparent: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
