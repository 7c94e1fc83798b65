from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class JobSummary(BaseModel):
    job_id: str
    status: str
    attempts: int
    client_id: str
    user_id: str
    memory_id: str | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class ReplayResult(BaseModel):
    replayed: int


class AuditEventOut(BaseModel):
    occurred_at: datetime
    service: str
    action: str
    outcome: str
    client_id: str | None
    user_id: str | None
    request_id: str | None
    client_ip: str | None
    latency_ms: float | None
    details: dict[str, Any]
