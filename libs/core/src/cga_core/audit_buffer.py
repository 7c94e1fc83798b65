"""Audit events written in batches: a request adds its event to memory and returns; a
background task inserts what has gathered every interval (or sooner, when many have)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.models import AuditEvent

logger = structlog.get_logger("cga.audit")
MAX_BUFFERED = 10_000


class AuditBuffer:
    def __init__(self, engine: AsyncEngine, service: str, *, batch_size: int = 500) -> None:
        self.engine = engine
        self.service = service
        self.batch_size = batch_size
        self.pending: list[dict[str, Any]] = []
        self.wakeup = asyncio.Event()

    def add(self, action: str, outcome: str, **fields: Any) -> None:
        if len(self.pending) >= MAX_BUFFERED:
            # The database is away for long: keep serving, lose the oldest audit events.
            del self.pending[: self.batch_size]
            logger.warning("audit.buffer.overflow", dropped=self.batch_size)
        self.pending.append(
            {"service": self.service, "action": action, "outcome": outcome, **fields}
        )
        if len(self.pending) >= self.batch_size:
            self.wakeup.set()

    async def flush(self) -> None:
        while self.pending:
            batch = self.pending[: self.batch_size]
            try:
                async with self.engine.begin() as connection:
                    await connection.execute(insert(AuditEvent), batch)
            except Exception as exc:
                logger.warning(
                    "audit.flush.failed", reason=type(exc).__name__, pending=len(self.pending)
                )
                return
            del self.pending[: len(batch)]

    @asynccontextmanager
    async def running(self, interval: float) -> AsyncIterator[AuditBuffer]:
        async def loop() -> None:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), interval)
                self.wakeup.clear()
                await self.flush()

        task = asyncio.create_task(loop(), name=f"audit-{self.service}")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.flush()
