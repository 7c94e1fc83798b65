"""ORM models: the one schema shared by every service (one Alembic migration stream)."""

from cga_core.models.audit import AuditEvent
from cga_core.models.base import Base

__all__ = ["AuditEvent", "Base"]
