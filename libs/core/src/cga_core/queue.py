"""Everything that knows about ARQ (in maintenance mode upstream, so kept behind this module).

Job ids carry meaning (``memory-write:<job uuid>``) so a write enqueued twice — by the gateway
after its commit and by the sweeper — is one ARQ job: a second job with an id ARQ still holds
is refused. Results are not kept, so a replayed dead letter can be enqueued again."""

from __future__ import annotations

import uuid

from arq.constants import expires_extra_ms, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio import Redis

QUEUE_NAME = "cga:queue"
WRITE_MEMORY = "write_memory"
HEALTH_CHECK_KEY = QUEUE_NAME + ":health-check"

# ARQ's enqueue_job, in one round trip instead of its three (WATCH and EXISTS, then MULTI with
# the job and its place in the queue): the same keys, the same check, the same job payload.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
  return 0
end
redis.call('PSETEX', KEYS[1], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
"""


def write_job_id(job_id: uuid.UUID) -> str:
    return f"memory-write:{job_id}"


async def enqueue_write(redis: Redis, job_id: uuid.UUID) -> bool:
    """True when enqueued now; False when ARQ holds this job already."""
    arq_job_id = write_job_id(job_id)
    now_ms = timestamp_ms()
    payload = serialize_job(WRITE_MEMORY, (str(job_id),), {}, None, now_ms)
    # Sent by digest (EVALSHA), loaded again when Redis answers NOSCRIPT after a restart.
    enqueue = redis.register_script(_ENQUEUE)
    keys = [job_key_prefix + arq_job_id, result_key_prefix + arq_job_id, QUEUE_NAME]
    return bool(await enqueue(keys=keys, args=[arq_job_id, now_ms, expires_extra_ms, payload]))
