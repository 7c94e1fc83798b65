"""The drain benchmark (scripts/perf/drain.py), which ``make bench`` runs: a small backlog
drained by real processes on private servers, every write stored once, and the record's shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.perf.drain import measure_drain

pytestmark = pytest.mark.e2e

JOBS = 100
PROCESSES = {"worker", "memory-proxy", "postgresql", "redis"}


def test_a_drained_backlog_is_measured_per_job_and_per_process(tmp_path: Path) -> None:
    result = measure_drain(JOBS, tmp_path / "logs")

    assert result["jobs"] == JOBS
    assert result["seconds"] > 0
    assert result["jobs_per_second"] == pytest.approx(JOBS / result["seconds"], rel=0.01)
    cpu = result["cpu_ms_per_job"]
    assert set(cpu) == {*PROCESSES, "total"}
    assert all(cpu[name] >= 0 for name in PROCESSES)
    assert cpu["total"] == pytest.approx(sum(cpu[name] for name in PROCESSES), abs=0.01)
    assert (tmp_path / "logs" / "drain-worker.log").exists()
