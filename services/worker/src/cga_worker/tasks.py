"""ARQ jobs and their schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from arq import cron
from arq.cron import CronJob
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cga_core.audit import AuditEventRepository
from cga_core.db import session_scope
from cga_worker.settings import WorkerSettings

logger = structlog.get_logger("cga.worker")


async def purge_expired_audit_events(ctx: dict[str, Any]) -> int:
    """Apply the audit retention period; returns the number of events deleted."""
    settings: WorkerSettings = ctx["settings"]
    sessionmaker: async_sessionmaker[AsyncSession] = ctx["sessionmaker"]
    cutoff = datetime.now(UTC) - settings.audit_retention
    total = 0
    while True:
        async with session_scope(sessionmaker) as session:
            deleted = await AuditEventRepository(session).delete_batch_older_than(
                cutoff, settings.audit_purge_batch_size
            )
        total += deleted
        if deleted < settings.audit_purge_batch_size:
            break
    logger.info("worker.audit.purged", deleted=total, cutoff=cutoff.isoformat())
    return total


CRON_JOBS: list[CronJob] = [
    cron(purge_expired_audit_events, hour={3}, minute={17}, run_at_startup=False),
]
