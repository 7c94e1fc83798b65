"""ARQ jobs: memory writes from the outbox, the sweeper, and retention."""

from __future__ import annotations

import functools
import random
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import structlog
from arq import Retry, cron, func
from arq.cron import CronJob
from arq.worker import Function
from opentelemetry import context as otel_context
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cga_core.audit import AuditEventRepository
from cga_core.db import session_scope
from cga_core.errors import AppError, describe_validation_errors
from cga_core.housekeeping import purge_expired_credentials
from cga_core.jobs import ClaimedJob, MemoryJobRepository
from cga_core.memories import NewMemory
from cga_core.memory_proxy_client import MemoryProxyUnreachable
from cga_core.queue import WRITE_MEMORY, enqueue_write, write_job_id
from cga_core.telemetry import continued_trace, job_span
from cga_worker.metrics import JOB_DURATION, JOBS, JOBS_REQUEUED, JobOutcome
from cga_worker.settings import WorkerSettings
from cga_worker.writes import WriteBatches

logger = structlog.get_logger("cga.worker")
SWEEP_BATCH = 1000
# We count attempts in the outbox; ARQ's own limit only has to stay out of the way.
ARQ_MAX_TRIES = 10_000
JobArgs = ParamSpec("JobArgs")
ResultT = TypeVar("ResultT")


@contextmanager
def outside_the_queue_loop() -> Iterator[None]:
    """An empty OpenTelemetry context for a job: ARQ runs it from its loop, where client
    instrumentation is off (``cga_worker.main``), and a recorded job traces its queries."""
    token = otel_context.attach(otel_context.Context())
    try:
        yield
    finally:
        otel_context.detach(token)


def traced(
    job: Callable[JobArgs, Coroutine[Any, Any, ResultT]],
) -> Callable[JobArgs, Coroutine[Any, Any, ResultT]]:
    """Run a scheduled job in a trace of its own, so its queries and log lines share one."""

    @functools.wraps(job)
    async def run(*args: JobArgs.args, **kwargs: JobArgs.kwargs) -> ResultT:
        with outside_the_queue_loop(), job_span(job.__name__):
            return await job(*args, **kwargs)

    return run


def _retryable(exc: AppError) -> bool:
    return (
        isinstance(exc, MemoryProxyUnreachable) or exc.status_code >= 500 or exc.status_code == 429
    )


def backoff(settings: WorkerSettings, attempts: int) -> float:
    """Seconds before the next attempt: doubling from the base, capped, with full jitter on
    top of half, so a recovering Memory Bank is not hit by every job at once."""
    base: float = settings.retry_backoff.total_seconds() * 2.0 ** max(attempts - 1, 0)
    ceiling = min(base, settings.retry_backoff_max.total_seconds())
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not security


class UnstorableWrite(AppError):
    """An accepted write that is no valid memory (accepted under other limits): retrying
    cannot help."""

    status_code = 422
    error = "invalid_memory"
    default_detail = "The accepted write is not a valid memory."


async def write_memory(ctx: dict[str, Any], job_id: str) -> str:
    """Write one accepted memory. Safe to run twice: the claim skips finished jobs, and the
    write carries the job's key, so a retry after a crash finds the memory already stored.
    The claim and the write are batched with the other runs in flight (``WriteBatches``)."""
    writes: WriteBatches = ctx["writes"]
    started = time.perf_counter()
    job = await writes.claim(uuid.UUID(job_id))
    if job is None:
        JOBS.labels(outcome=JobOutcome.SKIPPED).inc()
        return JobOutcome.SKIPPED.value
    # The request that accepted the write started the trace; each attempt continues it (the
    # claim above runs before its span: the traceparent is in the row it reads).
    with (
        outside_the_queue_loop(),
        structlog.contextvars.bound_contextvars(request_id=job.request_id, job_id=job_id),
        job_span(
            WRITE_MEMORY,
            continued_trace(job.traceparent),
            {"cga.job.id": job_id, "cga.job.attempt": job.attempts},
        ),
    ):
        outcome = await _write(ctx["settings"], ctx["sessionmaker"], writes, job)
        JOB_DURATION.labels(outcome=outcome).observe(time.perf_counter() - started)
        return outcome.value


def _memory_of(job: ClaimedJob) -> NewMemory:
    try:
        return NewMemory(
            content=job.content or "",
            metadata=job.metadata,
            idempotency_key=write_job_id(job.id),
        )
    except ValidationError as exc:
        raise UnstorableWrite(describe_validation_errors(exc.errors())) from None


async def _write(
    settings: WorkerSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    writes: WriteBatches,
    job: ClaimedJob,
) -> JobOutcome:
    try:
        await writes.store(job.id, job.owner, _memory_of(job))
    except AppError as exc:
        reason = f"{exc.error}: {exc.detail}"
        async with session_scope(sessionmaker) as session:
            jobs = MemoryJobRepository(session)
            if _retryable(exc) and job.attempts < settings.max_attempts:
                await jobs.retry_later(job.id, reason)
            else:
                await jobs.fail(job.id, reason, datetime.now(UTC))
                JOBS.labels(outcome=JobOutcome.FAILED).inc()
                logger.warning("worker.write.failed", attempts=job.attempts, reason=reason)
                return JobOutcome.FAILED
        JOBS.labels(outcome=JobOutcome.RETRIED).inc()
        delay = backoff(settings, job.attempts)
        logger.info(
            "worker.write.retrying", attempts=job.attempts, delay_s=round(delay, 2), reason=reason
        )
        raise Retry(defer=delay) from None
    JOBS.labels(outcome=JobOutcome.SUCCEEDED).inc()
    logger.info("worker.write.succeeded", attempts=job.attempts)
    return JobOutcome.SUCCEEDED


@traced
async def sweep(ctx: dict[str, Any]) -> dict[str, int]:
    """Enqueue again what Redis lost or a dead worker left running, and delete expired
    credentials."""
    settings: WorkerSettings = ctx["settings"]
    sessionmaker: async_sessionmaker[AsyncSession] = ctx["sessionmaker"]
    now = datetime.now(UTC)
    running_limit = settings.job_timeout + timedelta(seconds=10)
    async with session_scope(sessionmaker) as session:
        jobs = MemoryJobRepository(session)
        stale = await jobs.stale(now - settings.requeue_after, now - running_limit, SWEEP_BATCH)
        if stale:
            await jobs.requeue(stale, reset_attempts=False)
        codes, tokens = await purge_expired_credentials(session, now - settings.credentials_grace)
    enqueued = 0
    for job_id in stale:
        enqueued += await enqueue_write(ctx["redis"], job_id)
    JOBS_REQUEUED.inc(enqueued)
    if stale or codes or tokens:
        logger.info(
            "worker.sweep.completed",
            stale=len(stale),
            enqueued=enqueued,
            expired_codes=codes,
            expired_refresh_tokens=tokens,
        )
    return {"stale": len(stale), "enqueued": enqueued, "codes": codes, "refresh_tokens": tokens}


@traced
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


def functions() -> list[Function]:
    return [func(write_memory, name=WRITE_MEMORY, max_tries=ARQ_MAX_TRIES)]


def cron_jobs(settings: WorkerSettings) -> list[CronJob]:
    every = settings.sweep_every_seconds
    return [
        cron(sweep, second=set(range(0, 60, every)), run_at_startup=True, unique=True),
        cron(purge_expired_audit_events, hour={3}, minute={17}),
    ]
