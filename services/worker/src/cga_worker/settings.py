from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from cga_core.config import Duration, ServiceSettings


class WorkerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CGA_WORKER_")

    port: int = Field(8003, ge=1, le=65535, description="Port of the health and metrics server.")
    queue_name: str = Field("cga:queue", description="Redis key of the ARQ job queue.")
    max_jobs: int = Field(100, ge=1, description="Jobs one worker runs concurrently.")
    poll_delay: Duration = Field(
        timedelta(milliseconds=50), description="Pause between polls of an empty queue."
    )
    job_timeout: Duration = Field(timedelta(seconds=60), description="Longest a job may run.")
    audit_retention: Duration = Field(
        timedelta(days=90), description="Audit events older than this are deleted."
    )
    audit_purge_batch_size: int = Field(
        5000, ge=1, description="Audit events deleted per transaction."
    )
