"""The worker's metrics: memory-write runs, and the backlog of the outbox."""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import Counter, Gauge, Histogram

from cga_core.metrics import start_at_zero


class JobOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    RETRIED = "retried"  # failed this time, runs again after a backoff
    FAILED = "failed"  # failed for good: a dead letter
    SKIPPED = "skipped"  # finished already, or claimed by another run


JOBS = Counter(
    "cga_jobs_total",
    "Memory-write job runs, by outcome (succeeded, retried, failed, skipped).",
    ["outcome"],
)
start_at_zero(JOBS, outcome=list(JobOutcome))
JOB_DURATION = Histogram(
    "cga_job_duration_seconds",
    "Time of one memory-write job run, by outcome.",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
QUEUE_DEPTH = Gauge("cga_queue_depth", "Accepted memory writes not finished yet.")
QUEUE_OLDEST_AGE = Gauge(
    "cga_queue_oldest_job_age_seconds", "Age of the oldest unfinished memory write."
)
JOBS_REQUEUED = Counter(
    "cga_jobs_requeued_total", "Writes the sweeper enqueued again (lost by Redis or a dead worker)."
)
DEAD_LETTERS = Gauge("cga_dead_letters", "Memory writes that failed for good, awaiting replay.")
