"""backup-db.sh and restore-db.sh against the session's real PostgreSQL: a database built by
the migrations and filled with every service's kind of rows survives a dump, the loss of its
schema, and a restore."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from cga_core.migrations.cli import alembic_config
from cga_core.models import (
    App,
    AppSecret,
    AuditEvent,
    Consent,
    Grant,
    JobStatus,
    MemoryJob,
    RefreshToken,
    StoredMemory,
    User,
)
from tests.deploy.conftest import DEPLOY_SCRIPTS, run_script
from tests.support.env import TestStack

MEMORY_CONTENT = "Ada takes her espresso without sugar — ☕ and never after 4 pm."


@dataclass(frozen=True)
class Database:
    name: str
    url: str
    engine: AsyncEngine


async def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_script, script, *args)


@pytest.fixture
async def database(stack: TestStack) -> AsyncIterator[Database]:
    """A database of its own, built by the migrations as production's is."""
    name = f"cga_backup_{uuid.uuid4().hex[:12]}"
    await asyncio.to_thread(stack.postgres.create_database, name)
    url = stack.postgres.url(name)
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")
    engine = create_async_engine(url)
    yield Database(name, url, engine)
    await engine.dispose()


async def fill(engine: AsyncEngine) -> None:
    """Rows of every service: identity and OAuth (auth), memories (memory-proxy's local
    backend), the write outbox (gateway and worker) and the audit trail (all)."""
    now = datetime.now(UTC)
    ada = User(id=uuid.uuid4(), email="ada@example.com", password_hash="argon2-hash-of-ada")
    grace = User(id=uuid.uuid4(), email="grace@example.com", password_hash="argon2-hash-of-grace")
    gpt = App(
        id=uuid.uuid4(),
        client_id="cga_app_memory_gpt",
        name="Memory GPT",
        redirect_uris=[
            "https://chat.openai.com/aip/g-0123/oauth/callback",
            "https://chatgpt.com/aip/g-0123/oauth/callback",
        ],
        scopes=["memories:read", "memories:write"],
        rate_limit_per_minute=600,
        user_rate_limit_per_minute=60,
    )
    grant = Grant(
        id=uuid.uuid4(),
        app_id=gpt.id,
        user_id=ada.id,
        grant_type="authorization_code",
        scope="memories:read memories:write",
    )
    rows: list[object] = [
        ada,
        grace,
        gpt,
        AppSecret(app_id=gpt.id, secret_hash="a" * 64),
        AppSecret(app_id=gpt.id, secret_hash="b" * 64, expires_at=now + timedelta(hours=24)),
        Consent(user_id=ada.id, app_id=gpt.id, scopes=["memories:read", "memories:write"]),
        grant,
        RefreshToken(
            grant_id=grant.id,
            token_hash="c" * 64,
            scope="memories:read memories:write",
            expires_at=now + timedelta(days=30),
        ),
        StoredMemory(owner=str(ada.id), content=MEMORY_CONTENT, metadata_={"source": "gpt"}),
        StoredMemory(owner=str(ada.id), content="Ada's cat is called Lovelace.", metadata_={}),
        StoredMemory(owner=str(grace.id), content="Grace prefers COBOL.", idempotency_key="k-1"),
        MemoryJob(
            id=uuid.uuid4(),
            owner=str(ada.id),
            client_id=gpt.client_id,
            content=None,
            content_hash="d" * 64,
            status=JobStatus.SUCCEEDED,
            attempts=1,
            memory_id="m-1",
        ),
        MemoryJob(
            id=uuid.uuid4(),
            owner=str(grace.id),
            client_id=gpt.client_id,
            content="Grace prefers COBOL.",
            content_hash="e" * 64,
            status=JobStatus.FAILED,
            attempts=8,
            last_error="memory bank unreachable",
        ),
    ]
    rows += [
        AuditEvent(
            service="gateway",
            action="memories.search",
            outcome="ok",
            client_id=gpt.client_id,
            user_id=str(ada.id),
            client_ip="203.0.113.7",
            latency_ms=12.5 + n,
            details={"results": n},
        )
        for n in range(4)
    ]
    # The ORM models decide the column values, as the services' own writes do; one flush per
    # row keeps the foreign keys' order.
    async with AsyncSession(engine) as session, session.begin():
        for row in rows:
            session.add(row)
            await session.flush()


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        tables = (
            await connection.execute(
                text(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                )
            )
        ).scalars()
        counts = {}
        for table in sorted(tables):
            result = await connection.execute(text(f'SELECT count(*) FROM "{table}"'))  # noqa: S608
            counts[table] = int(result.scalar_one())
        return counts


async def drop_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))


def printed_counts(output: str) -> dict[str, int]:
    """The ``table  rows`` lines the scripts print."""
    counts = {}
    for line in output.splitlines():
        parts = line.split()
        if line.startswith("  ") and len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


async def test_a_dropped_schema_comes_back_with_every_row(
    database: Database, tmp_path: Path
) -> None:
    await fill(database.engine)
    before = await row_counts(database.engine)
    dump = tmp_path / "cga.dump"

    backup = await run("backup-db.sh", "--database-url", database.url, "--output", str(dump))
    assert backup.returncode == 0, backup.stderr
    assert dump.stat().st_size > 0
    assert f"backup of database {database.name} written to {dump}" in backup.stdout
    assert printed_counts(backup.stdout) == before

    await drop_schema(database.engine)
    assert await row_counts(database.engine) == {}

    restore = await run(
        "restore-db.sh", "--database-url", database.url, "--input", str(dump), "--yes"
    )
    assert restore.returncode == 0, restore.stderr
    after = await row_counts(database.engine)
    assert after == before
    assert printed_counts(restore.stdout) == before
    for table in ("users", "apps", "app_secrets", "memories", "memory_jobs", "audit_events"):
        assert after[table] > 0, table


async def test_restored_values_are_the_backed_up_ones(database: Database, tmp_path: Path) -> None:
    await fill(database.engine)
    dump = tmp_path / "cga.dump"
    assert (
        await run("backup-db.sh", "--database-url", database.url, "--output", str(dump))
    ).returncode == 0
    await drop_schema(database.engine)

    restore = await run(
        "restore-db.sh", "--database-url", database.url, "--input", str(dump), "--yes"
    )
    assert restore.returncode == 0, restore.stderr

    async with database.engine.connect() as connection:
        memory = (
            await connection.execute(
                text(
                    "SELECT content, metadata FROM memories"
                    " WHERE search_vector @@ plainto_tsquery('english', 'espresso')"
                )
            )
        ).one()
        assert memory.content == MEMORY_CONTENT
        assert memory.metadata == {"source": "gpt"}
        app = (await connection.execute(text("SELECT redirect_uris, scopes FROM apps"))).one()
        assert app.redirect_uris == [
            "https://chat.openai.com/aip/g-0123/oauth/callback",
            "https://chatgpt.com/aip/g-0123/oauth/callback",
        ]
        assert app.scopes == ["memories:read", "memories:write"]
        failed = (
            await connection.execute(
                text("SELECT attempts, last_error FROM memory_jobs WHERE status = 'failed'")
            )
        ).one()
        assert (failed.attempts, failed.last_error) == (8, "memory bank unreachable")
        audit = (
            await connection.execute(
                text("SELECT host(client_ip) AS ip, details FROM audit_events ORDER BY id LIMIT 1")
            )
        ).one()
        assert (audit.ip, audit.details) == ("203.0.113.7", {"results": 0})
        emails = (
            await connection.execute(text("SELECT email FROM users ORDER BY email"))
        ).scalars()
        assert list(emails) == ["ada@example.com", "grace@example.com"]
        revision = (
            await connection.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar_one()
        assert revision


async def test_sequences_continue_after_a_restore(database: Database, tmp_path: Path) -> None:
    await fill(database.engine)
    dump = tmp_path / "cga.dump"
    assert (
        await run("backup-db.sh", "--database-url", database.url, "--output", str(dump))
    ).returncode == 0
    await drop_schema(database.engine)
    restore = await run(
        "restore-db.sh", "--database-url", database.url, "--input", str(dump), "--yes"
    )
    assert restore.returncode == 0, restore.stderr

    async with database.engine.begin() as connection:
        highest = (await connection.execute(text("SELECT max(id) FROM audit_events"))).scalar_one()
        new_id = (
            await connection.execute(
                text(
                    "INSERT INTO audit_events (service, action, outcome)"
                    " VALUES ('worker', 'audit.purge', 'ok') RETURNING id"
                )
            )
        ).scalar_one()
    assert new_id > highest


async def test_a_restore_replaces_rows_written_after_the_backup(
    database: Database, tmp_path: Path
) -> None:
    await fill(database.engine)
    before = await row_counts(database.engine)
    dump = tmp_path / "cga.dump"
    assert (
        await run("backup-db.sh", "--database-url", database.url, "--output", str(dump))
    ).returncode == 0
    async with database.engine.begin() as connection:
        await connection.execute(text("DELETE FROM memories"))
        await connection.execute(
            text("INSERT INTO audit_events (service, action, outcome) VALUES ('auth', 'x', 'ok')")
        )

    restore = await run(
        "restore-db.sh", "--database-url", database.url, "--input", str(dump), "--yes"
    )

    assert restore.returncode == 0, restore.stderr
    assert await row_counts(database.engine) == before


async def test_a_restore_without_yes_and_no_terminal_changes_nothing(
    database: Database, tmp_path: Path
) -> None:
    await fill(database.engine)
    dump = tmp_path / "cga.dump"
    assert (
        await run("backup-db.sh", "--database-url", database.url, "--output", str(dump))
    ).returncode == 0
    async with database.engine.begin() as connection:
        await connection.execute(text("DELETE FROM memories"))

    restore = await run("restore-db.sh", "--database-url", database.url, "--input", str(dump))

    assert restore.returncode == 1
    assert "stdin is not a terminal (pass --yes)" in restore.stderr
    assert (await row_counts(database.engine))["memories"] == 0


async def test_a_file_that_is_not_a_dump_is_refused(database: Database, tmp_path: Path) -> None:
    not_a_dump = tmp_path / "notes.txt"
    not_a_dump.write_text("SELECT 1;\n")

    restore = await run(
        "restore-db.sh", "--database-url", database.url, "--input", str(not_a_dump), "--yes"
    )

    assert restore.returncode == 1
    assert "is not a pg_dump custom-format dump" in restore.stderr


async def test_backup_dry_run_prints_the_command_without_the_password(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://cga:p%40ss%2Fw0rd@db.internal:5432/cga?ssl=require"

    result = await run(
        "backup-db.sh", "--database-url", url, "--output", str(tmp_path / "x.dump"), "--dry-run"
    )

    assert result.returncode == 0, result.stderr
    assert "--format=custom" in result.stdout
    assert "--dbname=postgresql://cga@db.internal:5432/cga\\?sslmode=require" in result.stdout
    assert "p%40ss" not in result.stdout
    assert "p@ss" not in result.stdout
    assert not (tmp_path / "x.dump").exists()


async def test_an_unreachable_database_fails_with_pg_dumps_reason(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://cga@127.0.0.1:1/cga"
    dump = tmp_path / "x.dump"

    result = await run("backup-db.sh", "--database-url", url, "--output", str(dump))

    assert result.returncode == 1
    assert "pg_dump failed for database cga" in result.stderr
    assert not dump.exists()
    assert not (tmp_path / "x.dump.partial").exists()


@pytest.mark.parametrize(
    ("url", "libpq_url", "password", "database"),
    [
        (
            "postgresql+asyncpg://cga:p%40ss%2Fw%5Crd@db.internal:5432/cga?ssl=require",
            "postgresql://cga@db.internal:5432/cga?sslmode=require",
            "p@ss/w\\rd",
            "cga",
        ),
        ("postgres://db.internal/cga_prod", "postgresql://db.internal/cga_prod", "", "cga_prod"),
        (
            "postgresql://u:secret@[::1]:5433/cga?ssl=verify-full",
            "postgresql://u@[::1]:5433/cga?sslmode=verify-full",
            "secret",
            "cga",
        ),
    ],
)
def test_sqlalchemy_urls_become_libpq_urls_without_the_password(
    url: str, libpq_url: str, password: str, database: str
) -> None:
    result = subprocess.run(
        [
            "bash",
            "-c",
            'source "$0"; parse_database_url "$1";'
            ' printf "%s\\n%s\\n%s\\n" "$LIBPQ_URL" "${PGPASSWORD:-}" "$DATABASE_NAME"',
            str(DEPLOY_SCRIPTS / "lib.sh"),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == [libpq_url, password, database]
