"""``cga-admin jobs`` and ``cga-admin audit``: the real executable against a real auth process.

Write jobs are put straight into PostgreSQL (no worker runs here); a replay must show in the
database (queued again, a fresh attempt budget) and in Redis (the ARQ job the worker would run).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_core.db import create_sessionmaker, session_scope
from cga_core.models import JobStatus, MemoryJob
from tests.admin.conftest import AdminCli
from tests.support.auth import CALLBACK
from tests.support.env import TestStack


@pytest.fixture(scope="module")
def redis(stack: TestStack) -> Iterator[Redis]:
    client = Redis.from_url(stack.redis.url())
    yield client
    client.close()


async def _insert_job(engine: AsyncEngine, status: JobStatus) -> uuid.UUID:
    """A write job in ``status``, shaped as the worker leaves one in that state."""
    finished = status in (JobStatus.SUCCEEDED, JobStatus.FAILED)
    job = MemoryJob(
        id=uuid.uuid4(),
        owner=f"user-{uuid.uuid4().hex[:10]}",
        client_id="cga_app_jobs_cli",
        content=None if status == JobStatus.SUCCEEDED else "remember the jobs command",
        content_hash=secrets.token_hex(32),
        status=status,
        attempts=5 if status == JobStatus.FAILED else 1,
        last_error="memory bank answered 503" if status == JobStatus.FAILED else None,
        memory_id="mem-1" if status == JobStatus.SUCCEEDED else None,
        finished_at=datetime.now(UTC) if finished else None,
    )
    async with session_scope(create_sessionmaker(engine)) as session:
        session.add(job)
    return job.id


async def _job(engine: AsyncEngine, job_id: uuid.UUID) -> MemoryJob:
    async with session_scope(create_sessionmaker(engine)) as session:
        job = await session.get(MemoryJob, job_id)
    assert job is not None
    return job


async def _failed_count(engine: AsyncEngine) -> int:
    query = select(func.count()).select_from(MemoryJob).where(MemoryJob.status == JobStatus.FAILED)
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


def _arq_job_exists(redis: Redis, job_id: uuid.UUID) -> bool:
    return bool(redis.exists(f"arq:job:memory-write:{job_id}"))


def _assert_one_error_line(result: subprocess.CompletedProcess[str], prefix: str) -> None:
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"cga-admin: {prefix}"), result.stderr
    assert "Traceback" not in result.stderr


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _created_app(cli: AdminCli) -> str:
    created = cli.json(
        "apps",
        "create",
        "--name",
        f"Audited GPT {uuid.uuid4().hex[:6]}",
        "--redirect-uri",
        CALLBACK,
    )
    client_id: str = created["app"]["client_id"]
    return client_id


# jobs list


async def test_jobs_list_shows_jobs_of_every_status_with_whole_ids(
    cli: AdminCli, engine: AsyncEngine
) -> None:
    job_ids = [await _insert_job(engine, status) for status in JobStatus]

    result = cli.run("jobs", "list")

    assert result.returncode == 0, result.stderr
    for job_id in job_ids:
        assert str(job_id) in result.stdout
    assert "memory bank answered 503" in result.stdout


async def test_jobs_list_json_has_each_job_and_its_status(
    cli: AdminCli, engine: AsyncEngine
) -> None:
    inserted = {str(await _insert_job(engine, status)): status.value for status in JobStatus}

    listed = cli.json("jobs", "list")

    statuses = {job["job_id"]: job["status"] for job in listed}
    assert {job_id: statuses.get(job_id) for job_id in inserted} == inserted
    failed = next(job for job in listed if inserted.get(job["job_id"]) == "failed")
    assert failed["attempts"] == 5
    assert failed["error"] == "memory bank answered 503"
    assert failed["client_id"] == "cga_app_jobs_cli"


async def test_jobs_list_status_failed_shows_only_failed_jobs(
    cli: AdminCli, engine: AsyncEngine
) -> None:
    failed = await _insert_job(engine, JobStatus.FAILED)
    succeeded = await _insert_job(engine, JobStatus.SUCCEEDED)

    listed = cli.json("jobs", "list", "--status", "failed")

    job_ids = [job["job_id"] for job in listed]
    assert str(failed) in job_ids
    assert str(succeeded) not in job_ids
    assert {job["status"] for job in listed} == {"failed"}


async def test_jobs_list_limit_caps_the_number_of_jobs(cli: AdminCli, engine: AsyncEngine) -> None:
    await _insert_job(engine, JobStatus.QUEUED)
    newest = await _insert_job(engine, JobStatus.QUEUED)

    listed = cli.json("jobs", "list", "--limit", "1")

    assert [job["job_id"] for job in listed] == [str(newest)]


def test_jobs_list_refuses_an_unknown_status(cli: AdminCli) -> None:
    result = cli.run("jobs", "list", "--status", "lost")

    assert result.returncode == 2
    assert "--status" in result.stderr


# jobs replay


async def test_jobs_replay_queues_a_failed_job_again_with_a_fresh_attempt_budget(
    cli: AdminCli, engine: AsyncEngine, redis: Redis
) -> None:
    job_id = await _insert_job(engine, JobStatus.FAILED)

    result = cli.run("jobs", "replay", str(job_id))

    assert result.returncode == 0, result.stderr
    assert f"Replayed job {job_id}" in result.stdout
    job = await _job(engine, job_id)
    assert (job.status, job.attempts, job.last_error, job.finished_at) == (
        JobStatus.QUEUED,
        0,
        None,
        None,
    )
    assert _arq_job_exists(redis, job_id)


async def test_jobs_replay_json_prints_the_queued_job(cli: AdminCli, engine: AsyncEngine) -> None:
    job_id = await _insert_job(engine, JobStatus.FAILED)

    replayed = cli.json("jobs", "replay", str(job_id))

    assert replayed["job_id"] == str(job_id)
    assert (replayed["status"], replayed["attempts"], replayed["error"]) == ("queued", 0, None)


async def test_jobs_replay_of_a_succeeded_job_fails_with_job_succeeded(
    cli: AdminCli, engine: AsyncEngine, redis: Redis
) -> None:
    job_id = await _insert_job(engine, JobStatus.SUCCEEDED)

    result = cli.run("jobs", "replay", str(job_id))

    _assert_one_error_line(result, "job_succeeded: ")
    assert (await _job(engine, job_id)).status == JobStatus.SUCCEEDED
    assert not _arq_job_exists(redis, job_id)


def test_jobs_replay_of_an_unknown_job_fails_with_job_not_found(cli: AdminCli) -> None:
    result = cli.run("jobs", "replay", str(uuid.uuid4()))

    _assert_one_error_line(result, "job_not_found: ")


def test_jobs_replay_of_something_not_a_job_id_fails_before_asking_the_api(cli: AdminCli) -> None:
    result = cli.run("jobs", "replay", "latest")

    _assert_one_error_line(result, "invalid_request: 'latest' is not a job id")


async def test_jobs_replay_all_failed_queues_every_failed_job_and_prints_the_count(
    cli: AdminCli, engine: AsyncEngine, redis: Redis
) -> None:
    job_ids = [await _insert_job(engine, JobStatus.FAILED) for _ in range(2)]
    failed = await _failed_count(engine)

    result = cli.run("jobs", "replay", "--all-failed")

    assert result.returncode == 0, result.stderr
    assert f"Replayed {failed} failed jobs" in result.stdout
    assert await _failed_count(engine) == 0
    for job_id in job_ids:
        assert (await _job(engine, job_id)).status == JobStatus.QUEUED
        assert _arq_job_exists(redis, job_id)


async def test_jobs_replay_all_failed_json_prints_the_count(
    cli: AdminCli, engine: AsyncEngine
) -> None:
    await _insert_job(engine, JobStatus.FAILED)
    failed = await _failed_count(engine)

    assert cli.json("jobs", "replay", "--all-failed") == {"replayed": failed}


@pytest.mark.parametrize(
    "arguments",
    [(), ("00000000-0000-0000-0000-000000000000", "--all-failed")],
    ids=["neither", "both"],
)
def test_jobs_replay_needs_exactly_one_of_a_job_id_and_all_failed(
    cli: AdminCli, arguments: tuple[str, ...]
) -> None:
    result = cli.run("jobs", "replay", *arguments)

    _assert_one_error_line(result, "invalid_request: Give either a JOB_ID or --all-failed")


# audit


def test_audit_json_returns_the_app_create_event_of_an_app(cli: AdminCli) -> None:
    client_id = _created_app(cli)

    events = cli.json("audit", "--action", "app.create", "--app", client_id)

    assert len(events) == 1
    event = events[0]
    assert (event["service"], event["action"], event["outcome"], event["client_id"]) == (
        "auth",
        "app.create",
        "success",
        client_id,
    )


def test_audit_shows_the_event_in_a_table(cli: AdminCli) -> None:
    client_id = _created_app(cli)

    result = cli.run("audit", "--app", client_id, "--service", "auth")

    assert result.returncode == 0, result.stderr
    assert "app.create" in result.stdout
    assert client_id in result.stdout


def test_audit_since_a_relative_age_includes_a_recent_event(cli: AdminCli) -> None:
    client_id = _created_app(cli)

    events = cli.json("audit", "--action", "app.create", "--app", client_id, "--since", "1h")

    assert [event["client_id"] for event in events] == [client_id]


def test_audit_since_a_past_timestamp_includes_a_recent_event(cli: AdminCli) -> None:
    client_id = _created_app(cli)
    an_hour_ago = _iso(datetime.now(UTC) - timedelta(hours=1))

    events = cli.json("audit", "--app", client_id, "--since", an_hour_ago)

    assert [event["action"] for event in events] == ["app.create"]


def test_audit_since_a_future_timestamp_excludes_every_event(cli: AdminCli) -> None:
    client_id = _created_app(cli)
    in_an_hour = _iso(datetime.now(UTC) + timedelta(hours=1))

    assert cli.json("audit", "--app", client_id, "--since", in_an_hour) == []


def test_audit_until_a_relative_age_excludes_a_recent_event(cli: AdminCli) -> None:
    client_id = _created_app(cli)

    assert cli.json("audit", "--app", client_id, "--until", "1h") == []


def test_audit_limit_caps_the_number_of_events(cli: AdminCli) -> None:
    _created_app(cli)
    _created_app(cli)

    assert len(cli.json("audit", "--action", "app.create", "--limit", "1")) == 1


@pytest.mark.parametrize("value", ["yesterday", "15x", "2026-13-01T00:00:00Z"])
def test_audit_with_a_bad_since_fails_naming_the_accepted_forms(cli: AdminCli, value: str) -> None:
    result = cli.run("audit", "--since", value)

    _assert_one_error_line(result, f"invalid_request: --since {value!r} is not an age")
    assert "ISO 8601" in result.stderr


def test_audit_with_since_after_until_fails(cli: AdminCli) -> None:
    result = cli.run("audit", "--since", "1h", "--until", "2h")

    _assert_one_error_line(result, "invalid_request: --since ")


@pytest.mark.parametrize("command", [("jobs", "list"), ("audit",)], ids=" ".join)
def test_json_output_is_only_json(cli: AdminCli, command: tuple[str, ...]) -> None:
    result = cli.run(*command, "--json")

    assert result.returncode == 0, result.stderr
    body: Any = json.loads(result.stdout)
    assert isinstance(body, list)
