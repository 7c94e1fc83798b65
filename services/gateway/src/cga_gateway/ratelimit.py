"""Rate limits per app and per user of an app: their scopes, metrics and refusals. The count
itself is kept in Redis by the admission script (admission.lua), shared by every replica."""

from __future__ import annotations

import math
from enum import StrEnum

from prometheus_client import Counter

from cga_core.errors import AppError, ServiceUnavailable
from cga_core.metrics import start_at_zero
from cga_gateway.settings import RedisDownPolicy


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


def rate_limited(scope: LimitScope, limit: int, wait_ms: int) -> RateLimited:
    """The refusal of a request whose ``scope`` window is full until a slot frees in
    ``wait_ms``, counted in ``cga_rate_limited_total``."""
    RATE_LIMITED.labels(scope=scope).inc()
    retry_after = str(max(1, math.ceil(wait_ms / 1000)))
    return RateLimited(
        f"Too many requests for this {scope}; retry in {retry_after} s.",
        headers={
            "Retry-After": retry_after,
            "RateLimit-Limit": str(limit),
            "RateLimit-Remaining": "0",
            "RateLimit-Reset": retry_after,
        },
    )
