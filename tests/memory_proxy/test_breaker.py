"""The circuit breaker: its rules with a fake clock, then a real ``cga-memory-proxy`` process in
front of a failing mem0, observed from the outside (HTTP answers, upstream requests, /metrics)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from cga_core.internal import DEVELOPMENT_INTERNAL_TOKEN, INTERNAL_TOKEN_HEADER
from cga_core.memories import Memory, MemoryPage, NewMemory, SearchQuery
from cga_memory_proxy.breaker import BreakerOpen, BreakerState, CircuitBreaker
from cga_memory_proxy.resilience import ResilientBackend
from cga_memory_proxy.settings import MemoryProxySettings
from tests.memory_proxy.mem0_simulator import Mem0Simulator, Mode, running_simulator
from tests.support.env import TestStack
from tests.support.metrics import Exposition
from tests.support.processes import ServiceProcess, start_service, wait_for

THRESHOLD = 3
COOLDOWN = 10.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def states() -> list[BreakerState]:
    return []


@pytest.fixture
def breaker(clock: FakeClock, states: list[BreakerState]) -> CircuitBreaker:
    return CircuitBreaker(
        "test", failure_threshold=THRESHOLD, cooldown=COOLDOWN, on_change=states.append, clock=clock
    )


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.record_failure()


def _open(breaker: CircuitBreaker) -> None:
    _fail(breaker, THRESHOLD)
    assert breaker.state is BreakerState.OPEN


# --- the rules, with a fake clock ---


def test_stays_closed_below_the_failure_threshold(breaker: CircuitBreaker) -> None:
    _fail(breaker, THRESHOLD - 1)

    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()  # still lets calls through


def test_opens_after_threshold_consecutive_failures(breaker: CircuitBreaker) -> None:
    _fail(breaker, THRESHOLD)

    assert breaker.state is BreakerState.OPEN


def test_a_success_resets_the_consecutive_failure_count(breaker: CircuitBreaker) -> None:
    _fail(breaker, THRESHOLD - 1)
    breaker.before_call()
    breaker.record_success()
    _fail(breaker, THRESHOLD - 1)

    assert breaker.state is BreakerState.CLOSED


def test_rejects_with_the_remaining_cooldown_while_open(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    _open(breaker)
    clock.advance(4)

    with pytest.raises(BreakerOpen) as raised:
        breaker.before_call()

    assert raised.value.retry_after == pytest.approx(COOLDOWN - 4)
    assert breaker.state is BreakerState.OPEN


def test_half_opens_after_the_cooldown_and_lets_exactly_one_trial_through(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    _open(breaker)
    clock.advance(COOLDOWN)

    breaker.before_call()  # the trial
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(BreakerOpen):
        breaker.before_call()


def test_closes_when_the_trial_succeeds(breaker: CircuitBreaker, clock: FakeClock) -> None:
    _open(breaker)
    clock.advance(COOLDOWN)
    breaker.before_call()

    breaker.record_success()

    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()
    breaker.before_call()  # no longer limited to one call at a time


def test_reopens_for_a_full_cooldown_when_the_trial_fails(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    _open(breaker)
    clock.advance(COOLDOWN + 5)
    breaker.before_call()

    breaker.record_failure()

    assert breaker.state is BreakerState.OPEN
    with pytest.raises(BreakerOpen) as raised:
        breaker.before_call()
    assert raised.value.retry_after == pytest.approx(COOLDOWN)


def test_a_released_trial_lets_the_next_call_be_the_trial(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    _open(breaker)
    clock.advance(COOLDOWN)
    breaker.before_call()

    breaker.release()

    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()  # a new trial, not a rejection


def test_the_state_callback_sees_closed_open_half_open_closed(
    breaker: CircuitBreaker, clock: FakeClock, states: list[BreakerState]
) -> None:
    _open(breaker)
    clock.advance(COOLDOWN)
    breaker.before_call()
    breaker.record_success()

    assert [int(state) for state in states] == [0, 2, 1, 0]


class _HangingBackend:
    """A Memory Bank call that never ends, so it can be cancelled mid-flight."""

    name = "hanging"

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def search(self, owner: str, query: SearchQuery) -> list[Memory]:
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def list(self, owner: str, limit: int, cursor: str | None) -> MemoryPage:
        raise NotImplementedError

    async def get(self, owner: str, memory_id: str) -> Memory | None:
        raise NotImplementedError

    async def delete(self, owner: str, memory_id: str) -> bool:
        raise NotImplementedError

    async def create(self, owner: str, memory: NewMemory) -> Memory:
        raise NotImplementedError


async def test_a_cancelled_trial_call_releases_the_half_open_breaker(clock: FakeClock) -> None:
    settings = MemoryProxySettings(
        env="test", breaker_failure_threshold=1, request_timeout=timedelta(seconds=30)
    )
    backend = _HangingBackend()
    resilient = ResilientBackend(backend, settings, idempotent_create=False)
    resilient.breaker.clock = clock
    resilient.breaker.before_call()
    resilient.breaker.record_failure()
    clock.advance(settings.breaker_cooldown.total_seconds())

    trial = asyncio.create_task(resilient.search("cga-alice", SearchQuery(query="tea")))
    await asyncio.wait_for(backend.started.wait(), 5)
    assert resilient.breaker.state is BreakerState.HALF_OPEN
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial

    assert resilient.breaker.trial_in_flight is False
    resilient.breaker.before_call()  # the next call may be the trial


# --- a real memory-proxy process in front of a failing mem0 ---

API_KEY = "m0-breaker-test-key"
PROCESS_COOLDOWN = 1.0
SEARCH = "/internal/v1/owners/alice/memories/search"


@pytest.fixture
def simulator() -> Iterator[Mem0Simulator]:
    with running_simulator(API_KEY) as simulator:
        yield simulator


@pytest.fixture
def memory_proxy(
    stack: TestStack, simulator: Mem0Simulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    environment = {
        **stack.environment(),
        **simulator.backend_environment(),
        "CGA_MEMORY_PROXY_BREAKER_FAILURE_THRESHOLD": str(THRESHOLD),
        "CGA_MEMORY_PROXY_BREAKER_COOLDOWN": f"{PROCESS_COOLDOWN}s",
        "CGA_MEMORY_PROXY_RETRY_ATTEMPTS": "1",
        "CGA_MEMORY_PROXY_REQUEST_TIMEOUT": "5s",
    }
    service = start_service(
        "memory-proxy", environment, tmp_path_factory.mktemp("memory-proxy-logs")
    )
    service.wait_until_live()
    yield service
    service.stop()


def _search(memory_proxy: ServiceProcess) -> httpx.Response:
    return httpx.post(
        memory_proxy.base_url + SEARCH,
        json={"query": "tea"},
        headers={INTERNAL_TOKEN_HEADER: DEVELOPMENT_INTERNAL_TOKEN},
        timeout=10,
    )


def _metric(memory_proxy: ServiceProcess, sample_name: str, **labels: str) -> float:
    return Exposition.scrape(memory_proxy).value(sample_name, **labels)


def _breaker_state(memory_proxy: ServiceProcess) -> float:
    return _metric(memory_proxy, "cga_circuit_breaker_state", backend="mem0")


def _outcomes(memory_proxy: ServiceProcess, outcome: str) -> float:
    return _metric(
        memory_proxy,
        "cga_memory_bank_requests_total",
        backend="mem0",
        operation="search",
        outcome=outcome,
    )


def _open_the_breaker(memory_proxy: ServiceProcess, simulator: Mem0Simulator) -> float:
    """Fail ``THRESHOLD`` searches at the Memory Bank; returns when the breaker opened."""
    simulator.fail(Mode.PROVIDER_ERROR)
    for attempt in range(1, THRESHOLD + 1):
        response = _search(memory_proxy)
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "memory_bank_unavailable"
        assert simulator.request_count() == attempt  # every one of them went upstream
    return time.monotonic()


def _wait_out_the_cooldown(opened_at: float) -> None:
    time.sleep(max(0.0, opened_at + PROCESS_COOLDOWN + 0.1 - time.monotonic()))


@pytest.mark.e2e
def test_an_open_breaker_answers_503_fast_without_calling_the_memory_bank(
    memory_proxy: ServiceProcess, simulator: Mem0Simulator
) -> None:
    assert _breaker_state(memory_proxy) == 0
    _open_the_breaker(memory_proxy, simulator)
    upstream_before = simulator.request_count()

    timings = []
    answers = []
    for _ in range(5):
        started = time.monotonic()
        answers.append(_search(memory_proxy))
        timings.append(time.monotonic() - started)

    assert simulator.request_count() == upstream_before
    assert max(timings) < 0.25
    for answer in answers:
        assert answer.status_code == 503
        assert answer.json()["error"] == "memory_bank_unavailable"
        assert 1 <= int(answer.headers["Retry-After"]) <= PROCESS_COOLDOWN
    assert _breaker_state(memory_proxy) == 2.0
    assert _outcomes(memory_proxy, "error") == THRESHOLD
    assert _outcomes(memory_proxy, "rejected") == 5


@pytest.mark.e2e
def test_the_breaker_closes_when_the_trial_after_the_cooldown_succeeds(
    memory_proxy: ServiceProcess, simulator: Mem0Simulator
) -> None:
    opened_at = _open_the_breaker(memory_proxy, simulator)
    simulator.heal()
    _wait_out_the_cooldown(opened_at)

    trial = _search(memory_proxy)

    assert trial.status_code == 200, trial.text
    assert simulator.request_count() == THRESHOLD + 1
    assert _breaker_state(memory_proxy) == 0.0
    assert _search(memory_proxy).status_code == 200


@pytest.mark.e2e
def test_the_breaker_reopens_when_the_trial_fails(
    memory_proxy: ServiceProcess, simulator: Mem0Simulator
) -> None:
    opened_at = _open_the_breaker(memory_proxy, simulator)
    _wait_out_the_cooldown(opened_at)

    trial = _search(memory_proxy)
    after_trial = _search(memory_proxy)

    assert trial.status_code == 503
    assert simulator.request_count() == THRESHOLD + 1  # the trial went out, the next did not
    assert after_trial.status_code == 503
    assert "Retry-After" in after_trial.headers
    assert _breaker_state(memory_proxy) == 2.0
    assert _outcomes(memory_proxy, "rejected") == 1


@pytest.mark.e2e
def test_the_breaker_is_half_open_while_the_trial_is_in_flight(
    memory_proxy: ServiceProcess, simulator: Mem0Simulator
) -> None:
    opened_at = _open_the_breaker(memory_proxy, simulator)
    simulator.fail(Mode.HANG)
    _wait_out_the_cooldown(opened_at)
    trial: list[httpx.Response] = []
    trial_thread = threading.Thread(target=lambda: trial.append(_search(memory_proxy)))
    trial_thread.start()
    try:
        wait_for(
            "the trial to reach the Memory Bank", lambda: simulator.request_count() > THRESHOLD, 5
        )

        state_during_trial = _breaker_state(memory_proxy)
        concurrent = _search(memory_proxy)
        upstream_during_trial = simulator.request_count()
    finally:
        simulator.heal()
        trial_thread.join(10)

    assert state_during_trial == 1.0
    assert concurrent.status_code == 503
    assert upstream_during_trial == THRESHOLD + 1  # only the trial went out
    assert trial[0].status_code == 200, trial[0].text
    assert _breaker_state(memory_proxy) == 0.0
