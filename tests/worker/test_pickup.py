"""The worker's job pick-up (one script per poll instead of ARQ's four round trips per job),
against a real Redis: it starts what ARQ would start, leaves what ARQ would leave, and the jobs
it starts run from the payload the gateway's enqueue wrote."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq import func
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix

from cga_core.queue import QUEUE_NAME, WRITE_MEMORY, enqueue_write, write_job_id
from cga_worker.pickup import BatchPickupWorker
from tests.support.env import TestStack

MAX_JOBS = 2


@pytest.fixture
async def queue(stack: TestStack, module_redis_database: int) -> AsyncIterator[ArqRedis]:
    """On a Redis database of the module's own: the queue holds only its tests' jobs."""
    redis = ArqRedis.from_url(stack.redis.url(module_redis_database))
    await redis.flushdb()
    yield redis
    await redis.flushdb()
    await redis.aclose()


def _worker(queue: ArqRedis, ran: list[str], go: asyncio.Event) -> BatchPickupWorker:
    async def write_memory(ctx: dict[Any, Any], *args: Any, **kwargs: Any) -> None:
        await go.wait()  # held until the test has looked at the in-progress marks
        ran.append(args[0])

    return BatchPickupWorker(
        functions=[func(write_memory, name=WRITE_MEMORY)],
        redis_pool=queue,
        queue_name=QUEUE_NAME,
        max_jobs=MAX_JOBS,
        keep_result=0,
        handle_signals=False,
    )


async def _queued(queue: ArqRedis) -> list[str]:
    return [job_id.decode() for job_id in await queue.zrange(QUEUE_NAME, 0, -1)]


async def _in_progress(queue: ArqRedis, job_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return {
        job_id
        for job_id in job_ids
        if await queue.exists(in_progress_key_prefix + write_job_id(job_id))
    }


async def test_a_poll_starts_as_many_jobs_as_there_are_free_slots(queue: ArqRedis) -> None:
    jobs = [uuid.uuid4() for _ in range(2 * MAX_JOBS)]
    for job_id in jobs:
        assert await enqueue_write(queue, job_id)
    ran: list[str] = []
    go = asyncio.Event()
    worker = _worker(queue, ran, go)

    await worker.start_jobs([job_id.encode() for job_id in await _queued(queue)])

    assert len(worker.tasks) == MAX_JOBS
    assert worker.job_counter == MAX_JOBS
    started = {uuid.UUID(arq_id.removeprefix("memory-write:")) for arq_id in worker.tasks}
    assert await _in_progress(queue, jobs) == started
    go.set()
    await asyncio.gather(*worker.tasks.values())
    assert sorted(ran) == sorted(str(job_id) for job_id in started)
    assert worker.job_counter == 0
    # The rest wait in the queue for the next poll.
    assert len(await _queued(queue)) == len(jobs) - MAX_JOBS


async def test_jobs_running_elsewhere_finished_or_deferred_are_left_and_their_slots_returned(
    queue: ArqRedis,
) -> None:
    elsewhere, deferred, due = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for job_id in (elsewhere, deferred, due):
        assert await enqueue_write(queue, job_id)
    await queue.psetex(in_progress_key_prefix + write_job_id(elsewhere), 60_000, b"1")
    later = (await queue.zscore(QUEUE_NAME, write_job_id(deferred)) or 0) + 3_600_000
    await queue.zadd(QUEUE_NAME, {write_job_id(deferred): later})
    finished = write_job_id(uuid.uuid4())  # polled, then removed from the queue by its worker
    ran: list[str] = []
    go = asyncio.Event()
    go.set()
    worker = _worker(queue, ran, go)

    await worker.start_jobs(
        [arq_id.encode() for arq_id in (write_job_id(elsewhere), finished, write_job_id(deferred))]
    )
    assert worker.tasks == {}
    assert worker.job_counter == 0

    await worker.start_jobs([write_job_id(due).encode()])
    await asyncio.gather(*worker.tasks.values())
    assert ran == [str(due)]
    assert await _in_progress(queue, [deferred]) == set()
    assert worker.job_counter == 0
