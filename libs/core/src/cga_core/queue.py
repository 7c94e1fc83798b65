"""Everything that knows about ARQ (in maintenance mode upstream, so kept behind this module).

Job ids carry meaning (``memory-write:<job uuid>``) so a write enqueued twice — by the gateway
after its commit and by the sweeper — is one ARQ job: ARQ refuses a second job with an id it
still holds. Results are not kept, so a replayed dead letter can be enqueued again."""

from __future__ import annotations

import uuid

from arq.connections import ArqRedis
from redis.asyncio import Redis

QUEUE_NAME = "cga:queue"
WRITE_MEMORY = "write_memory"
HEALTH_CHECK_KEY = QUEUE_NAME + ":health-check"


def write_job_id(job_id: uuid.UUID) -> str:
    return f"memory-write:{job_id}"


def queue_on(redis: Redis) -> ArqRedis:
    """An ARQ client on an existing Redis pool (no connection is made until it is used)."""
    return ArqRedis(connection_pool=redis.connection_pool, default_queue_name=QUEUE_NAME)


async def enqueue_write(queue: ArqRedis, job_id: uuid.UUID) -> bool:
    """True when enqueued now; False when ARQ holds this job already."""
    job = await queue.enqueue_job(WRITE_MEMORY, str(job_id), _job_id=write_job_id(job_id))
    return job is not None
