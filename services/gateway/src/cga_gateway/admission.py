"""Around every Actions call: the rate limit first, the audit record after (never content)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request

from cga_core.errors import AppError
from cga_gateway.settings import GatewaySettings
from cga_gateway.tokens import Principal


@asynccontextmanager
async def admitted(
    request: Request,
    settings: GatewaySettings,
    action: str,
    caller: Principal,
    *,
    write: bool = False,
) -> AsyncIterator[None]:
    started = time.perf_counter()
    outcome = "success"
    policy = (
        settings.rate_limit_writes_when_redis_down
        if write
        else settings.rate_limit_reads_when_redis_down
    )
    try:
        await request.state.rate_limiter.admit(caller, policy)
        yield
    except AppError as exc:
        outcome = exc.error
        raise
    except Exception:
        outcome = "internal_error"
        raise
    finally:
        request.state.audit.add(
            action,
            outcome,
            client_id=caller.client_id,
            user_id=caller.sub,
            request_id=request.scope.get("state", {}).get("request_id"),
            client_ip=request.client.host if request.client else None,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
        )
