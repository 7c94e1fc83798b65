"""Resilience under load: faults injected into a private stack while k6 drives it.

    python -m scripts.chaos.run [--vus N] [--users N] [--writes-per-second R] ... [--no-report]

The stack (scripts/chaos/stack.py) runs the k6 ``load`` scenario throughout, and a writer
saves memories beside it. After a baseline, four faults come in turn: the worker killed with
SIGKILL, Redis stopped, the Memory Bank failing, PostgreSQL restarted. Each is watched for a
while after it ends; then the outbox is drained and every accepted write is checked to have
been stored exactly once.

The results go to the ``chaos`` section of docs/performance.md and to
docs/performance/chaos.json (scripts/perf/report.py); the run's own record — k6's CSV, the
services' logs, the writer's receipts — to load/k6/results/chaos-<UTC time>/. The exit
status is 1 when a write was lost or stored twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from scripts.chaos.accounting import (
    AcceptedWrite,
    Answer,
    Probe,
    Window,
    accepted_writes,
    exactly_once,
)
from scripts.chaos.faults import FaultDurations, FaultRun, faults, run_fault
from scripts.chaos.load import LoadRun, LoadShape
from scripts.chaos.probes import probe_readiness
from scripts.chaos.stack import ChaosStack, chaos_stack
from scripts.chaos.summary import Method, build_record, render
from scripts.chaos.writer import Writer
from scripts.load.run_k6 import RESULTS_DIR
from scripts.load.stack import Targets
from scripts.perf.report import write_section
from tests.support.actions import GptUser, sign_in
from tests.support.auth import admin_client, register_app

ROOT = Path(__file__).resolve().parents[2]
UNLIMITED = 1_000_000  # the writer's app: measure the faults, not the rate limiter
SETUP_WITHIN = 300.0  # k6's setup() signs every user in (argon2id, slow on purpose)
K6_SLACK = 120.0  # k6 stops by itself this long after the planned end, should we not stop it


@dataclass(frozen=True)
class Plan:
    method: Method
    shape: LoadShape
    durations: FaultDurations

    @property
    def seconds(self) -> float:
        """How long the warm-up, the baseline and the faults take, watches included."""
        method = self.method
        each = [fault.lasts + method.observe_seconds for fault in faults(self.durations)]
        return method.before_seconds + method.baseline_seconds + sum(each)


@dataclass
class Observations:
    baseline: Window
    runs: list[FaultRun]
    answers: list[Answer]
    probes: list[Probe]
    services: list[str]
    writer: Writer
    k6_exit_status: int


def say(message: str) -> None:
    print(f"[chaos {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)  # noqa: T201


def writer_user(targets: Targets) -> GptUser:
    with admin_client(targets.admin_url, targets.admin_token) as admin:
        app = register_app(
            admin,
            scopes=["memories:read", "memories:write"],
            rate_limit_per_minute=UNLIMITED,
            user_rate_limit_per_minute=UNLIMITED,
        )
        return sign_in(targets.auth_url, admin, app)


async def timeline(stack: ChaosStack, plan: Plan) -> tuple[Window, list[FaultRun]]:
    """The baseline, then each fault in turn; each fault's "before" is the tail of what
    preceded it."""
    method = plan.method
    say(f"baseline for {method.baseline_seconds:g} s")
    started = time.time()
    await asyncio.sleep(method.baseline_seconds)
    baseline = Window(started, time.time())
    runs = []
    for fault in faults(plan.durations):
        say(f"fault {fault.name}: {fault.description}")
        runs.append(await run_fault(stack, fault, method.observe_seconds))
    return baseline, runs


async def observe(stack: ChaosStack, plan: Plan, record_dir: Path, run_id: str) -> Observations:
    """The load, the writer and the probes through the baseline and every fault."""
    user = await asyncio.to_thread(writer_user, stack.targets)
    load = await LoadRun.start(stack.targets, plan.shape, record_dir, plan.seconds + K6_SLACK)
    writer = Writer(
        stack.targets.gateway_url,
        user.headers,
        run_id,
        per_second=plan.method.writes_per_second,
    )
    stop = asyncio.Event()
    try:
        first = await load.first_request(SETUP_WITHIN)
        say(f"k6 load under way; ramping up for {plan.shape.ramp_seconds} s")
        await asyncio.sleep(max(0.0, first + plan.shape.ramp_seconds - time.time()))
        async with asyncio.TaskGroup() as group:
            group.create_task(writer.run(stop))
            probing = group.create_task(probe_readiness(stack.readiness_urls, stop))
            try:
                # A warm-up: the writer's and the probes' first rounds stay out of the baseline.
                await asyncio.sleep(plan.method.before_seconds)
                baseline, runs = await timeline(stack, plan)
            finally:
                stop.set()
    finally:
        k6_exit_status = await load.stop()
    return Observations(
        baseline,
        runs,
        writer.answers + load.answers(),
        probing.result(),
        list(stack.services),
        writer,
        k6_exit_status,
    )


async def unfinished_jobs(engine: AsyncEngine) -> int:
    query = text("SELECT count(*) FROM memory_jobs WHERE status IN ('queued', 'running')")
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def drain(engine: AsyncEngine, within: float) -> bool:
    """Wait until the outbox holds no queued or running job; False when ``within`` passed."""
    deadline = time.monotonic() + within
    while (left := await unfinished_jobs(engine)) > 0:
        if time.monotonic() > deadline:
            say(f"{left} writes still unfinished after {within:g} s")
            return False
        await asyncio.sleep(1)
    return True


async def outbox(engine: AsyncEngine) -> dict[str, tuple[str, float]]:
    """Every job: its status and when it was accepted."""
    query = text("SELECT id::text, status, extract(epoch FROM created_at) FROM memory_jobs")
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return {job: (str(status), float(created)) for job, status, created in rows}


async def settle(stack: ChaosStack, within: float) -> tuple[bool, dict[str, tuple[str, float]]]:
    """Whether the outbox drained within ``within`` seconds, and then every job in it: its
    status and when it was accepted."""
    engine = create_async_engine(stack.servers.database_url, pool_pre_ping=True)
    try:
        drained = await drain(engine, within)
        return drained, await outbox(engine)
    finally:
        await engine.dispose()


def chaos(plan: Plan, record_dir: Path, run_id: str, report: bool) -> int:
    log_dir = record_dir / "logs"
    log_dir.mkdir(parents=True)
    say(f"starting the stack; logs in {log_dir}")
    # Outside any event loop: the migrations run one of their own.
    with chaos_stack(log_dir) as stack:
        seen = asyncio.run(observe(stack, plan, record_dir, run_id))
        say(f"faults done; draining the outbox (at most {plan.method.drain_within_seconds:g} s)")
        drained, jobs = asyncio.run(settle(stack, plan.method.drain_within_seconds))
        writes = accepted_writes(
            seen.writer.accepted, {job: created for job, (_, created) in jobs.items()}
        )
        stored = stack.stored_per_job(job for write in writes for job in write.job_ids)
    verdicts = exactly_once(writes, {job: status for job, (status, _) in jobs.items()}, stored)
    keep_receipts(record_dir, seen.writer.accepted, writes)
    record = build_record(
        method=plan.method,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        baseline=seen.baseline,
        runs=seen.runs,
        answers=seen.answers,
        probes=seen.probes,
        services=seen.services,
        verdicts=verdicts,
        client_keys=set(seen.writer.accepted),
        drained=drained,
        k6_exit_status=seen.k6_exit_status,
    )
    (record_dir / "chaos.json").write_text(json.dumps(record, indent=2) + "\n")
    markdown = render(record)
    if report:
        say(f"results in {write_section('chaos', markdown, record, root=ROOT)}")
    print(markdown)  # noqa: T201
    totals = record["writes"]
    return 1 if totals["lost"] or totals["duplicated"] else 0


def keep_receipts(
    record_dir: Path,
    receipts: dict[str, list[tuple[float, str]]],
    writes: Sequence[AcceptedWrite],
) -> None:
    """The writer's 202s and every accepted write's jobs, for looking into a lost one."""
    content: dict[str, Any] = {
        "receipts": receipts,
        "writes": {write.key: sorted(write.job_ids) for write in writes},
    }
    (record_dir / "writes.json").write_text(json.dumps(content, indent=1) + "\n")


def parse_plan(argv: Sequence[str] | None) -> tuple[Plan, bool]:
    parser = argparse.ArgumentParser(
        prog="chaos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    number = parser.add_argument
    number("--vus", type=int, default=40, help="k6 virtual users (default 40)")
    number("--users", type=int, default=20, help="signed-in GPT users they share (default 20)")
    number("--ramp", type=int, default=5, help="seconds k6 ramps up (default 5)")
    number("--writes-per-second", type=float, default=5, help="the writer's pace (default 5)")
    number("--baseline", type=float, default=20, help="seconds without faults (default 20)")
    number("--observe", type=float, default=30, help="seconds watched after each fault")
    number("--before", type=float, default=10, help="seconds before a fault compared with it")
    number("--bucket", type=float, default=1, help="seconds per error-rate bucket (default 1)")
    number("--tolerance", type=float, default=0.05, help="error rate over baseline still normal")
    number("--drain-within", type=float, default=120, help="seconds the outbox may take")
    number("--worker-down", type=float, default=5, help="seconds without a worker")
    number("--redis-down", type=float, default=10, help="seconds without Redis")
    number("--memory-bank-down", type=float, default=30, help="seconds the Memory Bank fails")
    parser.add_argument(
        "--no-report", action="store_true", help="leave docs/performance.md and chaos.json alone"
    )
    args = parser.parse_args(argv)
    method = Method(
        vus=args.vus,
        users=args.users,
        writes_per_second=args.writes_per_second,
        baseline_seconds=args.baseline,
        observe_seconds=args.observe,
        before_seconds=args.before,
        bucket_seconds=args.bucket,
        tolerance=args.tolerance,
        drain_within_seconds=args.drain_within,
    )
    plan = Plan(
        method,
        LoadShape(args.vus, args.users, args.ramp),
        FaultDurations(args.worker_down, args.redis_down, args.memory_bank_down),
    )
    return plan, not args.no_report


def main(argv: Sequence[str] | None = None) -> int:
    plan, report = parse_plan(argv)
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    with contextlib.suppress(KeyboardInterrupt):
        return chaos(plan, RESULTS_DIR / f"chaos-{run_id}", run_id, report)
    return 130


if __name__ == "__main__":
    sys.exit(main())
