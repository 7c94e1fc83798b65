"""memory-proxy's metrics: every call to the Memory Bank, and each backend's breaker."""

from __future__ import annotations

from typing import Literal, get_args

from prometheus_client import Counter, Gauge, Histogram

from cga_core.metrics import start_at_zero

# create_batch: many memories stored in one call (the local backend); other backends count each
# memory of a batch as a create.
MemoryBankOperation = Literal["search", "list", "get", "delete", "create", "create_batch"]
# rejected: the breaker is open; overloaded: no free slot in time; error: anything else failed.
MemoryBankOutcome = Literal["success", "error", "timeout", "rejected", "overloaded"]

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
# hit: served from the cache; miss: read from the Memory Bank; error: Redis failed (read from the
# Memory Bank, or a change not recorded in the cache).
SearchCacheResult = Literal["hit", "miss", "error"]
SEARCH_CACHE = Counter(
    "cga_memory_bank_search_cache_total",
    "Searches looked up in the search cache, and failures of the cache, by result.",
    ["result"],
)
start_at_zero(SEARCH_CACHE, result=get_args(SearchCacheResult))
CIRCUIT_BREAKER_STATE = Gauge(
    "cga_circuit_breaker_state",
    "Circuit breaker state per backend: 0 closed, 1 half-open, 2 open.",
    ["backend"],
)


def start_backend_at_zero(backend: str) -> None:
    """The backend's series for every operation and outcome, before its first call."""
    operations = get_args(MemoryBankOperation)
    start_at_zero(
        MEMORY_BANK_REQUESTS,
        backend=[backend],
        operation=operations,
        outcome=get_args(MemoryBankOutcome),
    )
    start_at_zero(MEMORY_BANK_DURATION, backend=[backend], operation=operations)
