from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MEMORY_BANK_REQUESTS = Counter(
    "cga_memory_bank_requests_total",
    "Calls to the Memory Bank, by backend, operation and outcome.",
    ["backend", "operation", "outcome"],
)
MEMORY_BANK_DURATION = Histogram(
    "cga_memory_bank_request_duration_seconds",
    "Time of one call to the Memory Bank, retries included.",
    ["backend", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CIRCUIT_BREAKER_STATE = Gauge(
    "cga_circuit_breaker_state",
    "Circuit breaker state per backend: 0 closed, 1 half-open, 2 open.",
    ["backend"],
)
