"""Queries on the audit trail shared by every service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cga_core.models import AuditEvent


class AuditEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def delete_batch_older_than(self, cutoff: datetime, batch_size: int) -> int:
        """Delete up to ``batch_size`` events older than ``cutoff``; small batches keep each
        transaction short on a large table."""
        oldest = (
            select(AuditEvent.id)
            .where(AuditEvent.occurred_at < cutoff)
            .order_by(AuditEvent.occurred_at)
            .limit(batch_size)
        )
        result = await self.session.execute(delete(AuditEvent).where(AuditEvent.id.in_(oldest)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
