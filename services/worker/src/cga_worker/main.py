"""Entry point of ``cga-worker``: the ARQ worker, with ``/livez``, ``/readyz`` and ``/metrics``
served on a small HTTP port in the same process and event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import structlog
import uvloop
from arq.connections import RedisSettings
from fastapi import FastAPI
from opentelemetry.instrumentation.utils import suppress_instrumentation
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cga_core.app import create_service_app
from cga_core.db import create_engine, create_sessionmaker, session_scope
from cga_core.health import DependencyCheck
from cga_core.jobs import MemoryJobRepository
from cga_core.memory_proxy_client import MemoryProxyClient
from cga_core.queue import HEALTH_CHECK_KEY, QUEUE_NAME
from cga_core.redis_client import create_redis
from cga_core.server import ManagedServer, prepare, uvicorn_config
from cga_core.telemetry import install_tracing
from cga_worker.metrics import DEAD_LETTERS, QUEUE_DEPTH, QUEUE_OLDEST_AGE
from cga_worker.pickup import BatchPickupWorker
from cga_worker.settings import WorkerSettings
from cga_worker.tasks import cron_jobs, functions
from cga_worker.writes import WriteBatches, batch_size

logger = structlog.get_logger("cga.worker")
REDIS_RETRY_DELAY = 1.0


class HeartbeatMissing(Exception):
    """The ARQ loop has not recorded its health check in time."""


async def arq_heartbeat(redis: Redis) -> None:
    """Live while ARQ records its health check. Unreachable Redis is no reason to restart the
    worker (it would not help), so only a reachable Redis without a fresh record fails."""
    try:
        if not await redis.exists(HEALTH_CHECK_KEY):
            raise HeartbeatMissing
    except RedisError:
        return


def create_app(settings: WorkerSettings, redis: Redis) -> FastAPI:
    return create_service_app(
        service="worker",
        settings=settings,
        title="Custom GPT Adapter worker",
        liveness=[DependencyCheck("arq", lambda: arq_heartbeat(redis))],
    )


def create_worker(settings: WorkerSettings, ctx: dict[str, Any]) -> BatchPickupWorker:
    return BatchPickupWorker(
        functions=functions(),
        cron_jobs=cron_jobs(settings),
        redis_settings=RedisSettings.from_dsn(settings.redis_url.get_secret_value()),
        queue_name=QUEUE_NAME,
        health_check_key=HEALTH_CHECK_KEY,
        health_check_interval=settings.health_check_interval.total_seconds(),
        max_jobs=settings.max_jobs,
        poll_delay=settings.poll_delay.total_seconds(),
        job_timeout=settings.job_timeout.total_seconds(),
        keep_result=0,
        handle_signals=False,
        ctx=ctx,
    )


async def _consume(worker: BatchPickupWorker) -> None:
    """Run ARQ's poll loop; when Redis goes away, wait and resume instead of exiting.

    Without client instrumentation: ARQ's own Redis commands, a dozen or so per job, would
    cost a quarter of its CPU in spans nobody records (they have no parent). The jobs it runs
    start from a context of their own (``cga_worker.tasks.outside_the_queue_loop``)."""
    with suppress_instrumentation():
        while True:
            try:
                await worker.main()
            # Any Redis error, not only connection errors: a connection lost inside ARQ's
            # WATCH/MULTI pick-up surfaces as a WatchError.
            except (RedisError, OSError) as exc:
                logger.warning("worker.redis.unavailable", reason=type(exc).__name__)
                await asyncio.sleep(REDIS_RETRY_DELAY)


async def _measure_backlog(sessionmaker: async_sessionmaker[AsyncSession], every: float) -> None:
    """Queue depth and age from the outbox — it also counts writes Redis has lost."""
    while True:
        try:
            async with session_scope(sessionmaker) as session:
                depth, age, failed = await MemoryJobRepository(session).backlog()
            QUEUE_DEPTH.set(depth)
            QUEUE_OLDEST_AGE.set(age)
            DEAD_LETTERS.set(failed)
        except Exception as exc:
            logger.warning("worker.backlog.unavailable", reason=type(exc).__name__)
        await asyncio.sleep(every)


async def _drain(worker: BatchPickupWorker, grace: float) -> None:
    """Stop taking jobs and give running ones the grace period; ARQ re-runs any cut off."""
    worker.allow_pick_jobs = False
    running = [task for task in worker.tasks.values() if not task.done()]
    if running:
        await asyncio.wait(running, timeout=grace)
    try:
        await worker.close()
    except (RedisError, OSError) as exc:  # Redis away: nothing of ours is lost, the outbox has it
        logger.warning("worker.shutdown.redis_unavailable", reason=type(exc).__name__)


async def serve(settings: WorkerSettings) -> None:
    # Before any client is made: aiohttp sessions are traced from their creation.
    install_tracing(settings, "worker")
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    proxy = MemoryProxyClient(
        str(settings.memory_proxy_url),
        settings.internal_token.get_secret_value(),
        timeout=settings.memory_proxy_timeout.total_seconds(),
        pool_size=settings.max_jobs,
    )
    writes = WriteBatches(
        sessionmaker,
        proxy,
        max_size=batch_size(settings.max_jobs),
        # Within the job's time, so the sweeper never runs a job whose mark is being retried.
        mark_within=settings.job_timeout.total_seconds() * 2 / 3,
    )
    ctx: dict[str, Any] = {"settings": settings, "sessionmaker": sessionmaker, "writes": writes}
    worker = create_worker(settings, ctx)
    probe_redis = create_redis(settings)
    server = ManagedServer(
        uvicorn_config(create_app(settings, probe_redis), settings), handle_signals=False
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    http = asyncio.create_task(server.serve(), name="http")
    consumer = asyncio.create_task(_consume(worker), name="arq")
    backlog = asyncio.create_task(
        _measure_backlog(sessionmaker, settings.metrics_interval.total_seconds()), name="backlog"
    )
    stopping = asyncio.create_task(stop.wait(), name="signal")
    await asyncio.wait({http, consumer, stopping}, return_when=asyncio.FIRST_COMPLETED)
    crashed = consumer.done() and consumer.exception() is not None
    if crashed:
        # Say why the worker stops taking jobs; the exit status tells the orchestrator.
        logger.error("worker.consumer.crashed", reason=type(consumer.exception()).__name__)
    logger.info("worker.shutdown.started")
    consumer.cancel()
    backlog.cancel()
    await _drain(worker, settings.shutdown_grace.total_seconds())
    server.should_exit = True
    await http
    stopping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await backlog
    await writes.close()
    await proxy.close()
    await probe_redis.aclose()
    await engine.dispose()
    logger.info("worker.shutdown.completed")
    if crashed:
        raise SystemExit(1)


def main() -> None:
    settings = prepare(WorkerSettings, "worker")
    # ARQ logs every job's start and end; worker.write.* says the same once, with the request
    # id, and at a thousand jobs a second the two lines more would cost as much as the job.
    logging.getLogger("arq.worker").setLevel(logging.WARNING)
    # uvloop, as the HTTP services run on: ARQ's loop is round trips to Redis, one after another.
    uvloop.run(serve(settings))
