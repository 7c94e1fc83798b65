"""What the bench reports: each figure with its goal (the table of the performance issue), the
runs behind it with their raw numbers, and the latency budget's layers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from scripts.bench.loadgen import Throughput
from scripts.bench.stats import Comparison, Goal, Percentiles, number

LOAD_P95_GOAL_MS = 100
LOAD_ERROR_GOAL = 0.001  # a share of requests


@dataclass(frozen=True)
class Run:
    """One measured run as the report shows it: what ran and its raw numbers."""

    name: str
    result: str
    numbers: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    value: float  # NaN when it could not be measured (``note`` says why)
    goal: Goal
    runs: tuple[Run, ...] = ()
    note: str = ""

    @property
    def measured(self) -> bool:
        return not math.isnan(self.value)

    @property
    def met(self) -> bool:
        return self.goal.met(self.value)

    @property
    def verdict(self) -> str:
        if not self.measured:
            return "not measured"
        return "met" if self.met else "missed"


@dataclass(frozen=True)
class Spec:
    """A figure before it is measured: its name and goal."""

    key: str
    title: str
    goal: Goal

    def figure(self, value: float, runs: tuple[Run, ...], note: str = "") -> Figure:
        return Figure(self.key, self.title, value, self.goal, runs, note)

    def unmeasured(self, reason: str) -> Figure:
        return Figure(self.key, self.title, math.nan, self.goal, (), f"not measured: {reason}")


GATEWAY_LATENCY = Spec(
    "gateway_added_latency_p50",
    "Gateway added latency, p50 (1 connection)",
    Goal(Comparison.AT_MOST, 1.0, " ms"),
)
SEARCH_THROUGHPUT = Spec(
    "search_throughput_ratio",
    "Authenticated search throughput per gateway process ÷ bare FastAPI POST",
    Goal(Comparison.AT_LEAST, 0.25),
)
WRITE_INTAKE = Spec(
    "write_intake_per_second",
    "Write intake: 202s per second, whole box",
    Goal(Comparison.AT_LEAST, 1000, "/s"),
)
WORKER_DRAIN = Spec(
    "worker_drain_per_second",
    "Worker drain rate, local backend",
    Goal(Comparison.AT_LEAST, 1000, " jobs/s"),
)
TOKEN_REFRESH = Spec(
    "token_refresh_per_second",
    "Token endpoint: refresh-grant exchanges per second",
    Goal(Comparison.AT_LEAST, 1000, "/s"),
)
LOAD_P95 = Spec(
    "load_p95_ms",
    "k6 load, everything on the box: p95",
    Goal(Comparison.BELOW, LOAD_P95_GOAL_MS, " ms"),
)
LOAD_ERRORS = Spec(
    "load_error_percent",
    "k6 load, everything on the box: errors",
    Goal(Comparison.BELOW, 100 * LOAD_ERROR_GOAL, " %"),
)
RATE_LIMIT_ACCURACY = Spec(
    "rate_limit_accuracy",
    "Rate-limit accuracy: allowed ÷ limit in one window, 2 gateways",
    Goal(Comparison.AT_MOST, 1.01),
)
# In the order of the performance issue's table.
SPECS = (
    GATEWAY_LATENCY,
    SEARCH_THROUGHPUT,
    WRITE_INTAKE,
    WORKER_DRAIN,
    TOKEN_REFRESH,
    LOAD_P95,
    LOAD_ERRORS,
    RATE_LIMIT_ACCURACY,
)


@dataclass(frozen=True)
class Layer:
    """The part of a search's latency one hop adds (p50/p95/p99, ms)."""

    name: str
    latency_ms: Percentiles


def throughput_run(name: str, result: Throughput) -> Run:
    latency = result.latency_ms
    return Run(
        name,
        f"{result.describe()}; p50 {number(latency.p50)} ms, p99 {number(latency.p99)} ms",
        {
            "per_second": result.per_second,
            "answered": result.expected,
            "refused": result.refused,
            "unexpected": result.unexpected,
            "seconds": result.seconds,
            "p50_ms": latency.p50,
            "p95_ms": latency.p95,
            "p99_ms": latency.p99,
        },
    )


def latency_run(name: str, latency: Percentiles) -> Run:
    return Run(
        name,
        f"p50 {number(latency.p50)} ms, p95 {number(latency.p95)} ms, p99 {number(latency.p99)} ms",
        {"p50_ms": latency.p50, "p95_ms": latency.p95, "p99_ms": latency.p99},
    )
