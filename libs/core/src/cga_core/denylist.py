"""Redis denylist of revoked grants: the auth service writes it, the gateway checks it, so a
revoked grant's still-unexpired access tokens stop working at once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from redis.asyncio import Redis


def denylist_key(grant_id: uuid.UUID | str) -> str:
    """The key whose presence marks the grant as revoked (read by the gateway's admission
    script, in the same round trip as its rate limits)."""
    return f"cga:revoked-grant:{grant_id}"


async def deny_grant(redis: Redis, grant_id: uuid.UUID, lifetime: timedelta) -> None:
    """Deny for ``lifetime`` — the longest an access token of the grant can still be valid."""
    await redis.set(denylist_key(grant_id), "1", ex=max(int(lifetime.total_seconds()), 1))
