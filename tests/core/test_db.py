"""The engine every service uses, against a real PostgreSQL: a pooled connection the server has
closed is replaced as it leaves the pool, so the request that draws it does not fail."""

from __future__ import annotations

from sqlalchemy import text

from cga_core.db import create_engine
from cga_gateway.settings import GatewaySettings
from tests.support.env import TestStack


async def test_a_pooled_connection_the_server_closed_is_replaced_at_checkout(
    service_env: TestStack,
) -> None:
    settings = GatewaySettings(database_pool_size=1, database_max_overflow=0)
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        # The pool's only connection, idle in the pool, is ended by the server.
        terminator = create_engine(settings)
        try:
            async with terminator.connect() as other:
                assert await other.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        finally:
            await terminator.dispose()

        async with engine.connect() as connection:
            answer = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert answer != pid
    finally:
        await engine.dispose()
