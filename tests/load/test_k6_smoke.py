"""The k6 smoke scenario as CI runs it: real k6 against the real services (private PostgreSQL
and Redis), with tokens from the full OAuth flow. Its thresholds decide the verdict; its
exported summary is the record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.load.run_k6 import THRESHOLDS_CROSSED, crossed_thresholds, main, run_scenario
from scripts.load.stack import Targets, start_services, stop_services, targets_of
from tests.support.env import TestStack

pytestmark = pytest.mark.e2e
# The Actions API as the smoke scenario must exercise it, by the `endpoint` tag of its calls.
ENDPOINTS = ("search", "write", "job", "list", "get", "delete")
QUIET = ["--quiet"]  # no progress bar in the test log; the summary is printed all the same


@pytest.fixture(scope="module")
def targets(stack: TestStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Targets]:
    services = start_services(stack.environment(), tmp_path_factory.mktemp("load-logs"))
    yield targets_of(services)
    stop_services(services)


def read_summary(path: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(path.read_text())
    return summary


def test_smoke_calls_every_endpoint_and_holds_its_thresholds(
    targets: Targets, tmp_path: Path
) -> None:
    summary_path = tmp_path / "summary.json"

    status = run_scenario(
        "smoke", {**targets.environment(), "LOAD_DURATION": "5s"}, summary_path, QUIET
    )

    summary = read_summary(summary_path)
    assert status == 0, crossed_thresholds(summary)
    metrics = summary["metrics"]
    assert metrics["checks"]["passes"] > 0
    assert metrics["checks"]["fails"] == 0
    assert metrics["http_req_failed{scenario:smoke}"]["thresholds"] == {"rate<=0": False}
    for endpoint in ENDPOINTS:
        assert metrics[f"http_reqs{{scenario:smoke,endpoint:{endpoint}}}"]["count"] > 0, endpoint
        latency = metrics[f"http_req_duration{{scenario:smoke,endpoint:{endpoint}}}"]
        assert latency["thresholds"] == {"p(95)<1000": False, "p(99)<2000": False}, endpoint


def test_a_crossed_threshold_fails_the_run_with_99_and_is_reported(
    targets: Targets,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in targets.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOAD_DURATION", "2s")
    monkeypatch.setenv("LOAD_P95_MS", "0.001")

    status = main(["smoke", "--external", "--results-dir", str(tmp_path), "--", *QUIET])

    assert status == THRESHOLDS_CROSSED
    [record] = tmp_path.iterdir()
    crossed = crossed_thresholds(read_summary(record / "summary.json"))
    assert "http_req_duration{scenario:smoke}: p(95)<0.001" in crossed
    # Only the forced limit was crossed: the calls themselves all succeeded.
    assert all(threshold.endswith("p(95)<0.001") for threshold in crossed), crossed
    report = capsys.readouterr().err
    assert "k6 smoke: thresholds crossed" in report
    assert "http_req_duration{scenario:smoke}: p(95)<0.001" in report
