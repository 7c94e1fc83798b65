"""Queries on the memory-write outbox, for the gateway (intake), the worker and the admin API."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, Text, Uuid, any_, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from cga_core.models import JobStatus, MemoryJob

MAX_ERROR_LENGTH = 500


@dataclass(frozen=True)
class ClaimedJob:
    """A write a worker run has taken: what it stores, and the request it came from."""

    id: uuid.UUID
    owner: str
    content: str | None
    metadata: dict[str, Any]
    attempts: int
    request_id: str | None
    traceparent: str | None


# The worker's statements, built once: many jobs each, with the ids bound as one array, so
# every batch size is the same statement (compiled and prepared once).
_table = cast(Table, MemoryJob.__table__)
_jobs = _table.c
_CLAIM = (
    update(_table)
    .where(
        _jobs.id == any_(bindparam("job_ids", type_=ARRAY(Uuid()))),
        or_(_jobs.status == JobStatus.QUEUED, _jobs.status == JobStatus.RUNNING),
    )
    .values(status=JobStatus.RUNNING, attempts=_jobs.attempts + 1, started_at=bindparam("now"))
    .returning(
        _jobs.id,
        _jobs.owner,
        _jobs.content,
        _jobs.metadata,
        _jobs.attempts,
        _jobs.request_id,
        _jobs.traceparent,
    )
)
_stored = (
    func.unnest(
        bindparam("job_ids", type_=ARRAY(Uuid())), bindparam("memory_ids", type_=ARRAY(Text()))
    )
    .table_valued("job_id", "memory_id")
    .render_derived()
)
_SUCCEED = (
    update(_table)
    .where(_jobs.id == _stored.c.job_id)
    .values(
        status=JobStatus.SUCCEEDED,
        memory_id=_stored.c.memory_id,
        content=None,
        last_error=None,
        finished_at=bindparam("now"),
    )
)


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


class MemoryJobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def accept(
        self,
        *,
        owner: str,
        client_id: str,
        content: str,
        metadata: dict[str, Any],
        idempotency_key: str | None,
        duplicate_window: timedelta,
        request_id: str | None,
        traceparent: str | None,
    ) -> tuple[MemoryJob, bool]:
        """The job for this write, and whether it is new. A repeated idempotency key, or the
        same content from the same owner within ``duplicate_window``, returns the first job."""
        digest = content_hash(content)
        # One owner's concurrent identical writes are serialised, so only one of them inserts.
        await self.session.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(owner + ":" + digest, 0)))
        )
        existing = await self._duplicate(owner, digest, idempotency_key, duplicate_window)
        if existing is not None:
            return existing, False
        statement = (
            insert(MemoryJob)
            .values(
                id=uuid.uuid4(),
                owner=owner,
                client_id=client_id,
                content=content,
                metadata_=metadata,
                content_hash=digest,
                idempotency_key=idempotency_key,
                status=JobStatus.QUEUED,
                attempts=0,
                request_id=request_id,
                traceparent=traceparent,
            )
            .on_conflict_do_nothing(index_elements=[MemoryJob.owner, MemoryJob.idempotency_key])
            .returning(MemoryJob)
        )
        job = (await self.session.execute(statement)).scalar_one_or_none()
        if job is None:  # the same key from a concurrent request, with other content
            existing = await self._duplicate(owner, digest, idempotency_key, timedelta(0))
            assert existing is not None  # noqa: S101 - the conflicting row exists
            return existing, False
        return job, True

    async def _duplicate(
        self, owner: str, digest: str, idempotency_key: str | None, window: timedelta
    ) -> MemoryJob | None:
        conditions = []
        if idempotency_key is not None:
            conditions.append(MemoryJob.idempotency_key == idempotency_key)
        if window > timedelta(0):
            conditions.append(
                (MemoryJob.content_hash == digest)
                & (MemoryJob.created_at > func.now() - window)
                & (MemoryJob.status != JobStatus.FAILED)
            )
        if not conditions:
            return None
        query = (
            select(MemoryJob)
            .where(MemoryJob.owner == owner, or_(*conditions))
            .order_by(MemoryJob.created_at)
            .limit(1)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def of_owner(self, job_id: uuid.UUID, owner: str) -> MemoryJob | None:
        query = select(MemoryJob).where(MemoryJob.id == job_id, MemoryJob.owner == owner)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def get(self, job_id: uuid.UUID) -> MemoryJob | None:
        return await self.session.get(MemoryJob, job_id)

    async def claim_many(self, job_ids: Sequence[uuid.UUID], now: datetime) -> list[ClaimedJob]:
        """Mark these jobs running and count an attempt of each, in one statement; the ones
        finished already (ARQ may run a job twice) or unknown are left out. Row locks make
        two concurrent claims of a job one after the other."""
        rows = await self.session.execute(_CLAIM, {"job_ids": list(job_ids), "now": now})
        return [ClaimedJob(*row) for row in rows]

    async def succeed_many(self, stored: Sequence[tuple[uuid.UUID, str]], now: datetime) -> None:
        """Mark each ``(job id, memory id)`` succeeded, in one statement; the outbox forgets
        the content, which the Memory Bank keeps now."""
        job_ids = [job_id for job_id, _ in stored]
        memory_ids = [memory_id for _, memory_id in stored]
        await self.session.execute(
            _SUCCEED, {"job_ids": job_ids, "memory_ids": memory_ids, "now": now}
        )

    async def _finish(self, job_id: uuid.UUID, **values: Any) -> None:
        await self.session.execute(update(MemoryJob).where(MemoryJob.id == job_id).values(**values))

    async def retry_later(self, job_id: uuid.UUID, error: str) -> None:
        await self._finish(job_id, status=JobStatus.QUEUED, last_error=error[:MAX_ERROR_LENGTH])

    async def fail(self, job_id: uuid.UUID, error: str, now: datetime) -> None:
        await self._finish(
            job_id, status=JobStatus.FAILED, last_error=error[:MAX_ERROR_LENGTH], finished_at=now
        )

    async def stale(
        self, queued_before: datetime, running_before: datetime, limit: int
    ) -> Sequence[uuid.UUID]:
        """Unfinished jobs nobody seems to be working on: queued for long (Redis lost them) or
        running for longer than any job may take (their worker died).

        The rows stay locked until the caller's transaction ends, so a worker cannot claim and
        finish one between this query and :meth:`requeue` — which would turn a succeeded job
        back to queued and write it again. Rows being claimed right now are skipped."""
        query = (
            select(MemoryJob.id)
            .where(
                or_(
                    (MemoryJob.status == JobStatus.QUEUED) & (MemoryJob.updated_at < queued_before),
                    (MemoryJob.status == JobStatus.RUNNING)
                    & (MemoryJob.started_at < running_before),
                )
            )
            .order_by(MemoryJob.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(query)).scalars().all()

    async def requeue(self, job_ids: Sequence[uuid.UUID], *, reset_attempts: bool) -> None:
        values: dict[str, Any] = {"status": JobStatus.QUEUED, "updated_at": func.now()}
        if reset_attempts:
            values |= {"attempts": 0, "last_error": None, "finished_at": None}
        await self.session.execute(
            update(MemoryJob)
            # A write that succeeded is never written again, whoever asks.
            .where(MemoryJob.id.in_(job_ids), MemoryJob.status != JobStatus.SUCCEEDED)
            .values(**values)
        )

    async def listing(self, status: JobStatus | None, limit: int) -> Sequence[MemoryJob]:
        query = select(MemoryJob).order_by(MemoryJob.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(MemoryJob.status == status)
        return (await self.session.execute(query)).scalars().all()

    async def failed_ids(self) -> Sequence[uuid.UUID]:
        query = select(MemoryJob.id).where(MemoryJob.status == JobStatus.FAILED)
        return (await self.session.execute(query)).scalars().all()

    async def backlog(self) -> tuple[int, float, int]:
        """Unfinished jobs, the age in seconds of the oldest one (0 when none), and dead
        letters (failed jobs awaiting replay)."""
        query = text(
            "SELECT count(*) FILTER (WHERE status IN ('queued', 'running')),"
            " coalesce(extract(epoch FROM now() - min(created_at)"
            " FILTER (WHERE status IN ('queued', 'running'))), 0),"
            " count(*) FILTER (WHERE status = 'failed')"
            " FROM memory_jobs WHERE status IN ('queued', 'running', 'failed')"
        )
        depth, age, failed = (await self.session.execute(query)).one()
        return int(depth), float(age), int(failed)
