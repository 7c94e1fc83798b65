"""The overview dashboard: traffic, errors and latency per route, rate limits, the Memory Bank
and its circuit breaker, the queue of memory writes, tokens and sign-in failures."""

from __future__ import annotations

from functools import partial

from cga_memory_proxy.breaker import BreakerState
from monitoring.grafana.model import (
    GREEN,
    Json,
    Panel,
    Query,
    Row,
    Threshold,
    dashboard,
    value_mappings,
)
from monitoring.grafana.promql import (
    ACTIONS_ROUTES,
    ANY_JOB,
    highest,
    job,
    quantile,
    rate,
    series,
    share,
    summed,
)

UID = "cga-overview"
QUANTILES = (0.5, 0.95, 0.99)
GATEWAY, AUTH, MEMORY_PROXY, WORKER = (
    job("gateway"),
    job("auth"),
    job("memory-proxy"),
    job("worker"),
)
HTTP_REQUESTS = "cga_http_requests_total"
HTTP_DURATION = "cga_http_request_duration_seconds"
MEMORY_BANK_DURATION = "cga_memory_bank_request_duration_seconds"
SEARCH_CACHE = "cga_memory_bank_search_cache_total"
BREAKER_STATE = series("cga_circuit_breaker_state", [MEMORY_PROXY])
# Every worker reports the same outbox figures: any one of them will do.
QUEUE_DEPTH = highest(series("cga_queue_depth", [WORKER]))
DEAD_LETTERS = highest(series("cga_dead_letters", [WORKER]))
BREAKER_COLORS = {
    BreakerState.CLOSED: "green",
    BreakerState.HALF_OPEN: "yellow",
    BreakerState.OPEN: "red",
}
BREAKER_STATES = value_mappings(
    {
        state.value: (state.name.lower().replace("_", "-"), BREAKER_COLORS[state])
        for state in BreakerState
    }
)


# The small stats of the first row, six to a line.
_glance = partial(Panel, kind="stat", width=4, height=4)


def _percent(q: float) -> str:
    return f"p{q * 100:g}"


def _legend(label: str) -> str:
    return "{{" + label + "}}"


def _per_second_by(metric: str, job: str, label: str) -> Query:
    """A counter's rate on one service's pods, one series per value of ``label``."""
    return Query(summed(rate(metric, [job]), [label]), _legend(label))


def _quantile_by(q: float, histogram: str, job: str, label: str) -> Query:
    """A histogram's ``q`` quantile on one service's pods, one series per value of ``label``."""
    return Query(quantile(q, histogram, [job], [label]), _legend(label))


def _error_ratio(matchers: list[str], by: list[str]) -> str:
    return share(
        summed(rate(HTTP_REQUESTS, [*matchers, 'status="5xx"']), by),
        summed(rate(HTTP_REQUESTS, matchers), by),
    )


def _at_a_glance() -> Row:
    actions = [GATEWAY, ACTIONS_ROUTES]
    return Row(
        "At a glance",
        [
            _glance(
                "Actions requests",
                "Calls to the Actions API (/api/v1/*) per second, all routes.",
                [Query(summed(rate(HTTP_REQUESTS, actions)))],
                unit="reqps",
            ),
            _glance(
                "Actions 5xx ratio",
                "Share of Actions API calls answered with a 5xx (the alert fires above 1 %).",
                [Query(_error_ratio(actions, []))],
                unit="percentunit",
                decimals=2,
                thresholds=[GREEN, Threshold("orange", 0.001), Threshold("red", 0.01)],
            ),
            _glance(
                "Actions p95 latency",
                "95th percentile of the Actions API's response time (the alert fires above 2 s).",
                [Query(quantile(0.95, HTTP_DURATION, actions))],
                unit="s",
                thresholds=[GREEN, Threshold("orange", 1), Threshold("red", 2)],
            ),
            _glance(
                "Circuit breaker",
                "The worst breaker state over memory-proxy pods and backends.",
                [Query(highest(BREAKER_STATE))],
                mappings=BREAKER_STATES,
            ),
            _glance(
                "Writes waiting",
                "Accepted memory writes not written yet (the outbox; every worker reports it).",
                [Query(QUEUE_DEPTH)],
                thresholds=[GREEN, Threshold("orange", 100), Threshold("red", 1000)],
            ),
            _glance(
                "Dead letters",
                "Memory writes that failed for good: replay them with cga-admin jobs replay.",
                [Query(DEAD_LETTERS)],
                thresholds=[GREEN, Threshold("red", 1)],
            ),
        ],
    )


def _traffic() -> Row:
    return Row(
        "Traffic and errors",
        [
            Panel(
                "Requests by service",
                "HTTP requests per second each service answered (health and metrics excluded).",
                [_per_second_by(HTTP_REQUESTS, ANY_JOB, "job")],
                unit="reqps",
            ),
            Panel(
                "5xx ratio by service",
                "Share of each service's requests answered with a 5xx.",
                [Query(_error_ratio([ANY_JOB], ["job"]), _legend("job"))],
                unit="percentunit",
                minimum=0,
                threshold_lines=True,
                thresholds=[GREEN, Threshold("red", 0.01)],
            ),
            Panel(
                "Actions requests by route and status",
                "Calls to the gateway per second, by route template and status class.",
                [
                    Query(
                        summed(rate(HTTP_REQUESTS, [GATEWAY]), ["handler", "method", "status"]),
                        "{{method}} {{handler}} {{status}}",
                    )
                ],
                unit="reqps",
            ),
            Panel(
                "Rate-limited calls",
                "Calls refused by a rate limit (429), by scope; and calls whose limit could not "
                "be checked while Redis was unreachable, by the policy applied.",
                [
                    Query(
                        summed(rate("cga_rate_limited_total", [GATEWAY]), ["scope"]),
                        "limited: {{scope}}",
                    ),
                    Query(
                        summed(rate("cga_rate_limit_unavailable_total", [GATEWAY]), ["policy"]),
                        "unchecked: {{policy}}",
                    ),
                ],
                unit="reqps",
            ),
            Panel(
                "Targets up",
                "Pods Prometheus scrapes successfully, by service.",
                [Query(summed(series("up", [ANY_JOB]), ["job"]), _legend("job"))],
                width=24,
                height=6,
                minimum=0,
            ),
        ],
    )


def _latency() -> Row:
    return Row(
        "Actions latency by route",
        [
            Panel(
                f"{_percent(q)} by route",
                f"{_percent(q)} of the gateway's response time per route template.",
                [_quantile_by(q, HTTP_DURATION, GATEWAY, "handler")],
                unit="s",
                width=8,
            )
            for q in QUANTILES
        ],
    )


def _memory_bank() -> Row:
    return Row(
        "Memory Bank",
        [
            Panel(
                "Circuit breaker state",
                "Per backend and memory-proxy pod: closed, half-open (one trial call) or open "
                "(calls fail fast with 503).",
                [Query(highest(BREAKER_STATE, ["backend", "pod"]), "{{backend}} {{pod}}")],
                kind="state-timeline",
                mappings=BREAKER_STATES,
                width=24,
                height=5,
            ),
            Panel(
                "Memory Bank calls by outcome",
                "Calls memory-proxy made per second, by operation and outcome (rejected: the "
                "breaker was open; overloaded: no free slot).",
                [
                    Query(
                        summed(
                            rate("cga_memory_bank_requests_total", [MEMORY_PROXY]),
                            ["backend", "operation", "outcome"],
                        ),
                        "{{operation}} {{outcome}} ({{backend}})",
                    )
                ],
                unit="ops",
            ),
            Panel(
                "Memory Bank latency",
                "Time of one call to the Memory Bank, retries included, all operations.",
                [
                    Query(quantile(q, MEMORY_BANK_DURATION, [MEMORY_PROXY]), _percent(q))
                    for q in QUANTILES
                ],
                unit="s",
            ),
            Panel(
                "Memory Bank p95 latency by operation",
                "95th percentile of one call to the Memory Bank, per operation.",
                [_quantile_by(0.95, MEMORY_BANK_DURATION, MEMORY_PROXY, "operation")],
                unit="s",
                width=24,
            ),
            Panel(
                "Search cache hit ratio",
                "Share of searches answered from memory-proxy's search cache (decision 14); "
                "empty while the cache is off. Worth keeping above its break-even share "
                "(docs/performance.md, Search cache).",
                [
                    Query(
                        share(
                            summed(rate(SEARCH_CACHE, [MEMORY_PROXY, 'result="hit"'])),
                            summed(rate(SEARCH_CACHE, [MEMORY_PROXY, 'result=~"hit|miss"'])),
                        ),
                        "hits",
                    )
                ],
                unit="percentunit",
                minimum=0,
            ),
            Panel(
                "Search cache lookups by result",
                "Per second: hits, misses (the search went to the Memory Bank) and errors "
                "(Redis failed; the search went to the Memory Bank).",
                [
                    Query(
                        summed(rate(SEARCH_CACHE, [MEMORY_PROXY]), ["result"]),
                        _legend("result"),
                    )
                ],
                unit="ops",
            ),
        ],
    )


def _writes() -> Row:
    return Row(
        "Memory writes (worker)",
        [
            Panel(
                "Queue depth",
                "Accepted memory writes not finished yet, from the outbox.",
                [Query(QUEUE_DEPTH, "waiting")],
                width=8,
                minimum=0,
            ),
            Panel(
                "Oldest unfinished write",
                "Age of the oldest accepted write that is not finished.",
                [Query(highest(series("cga_queue_oldest_job_age_seconds", [WORKER])), "oldest")],
                unit="s",
                width=8,
                minimum=0,
            ),
            Panel(
                "Dead letters",
                "Writes that failed for good and wait for a replay.",
                [Query(DEAD_LETTERS, "dead letters")],
                width=8,
                minimum=0,
                threshold_lines=True,
                thresholds=[GREEN, Threshold("red", 1)],
            ),
            Panel(
                "Job runs by outcome",
                "Memory-write runs per second, by outcome; and writes the sweeper enqueued again "
                "(lost by Redis or by a dead worker).",
                [
                    _per_second_by("cga_jobs_total", WORKER, "outcome"),
                    Query(summed(rate("cga_jobs_requeued_total", [WORKER])), "requeued"),
                ],
                unit="ops",
            ),
            Panel(
                "Job run p95 duration by outcome",
                "95th percentile of one memory-write run, by outcome.",
                [_quantile_by(0.95, "cga_job_duration_seconds", WORKER, "outcome")],
                unit="s",
            ),
        ],
    )


def _sign_in() -> Row:
    return Row(
        "Sign-in and tokens (auth)",
        [
            Panel(
                "Tokens issued by grant",
                "Access tokens issued per second, by grant type.",
                [_per_second_by("cga_tokens_issued_total", AUTH, "grant")],
                unit="ops",
            ),
            Panel(
                "Auth failures by reason",
                "Failed sign-ins, client authentications and token requests per second, by reason.",
                [_per_second_by("cga_auth_failures_total", AUTH, "reason")],
                unit="ops",
            ),
        ],
    )


def overview() -> Json:
    return dashboard(
        uid=UID,
        title="custom-gpt-adapter / Overview",
        description="The Actions API, the Memory Bank, memory writes and sign-in at a glance.",
        namespace_source=f"up{{{ANY_JOB}}}",
        rows=[_at_a_glance(), _traffic(), _latency(), _memory_bank(), _writes(), _sign_in()],
    )
