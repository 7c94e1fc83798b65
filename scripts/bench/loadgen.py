"""Throughput runs driven by k6 (``k6/throughput.js``): a plan says what to send over how many
connections for how long; the result holds the answers counted, the latency percentiles and the
CPU each process of interest used per request. k6 is the generator because it costs less CPU
per request than a Python client, and the box is shared with what it measures."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from scripts.bench.cpu import cpu_used
from scripts.bench.stats import Percentiles
from tests.support.processes import executable

SCRIPT = Path(__file__).with_name("k6") / "throughput.js"
GENERATOR = "k6"  # the name its CPU is reported under
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


class Mode(StrEnum):
    FIXED = "fixed"
    UNIQUE_CONTENT = "unique-content"
    REFRESH = "refresh"


@dataclass(frozen=True)
class Plan:
    """One k6 run. Virtual users take the targets and the tokens in turn (the first user the
    first of each, and so on, round robin)."""

    targets: list[str]
    connections: int
    seconds: float
    method: str = "POST"
    body: str = ""
    content_type: str = JSON_TYPE
    mode: Mode = Mode.FIXED
    tokens: list[str] = field(default_factory=list)
    expect: int = 200
    refused_statuses: list[int] = field(default_factory=list)
    # > 0: stop after this many requests (``seconds`` is then the longest the run may take).
    iterations: int = 0
    refresh_tokens: list[str] = field(default_factory=list)
    client_id: str = ""
    client_secret: str = ""


@dataclass(frozen=True)
class Throughput:
    """What a run got back: answers with the expected status, refusals (statuses the plan
    names as such) and anything else, over ``seconds``."""

    expected: int
    refused: int
    unexpected: int
    seconds: float
    latency_ms: Percentiles
    cpu_us_per_request: dict[str, float]

    @property
    def per_second(self) -> float:
        return self.expected / self.seconds if self.seconds else 0.0

    def describe(self) -> str:
        text = f"{self.per_second:,.0f} req/s ({self.expected:,} in {self.seconds:.0f} s)"
        if self.unexpected:
            text += f", {self.unexpected:,} unexpected answers"
        return text


def unique_content_body(prefix: str) -> str:
    """A write body whose content k6 makes differ per request: identical content from one user
    within a short window is one write, by design."""
    return json.dumps({"content": f"{prefix} {{unique}}"})


def parse_summary(summary: dict[str, Any]) -> tuple[int, int, int, Percentiles]:
    """Counts and latency percentiles from k6's --summary-export (a counter that never moved
    is absent)."""
    metrics = summary["metrics"]

    def count(name: str) -> int:
        return int(metrics.get(name, {}).get("count", 0))

    duration = metrics["http_req_duration"]
    latency = Percentiles(duration["med"], duration["p(95)"], duration["p(99)"])
    return count("bench_expected"), count("bench_refused"), count("bench_unexpected"), latency


def run_plan(plan: Plan, work_dir: Path, name: str, processes: Mapping[str, int]) -> Throughput:
    """Run ``plan`` with k6; ``processes`` (name → pid) are the ones whose CPU is measured.
    The plan, k6's output and its summary stay in ``work_dir`` under ``name``."""
    plan_path = work_dir / f"{name}.plan.json"
    summary_path = work_dir / f"{name}.summary.json"
    plan_path.write_text(json.dumps(asdict(plan)))
    command = [
        executable("k6"),
        "run",
        "--address=",
        "--quiet",
        "--no-color",
        f"--summary-export={summary_path}",
        "-e",
        f"BENCH_PLAN={plan_path}",
        str(SCRIPT),
    ]
    started = time.monotonic()
    with (
        (work_dir / f"{name}.k6.log").open("wb") as log,
        cpu_used(processes, children_as=GENERATOR) as usage,
    ):
        status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)  # noqa: S603
    elapsed = time.monotonic() - started
    if status.returncode != 0:
        raise RuntimeError(f"k6 failed ({status.returncode}) for {name}: see {log.name}")
    expected, refused, unexpected, latency = parse_summary(json.loads(summary_path.read_text()))
    requests = expected + refused + unexpected
    return Throughput(
        expected=expected,
        refused=refused,
        unexpected=unexpected,
        # A timed run's own length; a counted one took as long as it took (k6's start included).
        seconds=elapsed if plan.iterations else plan.seconds,
        latency_ms=latency,
        cpu_us_per_request=usage.per_request_us(requests),
    )


def warm_then_run(
    plan: Plan,
    work_dir: Path,
    name: str,
    processes: Mapping[str, int],
    *,
    warmup_seconds: float,
    warmup_plan: Plan | None = None,
) -> Throughput:
    """A short unmeasured run first (connection pools, caches, the JWKS), then the measured
    one. A refresh plan needs a warm-up plan of its own: a chain cannot be walked twice."""
    warmup = replace(warmup_plan or plan, seconds=warmup_seconds, iterations=0)
    run_plan(warmup, work_dir, f"{name}-warmup", processes)
    return run_plan(plan, work_dir, name, processes)
