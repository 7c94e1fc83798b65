"""Rate limits per app and per user of an app, from the app's policy, counted in Redis so
every gateway replica shares one count (moving window: exact, no burst at window edges)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from enum import StrEnum

import structlog
from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.errors import AppError, ServiceUnavailable
from cga_core.metrics import start_at_zero
from cga_core.models import App, Status
from cga_gateway.security import REALM
from cga_gateway.settings import RedisDownPolicy
from cga_gateway.tokens import Principal

logger = structlog.get_logger("cga.gateway.ratelimit")


class LimitScope(StrEnum):
    APP = "app"  # every user of an app together
    USER = "user"  # one user of an app


RATE_LIMITED = Counter(
    "cga_rate_limited_total", "Requests refused by a rate limit, by scope (app or user).", ["scope"]
)
RATE_LIMIT_UNAVAILABLE = Counter(
    "cga_rate_limit_unavailable_total",
    "Requests whose rate limit could not be checked (Redis unreachable), by policy applied.",
    ["policy"],
)
start_at_zero(RATE_LIMITED, scope=list(LimitScope))
start_at_zero(RATE_LIMIT_UNAVAILABLE, policy=list(RedisDownPolicy))


class RateLimited(AppError):
    status_code = 429
    error = "rate_limited"


class RateLimitUnavailable(ServiceUnavailable):
    error = "rate_limit_unavailable"
    default_detail = "Requests cannot be admitted right now; retry shortly."


class AppDisabled(AppError):
    status_code = 401
    error = "invalid_token"
    default_detail = "This app is no longer allowed to act for you."


# Every 401 carries a Bearer challenge (RFC 6750 §3), this one too.
APP_DISABLED_CHALLENGE = {"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'}


@dataclass(frozen=True)
class AppPolicy:
    per_app: int
    per_user: int
    active: bool


class AppPolicies:
    """Each app's limits, read from the app registry and cached briefly in the process."""

    def __init__(self, engine: AsyncEngine, ttl: float) -> None:
        self.engine = engine
        self.ttl = ttl
        self.cache: dict[str, tuple[float, AppPolicy | None]] = {}

    async def of(self, client_id: str) -> AppPolicy | None:
        now = time.monotonic()
        cached = self.cache.get(client_id)
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        query = select(App.rate_limit_per_minute, App.user_rate_limit_per_minute, App.status).where(
            App.client_id == client_id
        )
        async with self.engine.connect() as connection:
            row = (await connection.execute(query)).first()
        policy = AppPolicy(row[0], row[1], row[2] == Status.ACTIVE) if row else None
        self.cache[client_id] = (now, policy)
        return policy


class RateLimiter:
    def __init__(self, redis: Redis, redis_url: str, policies: AppPolicies) -> None:
        storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            key_prefix="cga:ratelimit",
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
        self.limiter = MovingWindowRateLimiter(storage)
        self.policies = policies

    async def admit(self, caller: Principal, when_redis_down: RedisDownPolicy) -> None:
        policy = await self.policies.of(caller.client_id)
        if policy is None or not policy.active:
            raise AppDisabled(headers=APP_DISABLED_CHALLENGE)
        checks = (
            (LimitScope.APP, RateLimitItemPerMinute(policy.per_app), (caller.client_id,)),
            (
                LimitScope.USER,
                RateLimitItemPerMinute(policy.per_user),
                (caller.client_id, caller.sub),
            ),
        )
        try:
            for scope, item, identifiers in checks:
                if not await self.limiter.hit(item, *identifiers):
                    RATE_LIMITED.labels(scope=scope).inc()
                    await self._refuse(scope, item, identifiers)
        except (RedisError, OSError) as exc:
            self._redis_down(exc, when_redis_down)

    async def _refuse(
        self, scope: LimitScope, item: RateLimitItemPerMinute, identifiers: tuple[str, ...]
    ) -> None:
        stats = await self.limiter.get_window_stats(item, *identifiers)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"Too many requests for this {scope}; retry in {retry_after} s.",
            headers={
                "Retry-After": str(retry_after),
                "RateLimit-Limit": str(item.amount),
                "RateLimit-Remaining": str(stats.remaining),
                "RateLimit-Reset": str(retry_after),
            },
        )

    @staticmethod
    def _redis_down(exc: Exception, policy: RedisDownPolicy) -> None:
        RATE_LIMIT_UNAVAILABLE.labels(policy=policy.value).inc()
        logger.warning(
            "gateway.ratelimit.redis_unavailable", reason=type(exc).__name__, policy=policy
        )
        if policy is RedisDownPolicy.CLOSED:
            raise RateLimitUnavailable(headers={"Retry-After": "5"}) from None
