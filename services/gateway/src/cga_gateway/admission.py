"""Around every Actions call: admission first, the audit record after (never content).

Admission asks Redis one question in one round trip (admission.lua): is the token's grant
revoked, and do the app's and the user's rate limits both have room? (ADR 0010.)"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import IntEnum
from importlib.resources import files

import structlog
from fastapi import Request
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from cga_core.denylist import denylist_key
from cga_core.errors import AppError
from cga_gateway.policies import AppDisabled, AppPolicies, AppPolicy
from cga_gateway.ratelimit import (
    RATE_LIMIT_UNAVAILABLE,
    LimitScope,
    RateLimitUnavailable,
    rate_limited,
)
from cga_gateway.security import bearer_challenge, invalid_token
from cga_gateway.settings import GatewaySettings, RedisDownPolicy
from cga_gateway.tokens import Principal

logger = structlog.get_logger("cga.gateway.admission")
SCRIPT = (files("cga_gateway") / "admission.lua").read_text()
WINDOW_MS = 60_000  # the limits are per minute
WINDOW_KEY = "cga:ratelimit:{}:{}"
REVOKED = "The access token has been revoked."
DENYLIST_UNAVAILABLE = Counter(
    "cga_denylist_unavailable_total",
    "Token checks that could not reach the revocation denylist in Redis (served anyway).",
)


class Verdict(IntEnum):
    """What admission.lua answers."""

    ADMITTED = 0
    REVOKED = 1
    APP_LIMITED = 2
    USER_LIMITED = 3


class Admission:
    def __init__(self, redis: Redis, policies: AppPolicies) -> None:
        # Sent by digest (EVALSHA); loaded again when Redis answers NOSCRIPT, after a restart.
        self.script = redis.register_script(SCRIPT)
        self.policies = policies

    async def admit(self, caller: Principal, when_redis_down: RedisDownPolicy) -> None:
        """Return if the request may go on; raise the refusal otherwise."""
        policy = await self.policies.of(caller.client_id)
        if policy is None or not policy.active:
            raise AppDisabled(headers=bearer_challenge("invalid_token"))
        try:
            verdict, wait_ms = await self.verdict(caller, policy)
        except (RedisError, OSError) as exc:
            self._redis_down(exc, when_redis_down)
            return
        match verdict:
            case Verdict.REVOKED:
                raise invalid_token(REVOKED)
            case Verdict.APP_LIMITED:
                raise rate_limited(LimitScope.APP, policy.per_app, wait_ms)
            case Verdict.USER_LIMITED:
                raise rate_limited(LimitScope.USER, policy.per_user, wait_ms)

    async def verdict(
        self, caller: Principal, policy: AppPolicy, window_ms: int = WINDOW_MS
    ) -> tuple[Verdict, int]:
        """The script's answer, and the milliseconds until a slot frees when a window is full;
        a slot is taken in both windows when admitted."""
        verdict, wait_ms = await self.script(
            keys=[
                denylist_key(caller.grant_id),
                WINDOW_KEY.format(LimitScope.APP, caller.client_id),
                WINDOW_KEY.format(LimitScope.USER, f"{caller.client_id}:{caller.sub}"),
            ],
            args=[policy.per_app, policy.per_user, window_ms],
        )
        return Verdict(verdict), int(wait_ms)

    @staticmethod
    def _redis_down(exc: Exception, policy: RedisDownPolicy) -> None:
        # Neither check could run: the token is taken on its signature, and the policy decides
        # whether the request goes on without a rate limit.
        DENYLIST_UNAVAILABLE.inc()
        RATE_LIMIT_UNAVAILABLE.labels(policy=policy.value).inc()
        logger.warning(
            "gateway.admission.redis_unavailable", reason=type(exc).__name__, policy=policy
        )
        if policy is RedisDownPolicy.CLOSED:
            raise RateLimitUnavailable(headers={"Retry-After": "5"}) from None


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
        await request.state.admission.admit(caller, policy)
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
