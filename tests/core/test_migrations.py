"""The single migration stream builds the schema the models describe, and can be undone."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from cga_core.migrations.cli import alembic_config
from cga_devstack import PostgresServer
from tests.support.env import TestStack


def test_models_and_migrations_agree(stack: TestStack) -> None:
    command.check(alembic_config(stack.database_url))


def test_revision_files_are_date_prefixed() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    for revision in scripts.walk_revisions():
        assert revision.path is not None
        filename = revision.path.rsplit("/", 1)[-1]
        assert filename[:15].replace("_", "").isdigit(), filename


@pytest.fixture
def scratch_database(postgres: PostgresServer) -> str:
    postgres.create_database("migration_roundtrip")
    return postgres.url("migration_roundtrip")


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


async def test_upgrade_downgrade_upgrade_round_trip(scratch_database: str) -> None:
    config = alembic_config(scratch_database)

    # Alembic's async env.py runs its own event loop, so it is driven from a thread here.
    await asyncio.to_thread(command.upgrade, config, "head")
    assert "audit_events" in await _tables(scratch_database)
    await asyncio.to_thread(command.downgrade, config, "base")
    assert await _tables(scratch_database) == {"alembic_version"}
    await asyncio.to_thread(command.upgrade, config, "head")
    assert "audit_events" in await _tables(scratch_database)
