"""Trace ids without tracing: with no OTLP endpoint nothing is recorded, yet the log lines of a
search and of a write carry one trace id in every service the call crossed — the gateway,
memory-proxy and the worker's job."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.actions import GptUser
from tests.support.env import IsolatedStack
from tests.support.logs import logged, request_trace_id
from tests.support.processes import ServiceProcess
from tests.support.stacks import running_system

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def services(
    isolated_stack: IsolatedStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    environment = isolated_stack("e2e_trace_ids").environment()
    assert "CGA_OTEL_EXPORTER_OTLP_ENDPOINT" not in environment
    with running_system(environment, tmp_path_factory.mktemp("trace-ids-logs")) as services:
        yield services


def test_a_searchs_log_lines_share_one_trace_id_across_services(
    services: dict[str, ServiceProcess], api: httpx.Client, user: GptUser
) -> None:
    response = api.post("/api/v1/memories/search", json={"query": "tea"}, headers=user.headers)
    assert response.status_code == 200, response.text

    trace_id = request_trace_id(services["gateway"], response.headers["x-request-id"])
    (proxied,) = logged(services["memory-proxy"], "http.request.completed", trace_id=trace_id)
    assert proxied["path"].endswith("/memories/search")


def test_a_writes_job_logs_the_trace_id_of_the_request_that_accepted_it(
    services: dict[str, ServiceProcess], api: httpx.Client, user: GptUser
) -> None:
    response = api.post(
        "/api/v1/memories", json={"content": "Ada's tea comes from Kyoto"}, headers=user.headers
    )
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]

    trace_id = request_trace_id(services["gateway"], response.headers["x-request-id"])
    (succeeded,) = logged(services["worker"], "worker.write.succeeded", job_id=job_id)
    assert succeeded["trace_id"] == trace_id
    (stored,) = logged(services["memory-proxy"], "http.request.completed", trace_id=trace_id)
    assert stored["method"] == "POST"
    # The worker writes through memory-proxy's batch endpoint, a batch of one here.
    assert stored["path"] == "/internal/v1/memories/batch"


def test_each_request_starts_a_trace_of_its_own(
    services: dict[str, ServiceProcess], api: httpx.Client, user: GptUser
) -> None:
    request_ids = [
        api.get("/api/v1/memories", headers=user.headers).headers["x-request-id"] for _ in range(3)
    ]

    trace_ids = {request_trace_id(services["gateway"], request_id) for request_id in request_ids}
    assert len(trace_ids) == 3
