"""How long and how hard ``make bench`` measures, from ``BENCH_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class BenchSettings:
    seconds: float = 20  # BENCH_SECONDS: each throughput run
    warmup_seconds: float = 3  # BENCH_WARMUP_SECONDS: unmeasured run before each
    connections: int = 16  # BENCH_CONNECTIONS: of every throughput run
    latency_rounds: int = 1500  # BENCH_LATENCY_ROUNDS: sequential requests per latency target
    users: int = 16  # BENCH_USERS: signed-in GPT users sharing the throughput runs
    impact_requests: int = 20  # BENCH_IMPACT_REQUESTS: per endpoint, to count upstream calls
    rate_limit: int = 600  # BENCH_RATE_LIMIT: per-app limit (per minute) of the accuracy run
    load_seconds: float = 60  # BENCH_LOAD_SECONDS: plateau of the k6 load scenario
    load_ramp_seconds: float = 20  # BENCH_LOAD_RAMP_SECONDS: its ramp up (and down)
    load_vus: int = 200  # BENCH_LOAD_VUS: its concurrent users
    drain_jobs: int = 5000  # BENCH_DRAIN_JOBS: writes queued for the drain run
    results_dir: Path = ROOT / ".bench"  # BENCH_RESULTS_DIR: logs and k6 records of each run

    @classmethod
    def from_environment(cls) -> BenchSettings:
        values: dict[str, object] = {}
        for setting in fields(cls):
            raw = os.environ.get(f"BENCH_{setting.name.upper()}")
            if raw is None or raw == "":
                continue
            kind = type(getattr(cls, setting.name))
            values[setting.name] = kind(raw)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def warmup_rounds(self) -> int:
        return max(50, self.latency_rounds // 10)
