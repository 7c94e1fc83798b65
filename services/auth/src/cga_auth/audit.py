"""Audit records of the auth service: who signed in, consented, got or lost tokens.

Written in the request's transaction; never secrets, codes, tokens or passwords."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from cga_core.models import AuditEvent

logger = structlog.get_logger("cga.auth.audit")


@dataclass(frozen=True)
class RequestMeta:
    request_id: str | None
    client_ip: str | None

    @classmethod
    def of(cls, request: Request) -> RequestMeta:
        return cls(
            request_id=request.scope.get("state", {}).get("request_id"),
            client_ip=request.client.host if request.client else None,
        )


class AuditTrail:
    def __init__(self, session: AsyncSession, meta: RequestMeta) -> None:
        self.session = session
        self.meta = meta

    def record(
        self,
        action: str,
        outcome: str,
        *,
        client_id: str | None = None,
        user_id: uuid.UUID | str | None = None,
        **details: Any,
    ) -> None:
        self.session.add(
            AuditEvent(
                service="auth",
                action=action,
                outcome=outcome,
                client_id=client_id,
                user_id=str(user_id) if user_id else None,
                request_id=self.meta.request_id,
                client_ip=self.meta.client_ip,
                details=details,
            )
        )
        logger.info(
            f"auth.{action}",
            outcome=outcome,
            client_id=client_id,
            user_id=str(user_id or ""),
            **details,
        )
