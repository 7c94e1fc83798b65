from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.db import create_sessionmaker
from cga_core.models import AuditEvent
from cga_worker.settings import WorkerSettings
from cga_worker.tasks import purge_expired_audit_events
from tests.support.env import TestStack


async def _add_events(engine: AsyncEngine, age: timedelta, count: int) -> None:
    when = datetime.now(UTC) - age
    rows = [
        {"occurred_at": when, "service": "auth", "action": "token.issue", "outcome": "success"}
        for _ in range(count)
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(AuditEvent), rows)


async def _ages(engine: AsyncEngine) -> list[int]:
    query = select(
        func.floor(func.extract("epoch", func.now() - AuditEvent.occurred_at) / 86400)
    ).order_by(AuditEvent.occurred_at)
    async with engine.connect() as connection:
        return [int(age) for age in (await connection.execute(query)).scalars()]


@pytest.fixture
def job_context(
    service_env: TestStack, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setenv("CGA_WORKER_AUDIT_RETENTION", "30d")
    monkeypatch.setenv("CGA_WORKER_AUDIT_PURGE_BATCH_SIZE", "7")
    return {"settings": WorkerSettings(), "sessionmaker": create_sessionmaker(engine)}


async def test_purge_removes_only_events_older_than_retention_in_batches(
    job_context: dict[str, Any], engine: AsyncEngine, clean_audit_events: None
) -> None:
    await _add_events(engine, timedelta(days=45), 20)  # three batches of 7
    await _add_events(engine, timedelta(days=29), 3)
    await _add_events(engine, timedelta(hours=1), 2)

    deleted = await purge_expired_audit_events(job_context)

    assert deleted == 20
    assert await _ages(engine) == [29, 29, 29, 0, 0]


async def test_purge_with_nothing_expired_deletes_nothing(
    job_context: dict[str, Any], engine: AsyncEngine, clean_audit_events: None
) -> None:
    await _add_events(engine, timedelta(days=1), 4)

    assert await purge_expired_audit_events(job_context) == 0
    assert len(await _ages(engine)) == 4
