"""The bench's own machinery against real processes: k6 runs a plan and counts what came back,
the stub Memory Bank answers over HTTP, the sequential client measures every target. No timing
is asserted, only what was sent and received."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.bench.latency import Probe, sequential_latencies
from scripts.bench.loadgen import Mode, Plan, run_plan, unique_content_body
from scripts.bench.stub_memory_bank import CALLS_PATH
from scripts.bench.system import start_program
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e
REQUESTS = 40
SEARCH = json.dumps({"query": "tea", "filters": {"user_id": "cga-ada"}, "top_k": 5})


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[ServiceProcess]:
    program = start_program("stub", "scripts.bench.stub_memory_bank", tmp_path, CALLS_PATH)
    yield program
    program.stop()


def _plan(stub: ServiceProcess, path: str, **options: Any) -> Plan:
    """``REQUESTS`` requests over 4 connections (30 s at most)."""
    return Plan([stub.base_url + path], 4, 30, iterations=REQUESTS, **options)


def test_a_counted_plan_sends_exactly_its_requests(stub: ServiceProcess, tmp_path: Path) -> None:
    result = run_plan(_plan(stub, "/search", body=SEARCH), tmp_path, "search", {})

    assert (result.expected, result.refused, result.unexpected) == (REQUESTS, 0, 0)
    assert httpx.get(stub.base_url + CALLS_PATH).json() == {"POST /search": REQUESTS}
    assert result.latency_ms.p50 <= result.latency_ms.p99


def test_answers_of_another_status_are_counted_as_unexpected(
    stub: ServiceProcess, tmp_path: Path
) -> None:
    result = run_plan(_plan(stub, "/search", body=SEARCH, expect=201), tmp_path, "search", {})

    assert (result.expected, result.unexpected) == (0, REQUESTS)


def test_unique_content_makes_every_write_a_new_memory(
    stub: ServiceProcess, tmp_path: Path
) -> None:
    body = json.loads(unique_content_body("noted:"))
    template = json.dumps(
        {"messages": [{"role": "user", "content": body["content"]}], "user_id": "u"}
    )
    plan = _plan(stub, "/memories", body=template, mode=Mode.UNIQUE_CONTENT)

    run_plan(plan, tmp_path, "writes", {})

    stored = httpx.get(stub.base_url + "/memories", params={"user_id": "u"}).json()["results"]
    assert len({memory["memory"] for memory in stored}) == REQUESTS


def test_sequential_latencies_cover_every_target(stub: ServiceProcess) -> None:
    probes = [
        Probe("search", stub.base_url + "/search", SEARCH.encode()),
        Probe("list", stub.base_url + "/memories?user_id=cga-ada", b"", method="GET"),
    ]

    measured = sequential_latencies(probes, rounds=20, warmup_rounds=5)

    assert set(measured) == {"search", "list"}
    assert httpx.get(stub.base_url + CALLS_PATH).json() == {
        "POST /search": 25,
        "GET /memories": 25,
    }
