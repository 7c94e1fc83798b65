"""The search cache benchmark (scripts/perf/search_cache.py): real memory-proxy processes on the
stub Memory Bank, which counts the searches that reach it in each mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.perf.search_cache import measure_search_cache

pytestmark = pytest.mark.e2e

SEARCHES = 30
PROCESSES = {"memory-proxy", "redis", "stub"}


def test_hits_spare_the_memory_bank_and_every_mode_is_measured(tmp_path: Path) -> None:
    result = measure_search_cache(SEARCHES, tmp_path / "logs")

    modes = result["modes"]
    assert modes["off"]["memory_bank_searches"] == SEARCHES
    assert modes["hit"]["memory_bank_searches"] == 0
    assert modes["miss"]["memory_bank_searches"] == SEARCHES
    for figures in modes.values():
        latency = figures["latency_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
        cpu = figures["cpu_us_per_search"]
        assert set(cpu) == {*PROCESSES, "total"}
        assert cpu["total"] == pytest.approx(sum(cpu[name] for name in PROCESSES), abs=0.5)
    assert modes["hit"]["cpu_us_per_search"]["stub"] == 0
    # A few searches make a coarse CPU figure (/proc counts in clock ticks): no ratio then.
    for break_even in result["break_even_hit_ratio"].values():
        assert break_even is None or 0 <= break_even <= 1
    assert (tmp_path / "logs" / "memory-proxy-cached.log").exists()
