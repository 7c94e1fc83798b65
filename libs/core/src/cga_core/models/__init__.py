"""ORM models: the one schema shared by every service (one Alembic migration stream)."""

from cga_core.models.audit import AuditEvent
from cga_core.models.base import Base
from cga_core.models.identity import App, AppSecret, ClientType, Status, User
from cga_core.models.jobs import JobStatus, MemoryJob
from cga_core.models.memory import StoredMemory
from cga_core.models.oauth import AuthorizationCode, Consent, Grant, RefreshToken

__all__ = [
    "App",
    "AppSecret",
    "AuditEvent",
    "AuthorizationCode",
    "Base",
    "ClientType",
    "Consent",
    "Grant",
    "JobStatus",
    "MemoryJob",
    "RefreshToken",
    "Status",
    "StoredMemory",
    "User",
]
