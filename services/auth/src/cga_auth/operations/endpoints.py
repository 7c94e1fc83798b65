"""Admin API for operators: dead letters (list and replay) and the audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from cga_auth.admin.auth import require_admin
from cga_auth.operations.schemas import AuditEventOut, JobSummary, ReplayResult
from cga_core.app import DbSession
from cga_core.errors import AppError, ErrorBody, NotFound
from cga_core.jobs import MemoryJobRepository
from cga_core.models import AuditEvent, JobStatus, MemoryJob
from cga_core.queue import enqueue_write

router = APIRouter(
    prefix="/admin/v1",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses={401: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)
Limit = Annotated[int, Query(ge=1, le=1000)]


class JobNotFound(NotFound):
    error = "job_not_found"
    default_detail = "No write job has this id."


class JobAlreadySucceeded(AppError):
    status_code = 409
    error = "job_succeeded"
    default_detail = "This write succeeded; there is nothing to replay."


def _summary(job: MemoryJob) -> JobSummary:
    return JobSummary(
        job_id=str(job.id),
        status=job.status,
        attempts=job.attempts,
        client_id=job.client_id,
        user_id=job.owner,
        memory_id=job.memory_id,
        error=job.last_error,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


async def _replay(request: Request, session: DbSession, job_ids: list[uuid.UUID]) -> None:
    """Back to queued with a fresh attempt budget, committed, then enqueued (the sweeper
    enqueues any that Redis does not take now)."""
    await MemoryJobRepository(session).requeue(job_ids, reset_attempts=True)
    await session.commit()
    for job_id in job_ids:
        await enqueue_write(request.state.core.redis, job_id)


@router.get("/jobs")
async def list_jobs(
    session: DbSession, status: JobStatus | None = None, limit: Limit = 100
) -> list[JobSummary]:
    return [_summary(job) for job in await MemoryJobRepository(session).listing(status, limit)]


@router.post("/jobs/{job_id}/replay")
async def replay_job(job_id: uuid.UUID, request: Request, session: DbSession) -> JobSummary:
    jobs = MemoryJobRepository(session)
    job = await jobs.get(job_id)
    if job is None:
        raise JobNotFound
    if job.status == JobStatus.SUCCEEDED:
        raise JobAlreadySucceeded
    await _replay(request, session, [job_id])
    await session.refresh(job)
    return _summary(job)


@router.post("/jobs/replay-failed")
async def replay_failed(request: Request, session: DbSession) -> ReplayResult:
    failed = list(await MemoryJobRepository(session).failed_ids())
    if failed:
        await _replay(request, session, failed)
    return ReplayResult(replayed=len(failed))


@router.get("/audit")
async def audit_events(
    session: DbSession,
    client_id: str | None = None,
    user_id: str | None = None,
    action: str | None = None,
    service: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 100,
) -> list[AuditEventOut]:
    query = select(AuditEvent).order_by(AuditEvent.occurred_at.desc()).limit(limit)
    for column, value in (
        (AuditEvent.client_id, client_id),
        (AuditEvent.user_id, user_id),
        (AuditEvent.action, action),
        (AuditEvent.service, service),
    ):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    rows = (await session.execute(query)).scalars().all()
    return [
        AuditEventOut(
            occurred_at=row.occurred_at,
            service=row.service,
            action=row.action,
            outcome=row.outcome,
            client_id=row.client_id,
            user_id=row.user_id,
            request_id=row.request_id,
            client_ip=str(row.client_ip) if row.client_ip else None,
            latency_ms=row.latency_ms,
            details=row.details,
        )
        for row in rows
    ]
