"""Session-wide private PostgreSQL and Redis, started from the installed binaries.

Nothing here touches the machine's own database servers; fault tests may stop, kill and
restart these ones.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cga_core.migrations.cli import alembic_config
from cga_devstack import PostgresServer, RedisServer
from cga_devstack._process import free_port
from tests.support.env import IsolatedStack, TestStack, running_redis

REDIS_DATABASES = 16  # Redis's default number of databases


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    # Not under pytest's private tmp dir: when the tests run as root the server runs as the
    # postgres account, which must be able to reach its data directory.
    root = Path(tempfile.mkdtemp(prefix="cga-test-postgres-"))
    server = PostgresServer(root, free_port(), durable=False)
    try:
        server.initialize()
        server.start()
        server.create_database("cga")
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def stack(postgres: PostgresServer, redis_server: RedisServer) -> TestStack:
    """The private servers with the schema built by the migrations."""
    database_url = postgres.url("cga")
    command.upgrade(alembic_config(database_url), "head")
    return TestStack(postgres=postgres, redis=redis_server, database_url=database_url)


@pytest.fixture(scope="session")
def redis_database() -> Callable[[], int]:
    """Hands out Redis databases (indexes) nobody else in the session uses."""
    free = iter(range(1, REDIS_DATABASES))

    def allocate() -> int:
        database = next(free, None)
        if database is None:
            raise RuntimeError("every Redis database is taken")
        return database

    return allocate


@pytest.fixture(scope="module")
def module_redis_database(redis_database: Callable[[], int]) -> int:
    """A Redis database of the module's own, on the session's Redis."""
    return redis_database()


@pytest.fixture(scope="session")
def isolated_stack(stack: TestStack, redis_database: Callable[[], int]) -> IsolatedStack:
    """A stack of its own on the same servers — a new database built by the migrations and a
    Redis database nobody else uses — for a module whose system must not meet what earlier
    modules left behind: its worker's sweeper would run their unfinished jobs, in the same
    batches as its own."""

    def isolated(name: str) -> TestStack:
        stack.postgres.create_database(name)
        database_url = stack.postgres.url(name)
        command.upgrade(alembic_config(database_url), "head")
        return replace(stack, database_url=database_url, redis_database=redis_database())

    return isolated


@pytest.fixture
def service_env(stack: TestStack, monkeypatch: pytest.MonkeyPatch) -> TestStack:
    """Point settings read from the environment at the private servers."""
    for name, value in stack.environment().items():
        monkeypatch.setenv(name, value)
    return stack


@pytest.fixture(scope="session")
async def engine(stack: TestStack) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(stack.database_url, pool_pre_ping=True)
    yield engine
    await engine.dispose()


@pytest.fixture
async def clean_audit_events(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("TRUNCATE audit_events"))


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
