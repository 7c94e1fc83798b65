"""memory jobs

Revision ID: 2215ac3a5bde
Revises: 259c6810b75c
Created: 2026-11-24 22:02:02.751323
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2215ac3a5bde"
down_revision: str | None = "259c6810b75c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "memory_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column(
            "metadata", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("memory_id", sa.String(length=128), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("traceparent", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memory_jobs")),
        sa.UniqueConstraint(
            "owner", "idempotency_key", name=op.f("uq_memory_jobs_owner_idempotency_key")
        ),
    )
    op.create_index(
        "ix_memory_jobs_owner_content_hash_created_at",
        "memory_jobs",
        ["owner", "content_hash", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_memory_jobs_status_updated_at", "memory_jobs", ["status", "updated_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_memory_jobs_status_updated_at", table_name="memory_jobs")
    op.drop_index("ix_memory_jobs_owner_content_hash_created_at", table_name="memory_jobs")
    op.drop_table("memory_jobs")
