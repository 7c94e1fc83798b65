"""Redis denylist of revoked grants: the auth service writes it, the gateway checks it, so a
revoked grant's still-unexpired access tokens stop working at once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from redis.asyncio import Redis

_KEY = "cga:revoked-grant:{}"


async def deny_grant(redis: Redis, grant_id: uuid.UUID, lifetime: timedelta) -> None:
    """Deny for ``lifetime`` — the longest an access token of the grant can still be valid."""
    await redis.set(_KEY.format(grant_id), "1", ex=max(int(lifetime.total_seconds()), 1))


async def is_grant_denied(redis: Redis, grant_id: str) -> bool:
    return bool(await redis.exists(_KEY.format(grant_id)))
