"""Each app's standing with the gateway: whether it may call at all, and its rate limits."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.errors import AppError
from cga_core.models import App, Status


class AppDisabled(AppError):
    status_code = 401
    error = "invalid_token"
    default_detail = "This app is no longer allowed to act for you."


@dataclass(frozen=True)
class AppPolicy:
    per_app: int  # requests per minute, every user of the app together
    per_user: int  # requests per minute, one user of the app
    active: bool


class AppPolicies:
    """Each app's policy, read from the app registry and cached briefly in the process."""

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
