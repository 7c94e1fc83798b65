from __future__ import annotations

from datetime import timedelta

from pydantic import AnyHttpUrl, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from cga_core.config import Duration, ServiceSettings
from cga_core.internal import internal_token_field


class WorkerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CGA_WORKER_")

    port: int = Field(8003, ge=1, le=65535, description="Port of the health and metrics server.")
    memory_proxy_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8002"), description="In-cluster URL of memory-proxy."
    )
    memory_proxy_timeout: Duration = Field(
        timedelta(seconds=20), description="Longest wait for one write through memory-proxy."
    )
    internal_token: SecretStr = internal_token_field()
    max_jobs: int = Field(200, ge=1, description="Jobs one worker runs concurrently.")
    poll_delay: Duration = Field(
        timedelta(milliseconds=50), description="Pause between polls of an empty queue."
    )
    job_timeout: Duration = Field(
        timedelta(seconds=30),
        description="Longest a job may run; a dead worker's job runs again this + 10 s later.",
    )
    max_attempts: int = Field(
        8, ge=1, description="Attempts per write before it becomes a dead letter (failed)."
    )
    retry_backoff: Duration = Field(
        timedelta(seconds=1), description="Delay before the second attempt; doubles, with jitter."
    )
    retry_backoff_max: Duration = Field(
        timedelta(minutes=5), description="Longest delay between attempts."
    )
    sweep_every_seconds: int = Field(
        10, ge=1, le=60, description="How often the sweeper runs (a divisor of 60)."
    )
    requeue_after: Duration = Field(
        timedelta(seconds=30),
        description="A write still queued this long is enqueued again (Redis may have lost it).",
    )
    credentials_grace: Duration = Field(
        timedelta(days=1), description="Expired codes and refresh tokens are deleted after this."
    )
    metrics_interval: Duration = Field(
        timedelta(seconds=5), description="How often queue depth and age are measured."
    )
    health_check_interval: Duration = Field(
        timedelta(seconds=10), description="How often the worker records that it is alive."
    )
    audit_retention: Duration = Field(
        timedelta(days=90), description="Audit events older than this are deleted."
    )
    audit_purge_batch_size: int = Field(
        5000, ge=1, description="Audit events deleted per transaction."
    )
