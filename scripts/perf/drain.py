"""How fast one worker drains a backlog of accepted writes into the ``local`` Memory Bank.

    python -m scripts.perf.drain [--jobs 2000] [--log-dir DIR]

With no worker running, ``--jobs`` writes are accepted into the outbox (the gateway's own
repository call, spread over many owners, each with a request id and a traceparent) and
enqueued; then memory-proxy and one worker start as real processes on a private PostgreSQL and
Redis. The drain rate is the jobs divided by the time from the first job's ``started_at`` to
the last one's ``finished_at``; every job must have succeeded, each with exactly one memory.

The CPU time each process spends per job — the worker, memory-proxy, PostgreSQL, Redis — is
measured too (from /proc, between the first and the last finished job): on a shared machine it
is the steadier figure, and its total bounds the rate an idle machine can reach.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cga_core.db import create_sessionmaker, session_scope
from cga_core.jobs import MemoryJobRepository
from cga_core.models import JobStatus, MemoryJob, StoredMemory
from cga_core.queue import enqueue_write
from scripts.bench.cpu import tree_cpu_seconds
from scripts.load.stack import private_servers, server_pids
from tests.support.env import TestStack
from tests.support.processes import ServiceProcess, start_service
from tests.support.writes import worker_environment

OWNERS = 50
ACCEPT_BATCH = 100
ENQUEUE_CONCURRENCY = 50
SAMPLE_INTERVAL = 0.05
DRAIN_TIMEOUT = 300.0


async def accept_backlog(engine: AsyncEngine, jobs: int) -> list[uuid.UUID]:
    """``jobs`` writes accepted into the outbox, as the gateway accepts them."""
    sessionmaker = create_sessionmaker(engine)
    run = uuid.uuid4().hex[:8]
    job_ids: list[uuid.UUID] = []
    for start in range(0, jobs, ACCEPT_BATCH):
        async with session_scope(sessionmaker) as session:
            repository = MemoryJobRepository(session)
            for n in range(start, min(start + ACCEPT_BATCH, jobs)):
                job, _ = await repository.accept(
                    owner=f"drain-{run}-{n % OWNERS}",
                    client_id="cga_app_drain",
                    content=f"Benchmark fact {n} of run {run}: the user likes green tea",
                    metadata={"source": "drain"},
                    idempotency_key=None,
                    duplicate_window=timedelta(0),
                    request_id=uuid.uuid4().hex,
                    traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00",
                )
                job_ids.append(job.id)
    return job_ids


async def enqueue_backlog(redis_url: str, job_ids: list[uuid.UUID]) -> None:
    redis = Redis.from_url(redis_url)
    slots = asyncio.Semaphore(ENQUEUE_CONCURRENCY)

    async def enqueue(job_id: uuid.UUID) -> None:
        async with slots:
            await enqueue_write(redis, job_id)

    try:
        await asyncio.gather(*(enqueue(job_id) for job_id in job_ids))
    finally:
        await redis.aclose()


@dataclass(frozen=True)
class Sample:
    finished: int
    cpu: dict[str, float]


async def finished_jobs(engine: AsyncEngine) -> int:
    query = select(func.count()).where(
        MemoryJob.status.in_([JobStatus.SUCCEEDED, JobStatus.FAILED])
    )
    async with engine.connect() as connection:
        return int((await connection.scalar(query)) or 0)


async def watch_drain(
    engine: AsyncEngine, jobs: int, pids: dict[str, int], services: list[ServiceProcess]
) -> tuple[Sample, Sample]:
    """The last sample before the first job finished (the worker has started by then) and
    the sample that saw the last one finish."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    before: Sample | None = None
    while True:
        for service in services:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited; see {service.log_path}")
        cpu = tree_cpu_seconds(pids)
        sample = Sample(await finished_jobs(engine), cpu)
        if sample.finished == 0:
            before = sample
        elif before is None:
            raise RuntimeError("a job finished before the worker was watched")
        if sample.finished >= jobs:
            return before, sample
        if time.monotonic() > deadline:
            raise RuntimeError(f"{sample.finished} of {jobs} jobs finished in {DRAIN_TIMEOUT}s")
        await asyncio.sleep(SAMPLE_INTERVAL)


async def outcome(engine: AsyncEngine, job_ids: list[uuid.UUID]) -> dict[str, Any]:
    # From the first claim, not the first finish: one batch's jobs all finish at one instant.
    window = select(
        func.min(MemoryJob.started_at),
        func.max(MemoryJob.finished_at),
        func.count().filter(MemoryJob.status == JobStatus.SUCCEEDED),
    ).where(MemoryJob.id.in_(job_ids))
    memories = select(func.count(), func.count(func.distinct(StoredMemory.idempotency_key)))
    async with engine.connect() as connection:
        first, last, succeeded = (await connection.execute(window)).one()
        stored, distinct_keys = (await connection.execute(memories)).one()
    if first is None or last is None:
        raise RuntimeError("no job finished")
    return {
        "seconds": (last - first).total_seconds(),
        "succeeded": int(succeeded),
        "memories": int(stored),
        "distinct_keys": int(distinct_keys),
    }


async def _measure(jobs: int, log_dir: Path, servers: TestStack) -> dict[str, Any]:
    environment = servers.environment()
    engine = create_async_engine(environment["CGA_DATABASE_URL"])
    services: list[ServiceProcess] = []
    try:
        job_ids = await accept_backlog(engine, jobs)
        await enqueue_backlog(environment["CGA_REDIS_URL"], job_ids)
        proxy = start_service("memory-proxy", environment, log_dir, name="drain-memory-proxy")
        services.append(proxy)
        await asyncio.to_thread(proxy.wait_until_live)
        worker_env = worker_environment(environment, proxy.base_url)
        services.append(start_service("worker", worker_env, log_dir, name="drain-worker"))
        pids = {service.name: service.process.pid for service in services}
        first, last = await watch_drain(engine, jobs, {**pids, **server_pids(servers)}, services)
        result = await outcome(engine, job_ids)
    finally:
        for service in services:
            service.stop()
        await engine.dispose()
    if not result["succeeded"] == result["memories"] == result["distinct_keys"] == jobs:
        raise RuntimeError(f"the drain lost or duplicated writes: {result}")
    measured = last.finished - first.finished
    cpu_ms = {
        name: round(1000 * (last.cpu[name] - first.cpu[name]) / measured, 3) for name in last.cpu
    }
    return {
        "jobs": jobs,
        "seconds": round(result["seconds"], 6),
        "jobs_per_second": round(jobs / result["seconds"], 1),
        "cpu_ms_per_job": {**cpu_ms, "total": round(sum(cpu_ms.values()), 3)},
    }


def measure_drain(jobs: int, log_dir: Path) -> dict[str, Any]:
    """Drain ``jobs`` accepted writes with one worker on a private stack; ``{"jobs",
    "seconds", "jobs_per_second", "cpu_ms_per_job": {"worker", "memory-proxy", "postgresql",
    "redis", "total"}}``. The services' logs go to ``log_dir``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with private_servers() as servers:
        return asyncio.run(_measure(jobs, log_dir, servers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drain", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="accepted writes to drain")
    parser.add_argument("--log-dir", type=Path, help="where the services' logs go")
    args = parser.parse_args(argv)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="cga-drain-logs-"))
    result = measure_drain(args.jobs, log_dir)
    print(json.dumps(result))  # noqa: T201
    print(  # noqa: T201
        f"{result['jobs_per_second']:.0f} jobs/s ({result['jobs']} jobs in "
        f"{result['seconds']:.2f}s); logs in {log_dir}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
