from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cga_devstack import PostgresServer, RedisServer
from cga_devstack._process import free_port


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


@contextmanager
def running_redis(directory: Path) -> Iterator[RedisServer]:
    """A Redis of its own on a free port (nothing kept on disk), stopped on exit."""
    server = RedisServer(directory, free_port(), durable=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()
