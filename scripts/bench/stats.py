"""The arithmetic of the bench: percentiles of latency samples, ratios, goals and the capacity
a measured CPU cost implies. Pure functions, so they are tested apart from any measurement."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile out of range: {q}")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Percentiles:
        return cls(percentile(samples, 50), percentile(samples, 95), percentile(samples, 99))

    def minus(self, other: Percentiles) -> Percentiles:
        """Percentile by percentile: what a path adds over a shorter one."""
        return Percentiles(self.p50 - other.p50, self.p95 - other.p95, self.p99 - other.p99)


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; 0 when the denominator is (nothing was measured)."""
    return numerator / denominator if denominator else 0.0


class Comparison(StrEnum):
    AT_MOST = "≤"
    AT_LEAST = "≥"
    BELOW = "<"


@dataclass(frozen=True)
class Goal:
    """A figure's target: e.g. at most 1.0 ms, at least 1,000/s."""

    comparison: Comparison
    target: float
    unit: str = ""

    def met(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.comparison is Comparison.AT_MOST:
            return value <= self.target
        if self.comparison is Comparison.AT_LEAST:
            return value >= self.target
        return value < self.target

    def describe(self) -> str:
        return f"{self.comparison} {number(self.target)}{self.unit}"


def number(value: float) -> str:
    """Thousands separated; two decimals below 10, one below 100, none above."""
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def replicas(demand_per_second: float, cpu_seconds_per_request: float, utilization: float) -> int:
    """Single-process replicas (one core each at most) serving ``demand_per_second`` requests
    when each costs ``cpu_seconds_per_request`` and a replica should run at ``utilization``
    of its core; at least one."""
    if not 0 < utilization <= 1:
        raise ValueError(f"utilization must be in (0, 1]: {utilization}")
    return max(1, math.ceil(demand_per_second * cpu_seconds_per_request / utilization))
