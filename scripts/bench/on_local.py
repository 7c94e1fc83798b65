"""The figures measured on the embedded ``local`` Memory Bank: the k6 load scenario with
everything on the box, and the worker's drain (scripts/perf/drain.py)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.bench.cpu import cpu_used
from scripts.bench.figures import (
    LOAD_ERROR_GOAL,
    LOAD_ERRORS,
    LOAD_P95,
    LOAD_P95_GOAL_MS,
    WORKER_DRAIN,
    Figure,
    Run,
)
from scripts.bench.settings import BenchSettings
from scripts.bench.stats import number, ratio
from scripts.bench.system import production_like_by_default
from scripts.load.run_k6 import THRESHOLDS_CROSSED, k6_command
from scripts.load.stack import targets_of
from scripts.perf.drain import measure_drain
from tests.support.processes import ServiceProcess

SCENARIO = "load"


@dataclass(frozen=True)
class LoadOutcome:
    figures: tuple[Figure, Figure]  # p95, errors
    cpu_us_per_request: dict[str, float]
    # GPT requests per concurrent user per second (think time included): for sizing.
    requests_per_user_second: float


def k6_load(
    settings: BenchSettings,
    services: Mapping[str, ServiceProcess],
    server_pids: Mapping[str, int],
    work_dir: Path,
) -> LoadOutcome:
    """load/k6/load.js as the load suite runs it, with the goals as its thresholds (a crossed
    threshold is a measured figure that missed its goal, not a failed run)."""
    environment = {
        **targets_of(dict(services)).environment(),
        "LOAD_VUS": str(settings.load_vus),
        "LOAD_DURATION": f"{settings.load_seconds:.0f}s",
        "LOAD_RAMP": f"{settings.load_ramp_seconds:.0f}s",
        "LOAD_P95_MS": str(LOAD_P95_GOAL_MS),
        "LOAD_ERROR_RATE": str(LOAD_ERROR_GOAL),
    }
    summary_path = work_dir / f"{SCENARIO}.summary.json"
    command = k6_command(SCENARIO, summary_path, ["--quiet", "--no-color"])
    # auth is left out: in this run it only signs the users in (setup), which is no cost of
    # the GPT requests measured.
    pids = {name: s.process.pid for name, s in services.items() if name != "auth"}
    with (
        (work_dir / f"{SCENARIO}.k6.log").open("wb") as log,
        cpu_used(pids | dict(server_pids), children_as="k6") as usage,
    ):
        k6 = subprocess.run(  # noqa: S603
            command,
            env={**os.environ, **environment},
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    status = k6.returncode
    if status not in (0, THRESHOLDS_CROSSED):
        raise RuntimeError(f"k6 {SCENARIO} failed with exit status {status}: see {log.name}")
    metrics = json.loads(summary_path.read_text())["metrics"]
    duration = metrics[f"http_req_duration{{scenario:{SCENARIO}}}"]
    failed = float(metrics[f"http_req_failed{{scenario:{SCENARIO}}}"]["value"])
    requests = int(duration["count"])
    run = Run(
        f"k6 {SCENARIO}: {settings.load_vus} VUs; services, k6 and the databases on the box",
        f"p95 {number(duration['p(95)'])} ms, p99 {number(duration['p(99)'])} ms,"
        f" errors {100 * failed:.2f} %, {requests:,} requests",
        {
            "p95_ms": duration["p(95)"],
            "p99_ms": duration["p(99)"],
            "error_rate": failed,
            "requests": requests,
        },
    )
    shape = (
        f"ramp {settings.load_ramp_seconds:.0f} s, plateau {settings.load_seconds:.0f} s;"
        " 70 % search, 20 % write, 10 % list + get; local backend"
    )
    # Virtual users ramp linearly up and down: each ramp counts half.
    user_seconds = settings.load_vus * (settings.load_seconds + settings.load_ramp_seconds)
    return LoadOutcome(
        (
            LOAD_P95.figure(float(duration["p(95)"]), (run,), shape),
            LOAD_ERRORS.figure(100 * failed, (run,), shape),
        ),
        usage.per_request_us(requests),
        ratio(requests, user_seconds),
    )


@dataclass(frozen=True)
class DrainOutcome:
    figure: Figure
    cpu_us_per_job: dict[str, float]


def worker_drain(jobs: int, log_dir: Path) -> DrainOutcome:
    with production_like_by_default():
        result: dict[str, Any] = measure_drain(jobs, log_dir)
    cpu_ms = result["cpu_ms_per_job"]
    cpu = ", ".join(f"{name} {ms:.2f} ms" for name, ms in cpu_ms.items())
    figure = WORKER_DRAIN.figure(
        float(result["jobs_per_second"]),
        (
            Run(
                "one worker draining a backlog",
                f"{result['jobs']:,} jobs in {result['seconds']:.2f} s; CPU per job: {cpu}",
                {"jobs": result["jobs"], "seconds": result["seconds"]},
            ),
        ),
        "writes accepted into the outbox and enqueued first, then memory-proxy and one worker"
        " started",
    )
    # "total" sums the processes: a figure of the run line, not a process of the CPU table.
    per_process = {name: 1000 * ms for name, ms in cpu_ms.items() if name != "total"}
    return DrainOutcome(figure, per_process)
