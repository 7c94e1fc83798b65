"""The metrics contract of the design (§5), checked on the real processes' ``/metrics``: each
metric on the service that owns it, with its exact labels; enumerable labels present at 0 from
start-up; label values that stay bounded (route templates, never ids, tokens or raw paths)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import get_args

import pytest

from cga_auth.metrics import AUTH_FAILURE_REASONS, TokenGrant
from cga_gateway.ratelimit import LimitScope
from cga_gateway.settings import RedisDownPolicy
from cga_memory_proxy.metrics import MemoryBankOperation, MemoryBankOutcome, SearchCacheResult
from cga_memory_proxy.settings import BackendName
from cga_worker.metrics import JobOutcome
from tests.monitoring.conftest import MonitoredStack
from tests.support.metrics import Exposition

pytestmark = pytest.mark.e2e

HTTP_SERVICES = ("gateway", "auth", "memory-proxy")
# Labels Prometheus client libraries add to histogram and summary samples.
SAMPLE_LABELS = frozenset({"le", "quantile"})
# A UUID or a long hex run: an id that must never be part of a label value.
ID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-|[0-9a-f]{16,}", re.IGNORECASE)


@dataclass(frozen=True)
class Contracted:
    service: str
    name: str
    kind: str
    labels: frozenset[str]

    @property
    def family(self) -> str:
        """The family name the exposition parser gives it (counters lose ``_total``)."""
        return self.name.removesuffix("_total") if self.kind == "counter" else self.name

    def __str__(self) -> str:
        return f"{self.service}:{self.name}"


def _contracted(service: str, name: str, kind: str, *labels: str) -> Contracted:
    return Contracted(service, name, kind, frozenset(labels))


CONTRACT = (
    *(
        metric
        for service in HTTP_SERVICES
        for metric in (
            _contracted(
                service, "cga_http_requests_total", "counter", "handler", "method", "status"
            ),
            _contracted(
                service, "cga_http_request_duration_seconds", "histogram", "handler", "method"
            ),
        )
    ),
    _contracted("gateway", "cga_rate_limited_total", "counter", "scope"),
    _contracted("auth", "cga_tokens_issued_total", "counter", "grant"),
    _contracted("auth", "cga_auth_failures_total", "counter", "reason"),
    _contracted(
        "memory-proxy",
        "cga_memory_bank_requests_total",
        "counter",
        "backend",
        "operation",
        "outcome",
    ),
    _contracted(
        "memory-proxy",
        "cga_memory_bank_request_duration_seconds",
        "histogram",
        "backend",
        "operation",
    ),
    _contracted("memory-proxy", "cga_circuit_breaker_state", "gauge", "backend"),
    _contracted("memory-proxy", "cga_memory_bank_search_cache_total", "counter", "result"),
    _contracted("worker", "cga_queue_depth", "gauge"),
    _contracted("worker", "cga_queue_oldest_job_age_seconds", "gauge"),
    _contracted("worker", "cga_jobs_total", "counter", "outcome"),
    _contracted("worker", "cga_dead_letters", "gauge"),
)
# Every HTTP service has the HTTP metrics; each of the others belongs to one service.
SERVICE_OWNED = [metric for metric in CONTRACT if not metric.name.startswith("cga_http_")]


def _values(enumeration: Iterable[object]) -> frozenset[str]:
    return frozenset(str(value) for value in enumeration)


# Every value an enumerable label can take, as the code defines it: each must have its series
# from start-up.
ENUMERATED = [
    ("gateway", "cga_rate_limited_total", "scope", _values(LimitScope)),
    ("gateway", "cga_rate_limit_unavailable_total", "policy", _values(RedisDownPolicy)),
    ("auth", "cga_tokens_issued_total", "grant", _values(get_args(TokenGrant))),
    ("auth", "cga_auth_failures_total", "reason", _values(AUTH_FAILURE_REASONS)),
    ("memory-proxy", "cga_memory_bank_requests_total", "backend", _values([BackendName.LOCAL])),
    (
        "memory-proxy",
        "cga_memory_bank_requests_total",
        "operation",
        _values(get_args(MemoryBankOperation)),
    ),
    (
        "memory-proxy",
        "cga_memory_bank_requests_total",
        "outcome",
        _values(get_args(MemoryBankOutcome)),
    ),
    ("memory-proxy", "cga_circuit_breaker_state", "backend", _values([BackendName.LOCAL])),
    (
        "memory-proxy",
        "cga_memory_bank_search_cache_total",
        "result",
        _values(get_args(SearchCacheResult)),
    ),
    ("worker", "cga_jobs_total", "outcome", _values(JobOutcome)),
]

# Routes the traffic called with ids in the path: counted under the template, never the path.
TEMPLATED = {
    "gateway": {"/api/v1/memories/{memory_id}", "/api/v1/memories/jobs/{job_id}"},
    "memory-proxy": {
        "/internal/v1/owners/{owner}/memories/search",
        "/internal/v1/owners/{owner}/memories/{memory_id}",
    },
}

# What the traffic of the fixture did, as each owner must have counted it.
COUNTED = [
    ("auth", "cga_tokens_issued_total", {"grant": "authorization_code"}, 2),
    ("auth", "cga_tokens_issued_total", {"grant": "refresh_token"}, 1),
    ("auth", "cga_auth_failures_total", {"reason": "bad_credentials"}, 1),
    ("auth", "cga_auth_failures_total", {"reason": "invalid_grant"}, 1),
    ("gateway", "cga_rate_limited_total", {"scope": "app"}, 1),
    (
        "gateway",
        "cga_http_requests_total",
        {"handler": "/api/v1/memories/search", "method": "POST", "status": "2xx"},
        1,
    ),
    ("gateway", "cga_http_requests_total", {"handler": "/api/v1/memories", "status": "4xx"}, 1),
    (
        "memory-proxy",
        "cga_memory_bank_requests_total",
        {"operation": "search", "outcome": "success"},
        1,
    ),
    (
        "memory-proxy",
        "cga_memory_bank_requests_total",
        {"operation": "create_batch", "outcome": "success"},
        1,
    ),
    (
        "memory-proxy",
        "cga_memory_bank_request_duration_seconds_count",
        {"operation": "create_batch"},
        1,
    ),
    ("worker", "cga_jobs_total", {"outcome": "succeeded"}, 1),
]


def _label_sets(exposition: Exposition, family_name: str) -> set[frozenset[tuple[str, str]]]:
    family = exposition.families.get(family_name)
    samples = family.samples if family else []
    return {
        frozenset((k, v) for k, v in sample.labels.items() if k not in SAMPLE_LABELS)
        for sample in samples
    }


@pytest.mark.parametrize("metric", CONTRACT, ids=str)
def test_each_metric_is_exposed_by_its_service_with_exactly_its_labels(
    monitored_stack: MonitoredStack, metric: Contracted
) -> None:
    exposition = monitored_stack.after_traffic[metric.service]
    family = exposition.families.get(metric.family)

    assert family is not None, f"{metric} is not exposed"
    assert family.type == metric.kind
    assert family.samples, f"{metric} has no series"
    for sample in family.samples:
        assert set(sample.labels) - SAMPLE_LABELS == metric.labels, sample


@pytest.mark.parametrize("metric", SERVICE_OWNED, ids=str)
def test_a_service_metric_is_exposed_by_its_owner_only(
    monitored_stack: MonitoredStack, metric: Contracted
) -> None:
    exposing = {
        service
        for service, exposition in monitored_stack.after_traffic.items()
        if metric.family in exposition.families
    }

    assert exposing == {metric.service}


@pytest.mark.parametrize(
    ("service", "name", "label", "values"),
    ENUMERATED,
    ids=[f"{service}:{name}:{label}" for service, name, label, _ in ENUMERATED],
)
def test_every_value_of_an_enumerable_label_has_a_series_from_start_up(
    monitored_stack: MonitoredStack, service: str, name: str, label: str, values: frozenset[str]
) -> None:
    exposition = monitored_stack.at_start[service]
    family = exposition.families.get(name.removesuffix("_total"))
    assert family is not None, f"{service}:{name} is not exposed at start-up"
    at_start = {sample.labels[label] for sample in family.samples if sample.name == name}

    assert at_start == values
    if name.endswith("_total"):
        assert {sample.value for sample in family.samples if sample.name == name} == {0.0}


def test_traffic_adds_no_series_to_metrics_started_at_zero(
    monitored_stack: MonitoredStack,
) -> None:
    for service, at_start in monitored_stack.at_start.items():
        after = monitored_stack.after_traffic[service]
        for family_name, family in at_start.families.items():
            if not family_name.startswith("cga_") or not family.samples:
                continue
            grown = _label_sets(after, family_name) - _label_sets(at_start, family_name)
            assert not grown, f"{service}:{family_name} grew series {grown}"


@pytest.mark.parametrize(
    ("service", "sample_name", "labels", "at_least"),
    COUNTED,
    ids=[f"{service}:{name}:{sorted(labels.values())}" for service, name, labels, _ in COUNTED],
)
def test_the_traffic_is_counted_by_the_service_that_served_it(
    monitored_stack: MonitoredStack,
    service: str,
    sample_name: str,
    labels: dict[str, str],
    at_least: int,
) -> None:
    before = monitored_stack.at_start[service].value(sample_name, **labels)
    after = monitored_stack.after_traffic[service].value(sample_name, **labels)

    assert after - before >= at_least


def test_no_label_value_names_a_person_a_secret_or_one_object(
    monitored_stack: MonitoredStack,
) -> None:
    identifiers = monitored_stack.traffic.identifiers()
    for service, exposition in monitored_stack.after_traffic.items():
        for family in exposition.families.values():
            for sample in family.samples:
                for label, value in sample.labels.items():
                    where = f"{service}:{sample.name}{{{label}={value!r}}}"
                    assert not ID_PATTERN.search(value), f"an id in {where}"
                    for what, identifier in identifiers.items():
                        assert identifier not in value, f"the {what} in {where}"


def _handlers(exposition: Exposition) -> set[str]:
    return {
        dict(label_set)["handler"] for label_set in _label_sets(exposition, "cga_http_requests")
    }


@pytest.mark.parametrize("service", TEMPLATED)
def test_calls_with_ids_in_their_paths_are_counted_under_the_route_template(
    monitored_stack: MonitoredStack, service: str
) -> None:
    assert TEMPLATED[service] <= _handlers(monitored_stack.after_traffic[service])


def test_the_gateway_counts_actions_calls_under_their_openapi_paths(
    monitored_stack: MonitoredStack,
) -> None:
    gateway = monitored_stack.services["gateway"]
    paths = set(gateway.get("/openapi.json").json()["paths"])

    handlers = _handlers(monitored_stack.after_traffic["gateway"])

    # The request to a path no route serves is counted too, under one shared value.
    assert handlers - paths == {"none"}
