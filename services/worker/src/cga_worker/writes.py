"""The two steps of a memory write, each batched across the job runs in flight
(docs/decisions/0011): claiming the job in the outbox, then storing the memory through
memory-proxy and marking the job succeeded. Failures stay per job: every run gets its own
job, or its own memory or error, and decides alone about retrying."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cga_core.db import session_scope
from cga_core.errors import database_outage
from cga_core.jobs import ClaimedJob, MemoryJobRepository
from cga_core.memories import MAX_BATCH_ITEMS, Memory, NewMemory
from cga_core.memory_proxy_client import MemoryProxyClient
from cga_core.queue import WRITE_MEMORY
from cga_core.telemetry import job_span
from cga_worker.batcher import MicroBatcher

WRITE_BATCH_SPAN = WRITE_MEMORY + ".batch"
# How long a batch of claims stays open for more jobs, which ARQ starts one after another. A
# batch costs a transaction or an HTTP call of about the same time whatever its size: 50 ms is
# nothing to a write nobody waits for, and near a thousand jobs a second a batch fills before
# it has lingered that long (measured: 20 ms made smaller batches and a slower drain). The jobs
# of a claim batch go on to the write together, so writes need no wait.
CLAIM_LINGER_SECONDS = 0.05
MARK_RETRY_MAX_DELAY_SECONDS = 2.0
logger = structlog.get_logger("cga.worker")


@dataclass(frozen=True)
class PendingWrite:
    job_id: uuid.UUID
    owner: str
    memory: NewMemory
    span: SpanContext  # of the job run, linked from the batch's span


def batch_size(max_jobs: int) -> int:
    """Half the jobs a worker runs at once: while one batch is written, the next one fills."""
    return max(1, min(max_jobs // 2, MAX_BATCH_ITEMS))


class WriteBatches:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        proxy: MemoryProxyClient,
        *,
        max_size: int,
        mark_within: float,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.proxy = proxy
        self.mark_within = mark_within
        self._claims = MicroBatcher[uuid.UUID, ClaimedJob | None](
            self._claim, max_size=max_size, linger=CLAIM_LINGER_SECONDS
        )
        self._writes = MicroBatcher[PendingWrite, Memory](self._store, max_size=max_size, linger=0)

    async def claim(self, job_id: uuid.UUID) -> ClaimedJob | None:
        """The job, marked running with one more attempt; None when it is finished or taken
        by another run."""
        return await self._claims.submit(job_id)

    async def store(self, job_id: uuid.UUID, owner: str, memory: NewMemory) -> Memory:
        """Store the job's memory and mark the job succeeded; raises the error this write met
        (an ``AppError`` when memory-proxy refused or failed it)."""
        span = trace.get_current_span().get_span_context()
        return await self._writes.submit(PendingWrite(job_id, owner, memory, span))

    async def close(self) -> None:
        await self._claims.close()
        await self._writes.close()

    async def _claim(self, job_ids: Sequence[uuid.UUID]) -> list[ClaimedJob | None]:
        async with session_scope(self.sessionmaker) as session:
            claimed = await MemoryJobRepository(session).claim_many(job_ids, datetime.now(UTC))
        by_id = {job.id: job for job in claimed}
        # A job submitted twice (ARQ ran it twice) is claimed by its first run only.
        return [by_id.pop(job_id, None) for job_id in job_ids]

    async def _store(self, writes: Sequence[PendingWrite]) -> Sequence[Memory | Exception]:
        # A child of one job's span (a recorded one if any is), linking the others: a batch of
        # one is part of its job's trace, and a recorded write shows its memory-proxy call.
        parent = next((write.span for write in writes if write.span.trace_flags.sampled), None)
        parent = parent or writes[0].span
        links = [Link(write.span) for write in writes if write.span is not parent]
        with job_span(
            WRITE_BATCH_SPAN,
            trace.set_span_in_context(trace.NonRecordingSpan(parent)),
            attributes={"cga.batch.size": len(writes)},
            links=links,
        ):
            outcomes = await self.proxy.create_batch(
                [(write.owner, write.memory) for write in writes]
            )
            stored = [
                (write.job_id, outcome.id)
                for write, outcome in zip(writes, outcomes, strict=True)
                if isinstance(outcome, Memory)
            ]
            if stored:
                await self._mark_succeeded(stored)
        return outcomes

    async def _mark_succeeded(self, stored: Sequence[tuple[uuid.UUID, str]]) -> None:
        """The memories are stored: while the database is away (a restart), keep trying to
        record that within the job's time. A job left running would be run again by the
        sweeper, and a Memory Bank without idempotency keys would store its memory twice."""
        deadline = time.monotonic() + self.mark_within
        delay = 0.1
        while True:
            try:
                async with session_scope(self.sessionmaker) as session:
                    await MemoryJobRepository(session).succeed_many(stored, datetime.now(UTC))
            except Exception as exc:
                if not database_outage(exc) or time.monotonic() + delay > deadline:
                    raise
                logger.warning("worker.mark.retrying", jobs=len(stored), reason=type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MARK_RETRY_MAX_DELAY_SECONDS)
            else:
                return
