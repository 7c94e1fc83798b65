"""Async SQLAlchemy engine and the per-request session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
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
        # A restarted PostgreSQL leaves dead connections in the pool; pre-ping replaces them.
        pool_pre_ping=True,
        pool_timeout=timeout,
        connect_args={"timeout": timeout},
    )
    trace_engine(engine)
    return engine


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
