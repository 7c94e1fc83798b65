"""Durable writes seen from the outside: many writes posted through the gateway at once, the
worker run (and killed) as a process, and what the outbox, the local Memory Bank and the
worker's /metrics then hold."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from cga_core.models import JobStatus, MemoryJob, StoredMemory
from tests.support.actions import GptUser
from tests.support.processes import ServiceProcess, start_service

WRITES = "/api/v1/memories"
PARALLEL_WRITES = 16
# memory-proxy stores a subject's memories under this prefix (its ``backend_user``).
BACKEND_USER_PREFIX = "cga-"


def backend_user(user: GptUser) -> str:
    return BACKEND_USER_PREFIX + user.sub


async def post_writes(
    gateway_url: str,
    user: GptUser,
    contents: Sequence[str],
    *,
    parallel: int = PARALLEL_WRITES,
) -> list[uuid.UUID]:
    """POST every content as its own write, ``parallel`` at a time; the job ids, in order.
    Every write must be accepted (202)."""
    slots = asyncio.Semaphore(parallel)
    async with httpx.AsyncClient(
        base_url=gateway_url,
        headers=user.headers,
        timeout=30,
        limits=httpx.Limits(max_connections=parallel),
    ) as client:

        async def post(content: str) -> uuid.UUID:
            async with slots:
                response = await client.post(WRITES, json={"content": content})
            assert response.status_code == 202, response.text
            return uuid.UUID(response.json()["job_id"])

        return list(await asyncio.gather(*(post(content) for content in contents)))


async def eventually(
    description: str,
    check: Callable[[], Awaitable[bool]],
    *,
    within: float,
    interval: float = 0.05,
) -> None:
    """Await ``check()`` until it is true, for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f}s waiting for {description}")
        await asyncio.sleep(interval)


async def _statuses(engine: AsyncEngine, which: ColumnElement[bool]) -> Counter[str]:
    query = select(MemoryJob.status, func.count()).where(which).group_by(MemoryJob.status)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return Counter({str(status): int(count) for status, count in rows})


async def job_statuses(engine: AsyncEngine, job_ids: Sequence[uuid.UUID]) -> Counter[str]:
    """How many of these jobs are in each status."""
    return await _statuses(engine, MemoryJob.id.in_(job_ids))


async def owner_statuses(engine: AsyncEngine, user: GptUser) -> Counter[str]:
    """How many of the user's jobs are in each status (for writes still being posted)."""
    return await _statuses(engine, MemoryJob.owner == user.sub)


async def wait_until_finished(
    engine: AsyncEngine, job_ids: Sequence[uuid.UUID], *, within: float
) -> Counter[str]:
    """Wait until none of these jobs is queued or running; their final statuses."""
    statuses: Counter[str] = Counter()

    async def finished() -> bool:
        nonlocal statuses
        statuses = await job_statuses(engine, job_ids)
        return statuses[JobStatus.QUEUED] + statuses[JobStatus.RUNNING] == 0

    try:
        await eventually(f"{len(job_ids)} writes to finish", finished, within=within)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; statuses now {dict(statuses)}") from None
    return statuses


async def all_older_than(engine: AsyncEngine, job_ids: Sequence[uuid.UUID], seconds: float) -> bool:
    """True when every one of these jobs was last touched more than ``seconds`` ago."""
    query = select(func.min(func.extract("epoch", func.now() - MemoryJob.updated_at))).where(
        MemoryJob.id.in_(job_ids)
    )
    async with engine.connect() as connection:
        youngest = (await connection.execute(query)).scalar_one()
    return youngest is not None and float(youngest) > seconds


async def stored_contents(engine: AsyncEngine, user: GptUser) -> list[str]:
    """The contents of the user's memories in the local Memory Bank, one per stored memory."""
    query = select(StoredMemory.content).where(StoredMemory.owner == backend_user(user))
    async with engine.connect() as connection:
        return list((await connection.execute(query)).scalars())


def worker_environment(
    base: dict[str, str], memory_proxy_url: str, **settings: str
) -> dict[str, str]:
    """The worker's environment: ``base``, memory-proxy's URL and ``CGA_WORKER_<NAME>`` settings."""
    worker = {f"CGA_WORKER_{name.upper()}": value for name, value in settings.items()}
    return {**base, "CGA_WORKER_MEMORY_PROXY_URL": memory_proxy_url, **worker}


def start_worker(environment: dict[str, str], log_dir: Path, name: str) -> ServiceProcess:
    """A live worker process (its ARQ loop has recorded its health check)."""
    worker = start_service("worker", environment, log_dir, name=name)
    try:
        worker.wait_until_live()
    except BaseException:
        worker.stop()
        raise
    return worker


async def metric_value(service: ServiceProcess, sample_name: str, **labels: str) -> float | None:
    """One sample of the service's /metrics, summed over the series matching ``labels``;
    None when no series matches."""
    async with httpx.AsyncClient(base_url=service.base_url, timeout=5) as client:
        exposition = (await client.get("/metrics")).text
    found: list[float] = [
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == sample_name
        and all(sample.labels.get(key) == value for key, value in labels.items())
    ]
    return sum(found) if found else None


async def failed_jobs(engine: AsyncEngine) -> int:
    """Dead letters in the whole outbox."""
    query = select(func.count()).where(MemoryJob.status == JobStatus.FAILED)
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())
