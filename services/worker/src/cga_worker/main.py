"""Entry point of ``cga-worker``: the ARQ worker, with ``/livez``, ``/readyz`` and ``/metrics``
served on a small HTTP port in the same process and event loop."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import structlog
from arq import Worker
from arq.connections import RedisSettings
from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cga_core.app import create_service_app
from cga_core.db import create_engine, create_sessionmaker
from cga_core.server import ManagedServer, prepare, uvicorn_config
from cga_worker.settings import WorkerSettings
from cga_worker.tasks import CRON_JOBS

logger = structlog.get_logger("cga.worker")
REDIS_RETRY_DELAY = 1.0


def create_app(settings: WorkerSettings) -> FastAPI:
    return create_service_app(
        service="worker", settings=settings, title="Custom GPT Adapter worker"
    )


def create_worker(settings: WorkerSettings, ctx: dict[str, Any]) -> Worker:
    return Worker(
        functions=[],
        cron_jobs=CRON_JOBS,
        redis_settings=RedisSettings.from_dsn(settings.redis_url.get_secret_value()),
        queue_name=settings.queue_name,
        max_jobs=settings.max_jobs,
        poll_delay=settings.poll_delay.total_seconds(),
        job_timeout=settings.job_timeout.total_seconds(),
        handle_signals=False,
        ctx=ctx,
    )


async def _consume(worker: Worker) -> None:
    """Run ARQ's poll loop; when Redis goes away, wait and resume instead of exiting."""
    while True:
        try:
            await worker.main()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            logger.warning("worker.redis.unavailable", reason=type(exc).__name__)
            await asyncio.sleep(REDIS_RETRY_DELAY)


async def _drain(worker: Worker, grace: float) -> None:
    """Stop taking jobs and give running ones the grace period; ARQ re-runs any cut off."""
    worker.allow_pick_jobs = False
    running = [task for task in worker.tasks.values() if not task.done()]
    if running:
        await asyncio.wait(running, timeout=grace)
    await worker.close()


async def serve(settings: WorkerSettings) -> None:
    engine = create_engine(settings)
    ctx: dict[str, Any] = {"settings": settings, "sessionmaker": create_sessionmaker(engine)}
    worker = create_worker(settings, ctx)
    server = ManagedServer(uvicorn_config(create_app(settings), settings), handle_signals=False)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    http = asyncio.create_task(server.serve(), name="http")
    consumer = asyncio.create_task(_consume(worker), name="arq")
    stopping = asyncio.create_task(stop.wait(), name="signal")
    await asyncio.wait({http, consumer, stopping}, return_when=asyncio.FIRST_COMPLETED)
    logger.info("worker.shutdown.started")
    consumer.cancel()
    await _drain(worker, settings.shutdown_grace.total_seconds())
    server.should_exit = True
    await http
    stopping.cancel()
    await engine.dispose()
    logger.info("worker.shutdown.completed")


def main() -> None:
    settings = prepare(WorkerSettings, "worker")
    asyncio.run(serve(settings))
