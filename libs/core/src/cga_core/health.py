"""Liveness and readiness.

``/livez`` answers while the process can serve HTTP at all; ``/readyz`` also checks that
PostgreSQL, Redis and any service-specific dependency answer within the dependency timeout,
and names the ones that do not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse

logger = structlog.get_logger("cga.health")


@dataclass(frozen=True)
class DependencyCheck:
    name: str
    probe: Callable[[], Awaitable[Any]]


@dataclass
class Readiness:
    """Runs the dependency checks; logs each dependency's change between up and down."""

    checks: Sequence[DependencyCheck]
    timeout: float
    _down: set[str] = field(default_factory=set)

    async def _run(self, check: DependencyCheck) -> str | None:
        try:
            async with asyncio.timeout(self.timeout):
                await check.probe()
        except Exception as exc:
            return type(exc).__name__
        return None

    async def evaluate(self) -> dict[str, str | None]:
        outcomes = await asyncio.gather(*(self._run(check) for check in self.checks))
        results = {
            check.name: outcome for check, outcome in zip(self.checks, outcomes, strict=True)
        }
        for name, failure in results.items():
            if failure and name not in self._down:
                self._down.add(name)
                logger.warning("health.dependency.down", dependency=name, reason=failure)
            elif not failure and name in self._down:
                self._down.discard(name)
                logger.info("health.dependency.up", dependency=name)
        return results


def health_router(readiness: Readiness, liveness: Readiness) -> APIRouter:
    router = APIRouter(tags=["health"], include_in_schema=False)

    @router.get("/livez")
    async def livez() -> JSONResponse:
        failed = [name for name, failure in (await liveness.evaluate()).items() if failure]
        if failed:
            return JSONResponse(
                {
                    "status": "failing",
                    "error": "not_live",
                    "detail": "failing: " + ", ".join(failed),
                },
                status_code=503,
            )
        return JSONResponse({"status": "ok"})

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        results = await readiness.evaluate()
        checks = {name: "unavailable" if failure else "ok" for name, failure in results.items()}
        failed = [name for name, failure in results.items() if failure]
        if failed:
            return JSONResponse(
                {
                    "status": "unavailable",
                    "error": "not_ready",
                    "detail": "unavailable: " + ", ".join(failed),
                    "failed": failed,
                    "checks": checks,
                },
                status_code=503,
            )
        return JSONResponse({"status": "ready", "checks": checks})

    return router
