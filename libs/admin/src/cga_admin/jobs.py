"""``cga-admin jobs``: the durable memory writes (the outbox), and replaying the failed ones.

A write that failed every attempt stays ``failed`` (a dead letter) until an operator replays
it: the admin API sets it back to ``queued`` with a fresh attempt budget and enqueues it for the
worker.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any

import typer

from cga_admin.client import call, path
from cga_admin.output import (
    JsonOutput,
    fail,
    field_table,
    limit_option,
    list_table,
    print_json,
    print_whole,
    say,
    when,
)

jobs = typer.Typer(
    name="jobs",
    help="List durable memory writes and replay the failed ones (dead letters).",
    no_args_is_help=True,
)


class JobStatus(StrEnum):
    """The states of a write job, as the admin API names them."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _job_rows(job: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("Job ID", job["job_id"]),
        ("Status", job["status"]),
        ("Attempts", str(job["attempts"])),
        ("App", job["client_id"]),
        ("User", job["user_id"]),
        ("Memory ID", job["memory_id"] or "-"),
        ("Last error", job["error"] or "-"),
        ("Created", when(job["created_at"])),
        ("Finished", when(job["finished_at"], missing="-")),
    ]


@jobs.command("list")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[
        JobStatus | None,
        typer.Option("--status", help="Only jobs in this state (failed: the dead letters)."),
    ] = None,
    limit: Annotated[int | None, limit_option("jobs")] = None,
    as_json: JsonOutput = False,
) -> None:
    """List write jobs, newest first."""
    query = {"status": status.value if status else None, "limit": limit}
    listed = call(ctx, "GET", path("jobs"), query=query)
    if as_json:
        print_json(listed)
        return
    if not listed:
        say(f"No {status.value} write jobs." if status else "No write jobs yet.")
        return
    print_whole(
        list_table(
            ["Job ID", "Status", "Attempts", "App", "User", "Memory ID", "Created", "Error"],
            (
                [
                    job["job_id"],
                    job["status"],
                    str(job["attempts"]),
                    job["client_id"],
                    job["user_id"],
                    job["memory_id"] or "-",
                    when(job["created_at"]),
                    job["error"] or "-",
                ]
                for job in listed
            ),
        )
    )


def _replay_one(ctx: typer.Context, job_id: str, as_json: bool) -> None:
    try:
        uuid.UUID(job_id)
    except ValueError:
        fail("invalid_request", f"{job_id!r} is not a job id (a UUID, as `jobs list` shows).")
    job = call(ctx, "POST", path("jobs", job_id, "replay"))
    if as_json:
        print_json(job)
        return
    say(f"Replayed job {job['job_id']}: it is {job['status']} again.", style="green")
    print_whole(field_table(f"Job {job['job_id']}", _job_rows(job)))


def _replay_all_failed(ctx: typer.Context, as_json: bool) -> None:
    replayed = call(ctx, "POST", path("jobs", "replay-failed"))
    if as_json:
        print_json(replayed)
        return
    count = replayed["replayed"]
    if count == 0:
        say("No failed jobs: nothing to replay.")
        return
    noun = "job: it is" if count == 1 else "jobs: they are"
    say(f"Replayed {count} failed {noun} queued again.", style="green")


@jobs.command("replay")
def replay_jobs(
    ctx: typer.Context,
    job_id: Annotated[
        str | None,
        typer.Argument(
            metavar="JOB_ID",
            help="The job to replay (a UUID from `cga-admin jobs list`).",
            show_default=False,
        ),
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Replay every failed job instead of one.")
    ] = False,
    as_json: JsonOutput = False,
) -> None:
    """Queue a failed (or stuck) write again with a fresh attempt budget: one JOB_ID, or
    every failed job with --all-failed."""
    if (job_id is not None) == all_failed:
        fail("invalid_request", "Give either a JOB_ID or --all-failed (exactly one of the two).")
    if job_id is None:
        _replay_all_failed(ctx, as_json)
    else:
        _replay_one(ctx, job_id, as_json)
