"""The outbox's rules, against the real PostgreSQL: one job per idempotency key and per
identical content in the window, claims that skip finished jobs, and what the sweeper sees."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.db import create_sessionmaker, session_scope
from cga_core.jobs import MemoryJobRepository
from cga_core.models import JobStatus
from cga_worker.settings import WorkerSettings
from cga_worker.tasks import backoff

WINDOW = timedelta(seconds=30)


async def _accept(
    engine: AsyncEngine,
    owner: str,
    content: str,
    key: str | None = None,
    window: timedelta = WINDOW,
) -> tuple[uuid.UUID, bool]:
    async with session_scope(create_sessionmaker(engine)) as session:
        job, created = await MemoryJobRepository(session).accept(
            owner=owner,
            client_id="cga_app_test",
            content=content,
            metadata={},
            idempotency_key=key,
            duplicate_window=window,
            request_id=None,
            traceparent=None,
        )
        return job.id, created


@pytest.fixture
def owner() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


async def test_a_repeated_idempotency_key_returns_the_first_job(
    engine: AsyncEngine, owner: str
) -> None:
    first = await _accept(engine, owner, "one", key="k-1")
    second = await _accept(engine, owner, "something else", key="k-1")

    assert first[1] is True
    assert second == (first[0], False)


async def test_identical_content_within_the_window_is_one_job(
    engine: AsyncEngine, owner: str
) -> None:
    first = await _accept(engine, owner, "same words")
    second = await _accept(engine, owner, "same words")
    other_owner = await _accept(engine, owner + "-b", "same words")

    assert second == (first[0], False)
    assert other_owner[1] is True


async def test_identical_content_without_a_window_is_a_new_job(
    engine: AsyncEngine, owner: str
) -> None:
    first = await _accept(engine, owner, "again", window=timedelta(0))
    second = await _accept(engine, owner, "again", window=timedelta(0))

    assert first[0] != second[0]


async def test_a_finished_job_is_not_claimed_again(engine: AsyncEngine, owner: str) -> None:
    job_id, _ = await _accept(engine, owner, "claim me")
    sessionmaker = create_sessionmaker(engine)
    now = datetime.now(UTC)

    async with session_scope(sessionmaker) as session:
        [claimed] = await MemoryJobRepository(session).claim_many([job_id], now)
        assert (claimed.id, claimed.content, claimed.attempts) == (job_id, "claim me", 1)
        await MemoryJobRepository(session).succeed_many([(job_id, "memory-1")], now)
    async with session_scope(sessionmaker) as session:
        again = await MemoryJobRepository(session).claim_many([job_id], now)
        finished = await MemoryJobRepository(session).get(job_id)

    assert again == []
    assert finished is not None
    assert finished.status == JobStatus.SUCCEEDED
    assert finished.content is None, "the outbox forgets content once it is stored"
    assert finished.memory_id == "memory-1"


async def test_one_claim_takes_the_unfinished_jobs_and_counts_their_attempts(
    engine: AsyncEngine, owner: str
) -> None:
    first, _ = await _accept(engine, owner, "first")
    second, _ = await _accept(engine, owner, "second")
    done, _ = await _accept(engine, owner, "done already")
    sessionmaker = create_sessionmaker(engine)
    now = datetime.now(UTC)
    async with session_scope(sessionmaker) as session:
        await MemoryJobRepository(session).claim_many([first, done], now)
        await MemoryJobRepository(session).succeed_many([(done, "memory-done")], now)

    async with session_scope(sessionmaker) as session:
        claimed = await MemoryJobRepository(session).claim_many(
            [first, second, done, uuid.uuid4()], now
        )
        running = await MemoryJobRepository(session).get(second)

    assert {job.id: job.attempts for job in claimed} == {first: 2, second: 1}
    assert running is not None
    assert (running.status, running.started_at) == (JobStatus.RUNNING, now)


async def test_many_jobs_are_marked_succeeded_each_with_its_memory(
    engine: AsyncEngine, owner: str
) -> None:
    jobs = [(await _accept(engine, owner, f"fact {n}"))[0] for n in range(3)]
    sessionmaker = create_sessionmaker(engine)
    now = datetime.now(UTC)

    async with session_scope(sessionmaker) as session:
        await MemoryJobRepository(session).claim_many(jobs, now)
        await MemoryJobRepository(session).succeed_many(
            [(job_id, f"memory-{n}") for n, job_id in enumerate(jobs)], now
        )
    async with session_scope(sessionmaker) as session:
        rows = [await MemoryJobRepository(session).get(job_id) for job_id in jobs]

    assert [(row.status, row.memory_id) for row in rows if row] == [
        (JobStatus.SUCCEEDED, f"memory-{n}") for n in range(3)
    ]
    assert all(row.finished_at == now and row.content is None for row in rows if row)


async def test_the_sweeper_sees_queued_and_abandoned_running_jobs(
    engine: AsyncEngine, owner: str
) -> None:
    queued, _ = await _accept(engine, owner, "lost by redis")
    running, _ = await _accept(engine, owner, "worker died")
    sessionmaker = create_sessionmaker(engine)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    async with session_scope(sessionmaker) as session:
        await MemoryJobRepository(session).claim_many([running], long_ago)

    future = datetime.now(UTC) + timedelta(seconds=5)
    async with session_scope(sessionmaker) as session:
        stale = await MemoryJobRepository(session).stale(future, future, 10_000)

    assert {queued, running} <= set(stale)


@pytest.mark.parametrize("attempts", [1, 2, 5, 20])
def test_backoff_doubles_is_capped_and_jittered(attempts: int) -> None:
    settings = WorkerSettings(
        retry_backoff=timedelta(seconds=1), retry_backoff_max=timedelta(seconds=10)
    )
    ceiling = min(2.0 ** (attempts - 1), 10.0)

    delays = [backoff(settings, attempts) for _ in range(200)]

    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(set(delays)) > 1
