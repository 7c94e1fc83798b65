"""Redis client construction."""

from __future__ import annotations

from redis.asyncio import Redis

from cga_core.config import ServiceSettings


def create_redis(settings: ServiceSettings) -> Redis:
    timeout = settings.dependency_timeout.total_seconds()
    client: Redis = Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )
    return client


async def ping_redis(redis: Redis) -> None:
    await redis.ping()
