"""docs/performance.md and its records: a measuring command rewrites only its own section, and
the bench's section shows every figure with its runs, goal and verdict."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from scripts.bench.figures import (
    GATEWAY_LATENCY,
    SEARCH_THROUGHPUT,
    WORKER_DRAIN,
    Layer,
    Run,
)
from scripts.bench.loadgen import parse_summary
from scripts.bench.settings import BenchSettings
from scripts.bench.stats import Percentiles
from scripts.bench.summary import BenchReport
from scripts.perf.report import markdown_table, write_section

HAND_WRITTEN = (
    "# Performance\n\nHow we measure.\n\n"
    "<!-- begin: chaos -->\nchaos table\n<!-- end: chaos -->\n\nAfter.\n"
)


def test_a_new_section_is_appended_and_its_record_written(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/performance.md").write_text(HAND_WRITTEN)

    record_path = write_section("bench", "| a |\n", {"value": 1}, root=tmp_path)

    text = (tmp_path / "docs/performance.md").read_text()
    assert text.startswith(HAND_WRITTEN.rstrip("\n"))
    assert text.endswith("<!-- begin: bench -->\n| a |\n<!-- end: bench -->\n")
    assert record_path == tmp_path / "docs/performance/bench.json"
    assert json.loads(record_path.read_text()) == {"value": 1}


def test_rewriting_a_section_keeps_the_prose_and_the_other_sections(tmp_path: Path) -> None:
    write_section("bench", "first run", {}, root=tmp_path)
    report = tmp_path / "docs/performance.md"
    report.write_text(report.read_text().replace("# Performance\n", HAND_WRITTEN))

    write_section("bench", "second run", {}, root=tmp_path)

    text = report.read_text()
    assert "second run" in text
    assert "first run" not in text
    assert "How we measure." in text
    assert "chaos table" in text
    assert text.count("<!-- begin: bench -->") == 1


def test_a_report_missing_altogether_is_started(tmp_path: Path) -> None:
    write_section("bench", "numbers", {}, root=tmp_path)

    assert (tmp_path / "docs/performance.md").read_text().startswith("# Performance\n")


def test_markdown_table_has_a_header_a_rule_and_a_row_each() -> None:
    assert markdown_table(["a", "b"], [["1", "2"], ["3", "4"]]).splitlines() == [
        "| a | b |",
        "|---|---|",
        "| 1 | 2 |",
        "| 3 | 4 |",
    ]


def _report() -> BenchReport:
    bare = Run("bare FastAPI POST", "1,320 req/s (26,400 in 20 s)", {"per_second": 1320})
    search = Run("gateway search", "410 req/s (8,200 in 20 s)", {"per_second": 410})
    return BenchReport(
        date="2025-01-01 00:00 UTC",
        machine={"cpu": "Test CPU", "cores": "2", "kernel": "Linux 6", "python": "3.11.7"},
        commit="abc123",
        settings={"seconds": "20"},
        figures=[
            GATEWAY_LATENCY.figure(1.8, (Run("stub Memory Bank called directly", "p50 0.2 ms"),)),
            SEARCH_THROUGHPUT.figure(410 / 1320, (bare, search), "16 connections"),
            WORKER_DRAIN.unmeasured("its run failed"),
        ],
        latency_budget=[Layer("gateway hop", Percentiles(1.2, 3.0, 5.0))],
        memory_bank_impact={"delete": {"DELETE /memories/{id}": 1.0, "GET /memories/{id}": 1.0}},
        cpu_us_per_request={
            "search": {"gateway": 2000.0, "memory-proxy": 1500.0, "k6": 300.0},
            "load": {"gateway": 2500.0, "memory-proxy": 2000.0, "worker": 500.0},
        },
        requests_per_user_second=1.0,
        search_cache={
            "modes": {
                mode: {
                    "searches": 1500,
                    "memory_bank_searches": reached,
                    "latency_ms": {"p50": p50, "p95": 2 * p50, "p99": 3 * p50},
                    "cpu_us_per_search": {"memory-proxy": cpu, "redis": 50.0, "total": cpu + 50},
                }
                for mode, reached, p50, cpu in (
                    ("off", 1500, 0.9, 750.0),
                    ("hit", 0, 0.7, 580.0),
                    ("miss", 1500, 1.3, 1100.0),
                )
            },
            "break_even_hit_ratio": {"cpu": 0.68, "latency_p50": None},
        },
    )


def test_the_section_gives_each_figure_its_value_goal_and_verdict() -> None:
    markdown = _report().markdown()

    assert "| Gateway added latency, p50 (1 connection) | 1.80 ms | ≤ 1.00 ms | **missed** |" in (
        markdown
    )
    assert "| 0.31 | ≥ 0.25 | met |" in markdown
    assert "| — | ≥ 1,000 jobs/s | **not measured** |" in markdown
    assert "1 of 3 goals met" in markdown
    assert "Test CPU, 2 cores, Linux 6, Python 3.11.7; commit `abc123`" in markdown


def test_the_section_shows_both_runs_of_a_figure_with_their_raw_numbers() -> None:
    markdown = _report().markdown()

    assert "| bare FastAPI POST | 1,320 req/s (26,400 in 20 s) |" in markdown
    assert "| gateway search | 410 req/s (8,200 in 20 s) |" in markdown
    assert "|  |  | 16 connections |" in markdown


def test_the_section_counts_upstream_calls_and_sizes_replicas() -> None:
    markdown = _report().markdown()

    assert "| delete | 2.00 | DELETE /memories/{id}: 1.00, GET /memories/{id}: 1.00 |" in markdown
    # 1,000 users x 1 request/s x 2.5 ms = 2.5 cores; at 60 % per replica, 5 replicas.
    assert "| gateway | 1 | 5 | 42 |" in markdown
    # k6 is the load generator, never what saturates first.
    assert "- search: gateway, 2,000 µs per request" in markdown


def test_the_section_shows_the_search_cache_in_each_mode_and_its_break_even() -> None:
    markdown = _report().markdown()

    assert (
        "| cache on, the same search again (hits) | 0 of 1,500 | 0.70 / 1.40 / 2.10 |"
        " memory-proxy 580 µs, redis 50 µs | 630 µs |"
    ) in markdown
    assert "| without the cache | 1,500 of 1,500 |" in markdown
    assert "68% by CPU, never (hits saved nothing) by p50 latency" in markdown


def test_the_record_is_json_with_verdicts_and_no_nan() -> None:
    record = _report().record()

    text = json.dumps(record, allow_nan=False)
    figures = {figure["key"]: figure for figure in json.loads(text)["figures"]}
    assert figures["search_throughput_ratio"]["verdict"] == "met"
    assert figures["search_throughput_ratio"]["goal"] == "≥ 0.25"
    assert figures["worker_drain_per_second"]["value"] is None
    assert record["sizing"]["gateway"]["1000"] == 5


def test_an_unmeasured_figure_says_why() -> None:
    figure = WORKER_DRAIN.unmeasured("k6 crashed")

    assert math.isnan(figure.value)
    assert figure.verdict == "not measured"
    assert figure.note == "not measured: k6 crashed"


def test_k6_summary_gives_counts_and_percentiles() -> None:
    summary = {
        "metrics": {
            "http_req_duration": {"med": 4.4, "p(95)": 12.0, "p(99)": 21.3, "max": 90.0},
            "bench_expected": {"count": 12870, "rate": 2572.5},
            "bench_unexpected": {"count": 3, "rate": 0.6},
        }
    }

    expected, refused, unexpected, latency = parse_summary(summary)

    # A counter that never moved is missing from the export: zero.
    assert (expected, refused, unexpected) == (12870, 0, 3)
    assert latency == Percentiles(4.4, 12.0, 21.3)


def test_bench_settings_come_from_bench_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BENCH_SECONDS", "5")
    monkeypatch.setenv("BENCH_CONNECTIONS", "8")
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("BENCH_USERS", "")

    settings = BenchSettings.from_environment()

    assert settings.seconds == 5.0
    assert settings.connections == 8
    assert settings.results_dir == tmp_path
    assert settings.users == BenchSettings().users
