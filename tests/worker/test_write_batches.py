"""Batched writes: the worker's job function run by many concurrent job runs, in-process, against
the real outbox and a real memory-proxy process — one batch for jobs in flight together, and
every job with its own outcome: a job that fails never takes its neighbours with it."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from arq import Retry
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.db import create_sessionmaker, session_scope
from cga_core.jobs import MemoryJobRepository
from cga_core.memories import MAX_CONTENT_LENGTH
from cga_core.memory_proxy_client import MemoryProxyClient
from cga_core.models import JobStatus, MemoryJob, StoredMemory
from cga_core.queue import write_job_id
from cga_devstack._process import free_port
from cga_worker.settings import WorkerSettings
from cga_worker.tasks import write_memory
from cga_worker.writes import WriteBatches
from tests.memory_proxy.mem0_simulator import Mem0Simulator, Mode, running_simulator
from tests.support.env import TestStack
from tests.support.processes import ServiceProcess, start_service
from tests.support.writes import metric_value

pytestmark = pytest.mark.e2e

MEM0_API_KEY = "m0-write-batches-key"
MAX_ATTEMPTS = 3


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("write-batches-logs")


def _memory_proxy(
    environment: dict[str, str], log_dir: Path, name: str
) -> Iterator[ServiceProcess]:
    proxy = start_service("memory-proxy", environment, log_dir, name=name)
    try:
        proxy.wait_until_live()
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def local_proxy(stack: TestStack, log_dir: Path) -> Iterator[ServiceProcess]:
    yield from _memory_proxy(stack.environment(), log_dir, "memory-proxy-local")


@pytest.fixture(scope="module")
def simulator() -> Iterator[Mem0Simulator]:
    with running_simulator(MEM0_API_KEY) as simulator:
        yield simulator


@pytest.fixture(scope="module")
def mem0_proxy(
    stack: TestStack, simulator: Mem0Simulator, log_dir: Path
) -> Iterator[ServiceProcess]:
    environment = {
        **stack.environment(),
        **simulator.backend_environment(),
        "CGA_MEMORY_PROXY_RETRY_ATTEMPTS": "1",
    }
    yield from _memory_proxy(environment, log_dir, "memory-proxy-mem0")


def _worker_context(stack: TestStack, engine: AsyncEngine, proxy_url: str) -> dict[str, Any]:
    """What the worker process hands its jobs, pointed at ``proxy_url``."""
    settings = WorkerSettings(
        env="test",
        database_url=stack.database_url,
        redis_url=stack.redis.url(),
        memory_proxy_url=proxy_url,
        max_attempts=MAX_ATTEMPTS,
        retry_backoff=timedelta(milliseconds=100),
    )
    sessionmaker = create_sessionmaker(engine)
    proxy = MemoryProxyClient(
        proxy_url, settings.internal_token.get_secret_value(), timeout=10, pool_size=4
    )
    writes = WriteBatches(sessionmaker, proxy, max_size=50, mark_within=5)
    return {"settings": settings, "sessionmaker": sessionmaker, "writes": writes}


async def _close(ctx: dict[str, Any]) -> None:
    await ctx["writes"].close()
    await ctx["writes"].proxy.close()


@pytest.fixture
async def local_ctx(
    stack: TestStack, engine: AsyncEngine, local_proxy: ServiceProcess
) -> AsyncIterator[dict[str, Any]]:
    ctx = _worker_context(stack, engine, local_proxy.base_url)
    yield ctx
    await _close(ctx)


@pytest.fixture
def owner() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


async def _accept(engine: AsyncEngine, owner: str, contents: list[str]) -> list[uuid.UUID]:
    """Writes accepted into the outbox as the gateway accepts them."""
    async with session_scope(create_sessionmaker(engine)) as session:
        jobs = MemoryJobRepository(session)
        accepted = [
            await jobs.accept(
                owner=owner,
                client_id="cga_app_test",
                content=content,
                metadata={"n": n},
                idempotency_key=None,
                duplicate_window=timedelta(0),
                request_id=uuid.uuid4().hex,
                traceparent=None,
            )
            for n, content in enumerate(contents)
        ]
    return [job.id for job, _ in accepted]


async def _run(ctx: dict[str, Any], job_ids: list[uuid.UUID]) -> list[str | BaseException]:
    """Run the jobs at once, as ARQ runs the jobs it has started."""
    runs = (write_memory(ctx, str(job_id)) for job_id in job_ids)
    return list(await asyncio.gather(*runs, return_exceptions=True))


async def _jobs(engine: AsyncEngine, job_ids: list[uuid.UUID]) -> list[MemoryJob]:
    query = select(MemoryJob).where(MemoryJob.id.in_(job_ids))
    async with session_scope(create_sessionmaker(engine)) as session:
        rows = {job.id: job for job in (await session.execute(query)).scalars()}
    return [rows[job_id] for job_id in job_ids]


async def _stored(engine: AsyncEngine, job_id: uuid.UUID) -> list[str]:
    """The contents stored under this job's idempotency key (one, or none)."""
    query = select(StoredMemory.content).where(StoredMemory.idempotency_key == write_job_id(job_id))
    async with engine.connect() as connection:
        return list((await connection.execute(query)).scalars())


async def _batch_calls(proxy: ServiceProcess) -> float:
    calls = await metric_value(
        proxy, "cga_memory_bank_requests_total", operation="create_batch", outcome="success"
    )
    return calls or 0.0


async def test_jobs_in_flight_together_are_one_batch_and_one_memory_each(
    engine: AsyncEngine, local_ctx: dict[str, Any], local_proxy: ServiceProcess, owner: str
) -> None:
    contents = [f"Fact {n} about {owner}" for n in range(20)]
    job_ids = await _accept(engine, owner, contents)
    calls_before = await _batch_calls(local_proxy)

    outcomes = await _run(local_ctx, job_ids)

    assert outcomes == ["succeeded"] * 20
    assert await _batch_calls(local_proxy) == calls_before + 1
    for job_id, content, job in zip(job_ids, contents, await _jobs(engine, job_ids), strict=True):
        assert (job.status, job.attempts, job.content) == (JobStatus.SUCCEEDED, 1, None)
        assert job.memory_id
        assert await _stored(engine, job_id) == [content]


async def test_a_job_that_is_no_valid_memory_fails_alone(
    engine: AsyncEngine, local_ctx: dict[str, Any], owner: str
) -> None:
    job_ids = await _accept(engine, owner, ["before", "too long, once", "after"])
    # Accepted when the limit was larger: the outbox holds what it was given.
    async with engine.begin() as connection:
        await connection.execute(
            update(MemoryJob)
            .where(MemoryJob.id == job_ids[1])
            .values(content="x" * (MAX_CONTENT_LENGTH + 1))
        )

    outcomes = await _run(local_ctx, job_ids)

    assert outcomes == ["succeeded", "failed", "succeeded"]
    failed = (await _jobs(engine, job_ids))[1]
    assert failed.status == JobStatus.FAILED
    assert failed.last_error is not None
    assert failed.last_error.startswith("invalid_memory: content")
    assert await _stored(engine, job_ids[1]) == []
    assert await _stored(engine, job_ids[0]) == ["before"]
    assert await _stored(engine, job_ids[2]) == ["after"]


async def test_a_job_run_twice_at_once_is_claimed_and_written_once(
    engine: AsyncEngine, local_ctx: dict[str, Any], owner: str
) -> None:
    [job_id] = await _accept(engine, owner, ["Ada takes her tea with lemon"])

    outcomes = await _run(local_ctx, [job_id, job_id])

    assert sorted(str(outcome) for outcome in outcomes) == ["skipped", "succeeded"]
    [job] = await _jobs(engine, [job_id])
    assert job.attempts == 1
    assert await _stored(engine, job_id) == ["Ada takes her tea with lemon"]


async def test_a_finished_job_run_again_is_skipped(
    engine: AsyncEngine, local_ctx: dict[str, Any], owner: str
) -> None:
    [job_id] = await _accept(engine, owner, ["Ada keeps bees"])
    assert await _run(local_ctx, [job_id]) == ["succeeded"]

    assert await _run(local_ctx, [job_id]) == ["skipped"]
    assert await _stored(engine, job_id) == ["Ada keeps bees"]


async def test_an_unreachable_memory_proxy_sends_each_job_of_the_batch_to_a_retry(
    stack: TestStack, engine: AsyncEngine, owner: str
) -> None:
    job_ids = await _accept(engine, owner, ["one", "two", "three"])
    ctx = _worker_context(stack, engine, f"http://127.0.0.1:{free_port()}")
    try:
        outcomes = await _run(ctx, job_ids)
    finally:
        await _close(ctx)

    assert all(isinstance(outcome, Retry) for outcome in outcomes), outcomes
    for job in await _jobs(engine, job_ids):
        assert (job.status, job.attempts) == (JobStatus.QUEUED, 1)
        assert job.last_error is not None
        assert job.last_error.startswith("memory_bank_unavailable: ")


async def test_a_memory_bank_failure_of_one_item_retries_that_job_alone(
    stack: TestStack,
    engine: AsyncEngine,
    simulator: Mem0Simulator,
    mem0_proxy: ServiceProcess,
    owner: str,
) -> None:
    contents = [f"Fact {n} about {owner}" for n in range(5)]
    job_ids = await _accept(engine, owner, contents)
    ctx = _worker_context(stack, engine, mem0_proxy.base_url)
    simulator.fail(Mode.PROVIDER_ERROR, times=1)  # mem0 has no batch API: one add per item
    try:
        outcomes = await _run(ctx, job_ids)
    finally:
        await _close(ctx)

    retried = [
        job_id
        for job_id, outcome in zip(job_ids, outcomes, strict=True)
        if isinstance(outcome, Retry)
    ]
    assert len(retried) == 1, outcomes
    assert (
        sorted(str(outcome) for outcome in outcomes if not isinstance(outcome, Retry))
        == ["succeeded"] * 4
    )
    jobs = {job.id: job for job in await _jobs(engine, job_ids)}
    assert (jobs[retried[0]].status, jobs[retried[0]].attempts) == (JobStatus.QUEUED, 1)
    assert str(jobs[retried[0]].last_error).startswith("memory_bank_unavailable: ")
    stored = Counter(memory["memory"] for memory in list(simulator.memories.values()))
    for job_id, content in zip(job_ids, contents, strict=True):
        assert stored[content] == (0 if job_id in retried else 1)
