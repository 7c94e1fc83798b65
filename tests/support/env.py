from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cga_devstack import PostgresServer, RedisServer


@dataclass(frozen=True)
class TestStack:
    postgres: PostgresServer
    redis: RedisServer
    database_url: str
    redis_database: int = 0

    __test__ = False  # not a test class, despite the name

    def environment(self) -> dict[str, str]:
        return {
            "CGA_ENV": "test",
            "CGA_LOG_FORMAT": "json",
            "CGA_DATABASE_URL": self.database_url,
            "CGA_REDIS_URL": self.redis.url(self.redis_database),
        }


# Makes a stack of its own on the same servers, named (conftest's ``isolated_stack``).
IsolatedStack = Callable[[str], TestStack]
