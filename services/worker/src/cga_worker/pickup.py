"""ARQ's worker, picking up the jobs of a poll in one round trip.

ARQ starts the jobs it polled one after the other, each with four round trips to Redis (WATCH,
EXISTS, ZSCORE, then MULTI/PSETEX/EXEC), while the poll loop waits: at a thousand jobs a
second that serial pick-up, not the jobs, is what bounds one worker (docs/performance.md). Here
the same check — not running elsewhere, still queued, due — and the same in-progress mark are
one script for every job the free slots allow; the rest of ARQ (running, retrying, finishing
jobs, health checks) is unchanged."""

from __future__ import annotations

from arq import Worker
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms

# KEYS[1]: the queue; KEYS[1 + i]: job i's in-progress key. ARGV[1]: now (ms); ARGV[2]: how
# long the mark holds (ms); ARGV[2 + i]: job i's id. Returns id, score, id, score… of the
# jobs marked.
_START = """
local marked = {}
for i = 2, #KEYS do
  local job_id = ARGV[i + 1]
  local score = redis.call('ZSCORE', KEYS[1], job_id)
  if score and tonumber(score) <= tonumber(ARGV[1]) and redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('PSETEX', KEYS[i], ARGV[2], '1')
    marked[#marked + 1] = job_id
    marked[#marked + 1] = score
  end
end
return marked
"""


class BatchPickupWorker(Worker):
    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """Start as many of ``job_ids`` as there are free slots (waiting for one, as ARQ
        does); those left over are still queued for the next poll."""
        if not job_ids:
            return
        await self.sem.acquire()
        slots = 1
        while slots < len(job_ids) and not self.sem.locked():
            await self.sem.acquire()
            slots += 1
        taken = max(0, min(slots, self.max_jobs - self.job_counter))
        for _ in range(slots - taken):
            self.sem.release()
        if not taken:
            return
        self.job_counter += taken
        ids = [job_id.decode() for job_id in job_ids[:taken]]
        try:
            marked = await self.pool.register_script(_START)(
                keys=[self.queue_name, *(in_progress_key_prefix + job_id for job_id in ids)],
                args=[timestamp_ms(), int(self.in_progress_timeout_s * 1000), *ids],
            )
        except BaseException:
            self._release(taken)
            raise
        self._release(taken - len(marked) // 2)
        for job_id_b, score in zip(marked[::2], marked[1::2], strict=True):
            job_id = job_id_b.decode()
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    def _release(self, slots: int) -> None:
        """Give back slots taken for jobs that did not start (running elsewhere, finished,
        deferred, or the script failed)."""
        self.job_counter -= slots
        for _ in range(slots):
            self.sem.release()
