"""Sign-in throttling: failed attempts per account and per client IP, in a moving window
kept in Redis so every auth replica counts the same attempts."""

from __future__ import annotations

from datetime import timedelta

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from cga_core.security import hash_secret


class LoginThrottle:
    def __init__(
        self, redis: Redis, redis_url: str, *, per_account: int, per_ip: int, window: timedelta
    ) -> None:
        storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            key_prefix="cga:login-throttle",
            # Share the service's pool; limits types its pass-through options too narrowly.
            connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        )
        self.limiter = MovingWindowRateLimiter(storage)
        seconds = max(int(window.total_seconds()), 1)
        self.per_account = RateLimitItemPerSecond(per_account, seconds)
        self.per_ip = RateLimitItemPerSecond(per_ip, seconds)
        self.window = window

    @staticmethod
    def _account(email: str) -> str:
        return hash_secret(email.strip().lower())  # no addresses in Redis keys

    async def allows(self, email: str, client_ip: str) -> bool:
        return await self.limiter.test(
            self.per_account, "account", self._account(email)
        ) and await self.limiter.test(self.per_ip, "ip", client_ip)

    async def record_failure(self, email: str, client_ip: str) -> None:
        await self.limiter.hit(self.per_account, "account", self._account(email))
        await self.limiter.hit(self.per_ip, "ip", client_ip)

    async def record_success(self, email: str) -> None:
        await self.limiter.clear(self.per_account, "account", self._account(email))
