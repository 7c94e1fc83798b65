"""Async SQLAlchemy engine and the per-request session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import AdaptedConnection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cga_core.config import ServiceSettings
from cga_core.telemetry import trace_engine


def create_engine(settings: ServiceSettings) -> AsyncEngine:
    timeout = settings.dependency_timeout.total_seconds()
    engine = create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=timeout,
        connect_args={"timeout": timeout},
    )
    # A restarted PostgreSQL leaves dead connections in the pool: each is checked as it leaves
    # the pool and replaced if it does not answer. Not with pool_pre_ping, whose asyncpg ping
    # is BEGIN, a query and ROLLBACK — three round trips on every checkout instead of one.
    event.listen(engine.sync_engine.pool, "checkout", _checkout_ping(timeout))
    trace_engine(engine)
    return engine


def _checkout_ping(timeout: float) -> Callable[..., None]:
    def ping(dbapi_connection: AdaptedConnection, *_: Any) -> None:
        try:
            dbapi_connection.run_async(lambda driver: driver.execute("SELECT 1", timeout=timeout))
        except Exception as exc:  # closed by the server, or not answering: any is a dead one
            # The pool discards this connection and checks out (or opens) another.
            raise DisconnectionError(str(exc)) from exc

    return ping


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def session_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """Commits when the caller finishes normally, rolls back when it raises.

    Services only ``flush()``; the unit of work belongs to whoever opened the scope."""
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


async def ping_database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
