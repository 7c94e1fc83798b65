"""Queries on the memory-write outbox, for the gateway (intake), the worker and the admin API."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Insert,
    Interval,
    Select,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import cast as sql_cast
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


@dataclass(frozen=True)
class AcceptedJob:
    """The outbox row a write was accepted as."""

    id: uuid.UUID
    status: JobStatus


# The intake's statements, built once per kind of duplicate check (by idempotency key, by the
# same content within a window, both, neither): building and compiling a statement per request
# costs more CPU than the database spends on it.
_LOCK = select(
    func.pg_advisory_xact_lock(func.hashtextextended(bindparam("lock_key", type_=Text()), 0))
)
_NEW_JOB = (
    *("id", "owner", "client_id", "content", "metadata", "content_hash", "idempotency_key"),
    *("request_id", "traceparent"),
)


@dataclass(frozen=True)
class _Intake:
    lock: bool  # whether a duplicate is possible, so concurrent twins must be serialised
    insert: Insert  # inserts the job unless it is a duplicate; returns (id, status) if it did
    first: Select[tuple[uuid.UUID, str]]  # the first job of which this write is a duplicate


def _intake(by_key: bool, by_content: bool) -> _Intake:
    conditions: list[ColumnElement[bool]] = []
    if by_key:
        conditions.append(_jobs.idempotency_key == bindparam("idempotency_key"))
    if by_content:
        conditions.append(
            (_jobs.content_hash == bindparam("content_hash"))
            & (_jobs.created_at > func.now() - sql_cast(bindparam("window"), Interval()))
            & (_jobs.status != JobStatus.FAILED)
        )
    duplicate = (_jobs.owner == bindparam("owner")) & or_(false(), *conditions)
    new_row = select(
        *(sql_cast(bindparam(name, type_=_jobs[name].type), _jobs[name].type) for name in _NEW_JOB),
        literal(JobStatus.QUEUED.value),
        literal(0),
    )
    if conditions:
        new_row = new_row.where(~exists().where(duplicate))
    return _Intake(
        lock=bool(conditions),
        insert=insert(_table)
        .from_select([*_NEW_JOB, "status", "attempts"], new_row)
        # The same key from a concurrent request, committed after this statement began.
        .on_conflict_do_nothing(index_elements=[_jobs.owner, _jobs.idempotency_key])
        .returning(_jobs.id, _jobs.status),
        first=select(_jobs.id, _jobs.status).where(duplicate).order_by(_jobs.created_at).limit(1),
    )


_ACCEPT = {
    (by_key, by_content): _intake(by_key, by_content)
    for by_key in (False, True)
    for by_content in (False, True)
}


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
    ) -> tuple[AcceptedJob, bool]:
        """The job for this write, and whether it is new. A repeated idempotency key, or the
        same content from the same owner within ``duplicate_window``, returns the first job."""
        digest = content_hash(content)
        values = {
            "id": uuid.uuid4(),
            "owner": owner,
            "client_id": client_id,
            "content": content,
            "metadata": metadata,
            "content_hash": digest,
            "idempotency_key": idempotency_key,
            "request_id": request_id,
            "traceparent": traceparent,
            "window": duplicate_window,
        }
        statements = _ACCEPT[(idempotency_key is not None, duplicate_window > timedelta(0))]
        if statements.lock:
            # One owner's concurrent identical writes are serialised, so only one of them
            # inserts; the insert's own snapshot, taken after the lock, sees the first one.
            await self.session.execute(_LOCK, {"lock_key": f"{owner}:{digest}"})
        row = (await self.session.execute(statements.insert, values)).one_or_none()
        if row is not None:
            return AcceptedJob(row.id, JobStatus(row.status)), True
        # A duplicate, or the same key from a concurrent request with other content.
        first = (await self.session.execute(statements.first, values)).one()
        return AcceptedJob(first.id, JobStatus(first.status)), False

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
