"""A circuit breaker: after ``failure_threshold`` consecutive failures the Memory Bank is left
alone for ``cooldown``; then one trial call decides between closing and opening again.

State is per process (per pod). With N memory-proxy replicas a dead Memory Bank sees at most
N * threshold failing calls before every breaker is open, and N trial calls per cooldown —
small numbers, and no shared store on the hot path. See docs/decisions/0006."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum

import structlog

logger = structlog.get_logger("cga.memory_proxy.breaker")


class BreakerState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class BreakerOpen(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"circuit open; retry in {retry_after:.1f}s")
        self.retry_after = retry_after


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int,
        cooldown: float,
        on_change: Callable[[BreakerState], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self.on_change = on_change
        self.clock = clock
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.trial_in_flight = False
        on_change(self.state)

    def before_call(self) -> None:
        """Raise :class:`BreakerOpen` unless a call may go to the Memory Bank now."""
        if self.state is BreakerState.OPEN:
            remaining = self.opened_at + self.cooldown - self.clock()
            if remaining > 0:
                raise BreakerOpen(remaining)
            self._move(BreakerState.HALF_OPEN)
        if self.state is BreakerState.HALF_OPEN:
            if self.trial_in_flight:
                raise BreakerOpen(1.0)
            self.trial_in_flight = True

    def record_success(self) -> None:
        self.failures = 0
        self.trial_in_flight = False
        if self.state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED)

    def record_failure(self) -> None:
        self.trial_in_flight = False
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
            self._move(BreakerState.OPEN)

    def release(self) -> None:
        """A call ended without telling anything about the Memory Bank (it was cancelled)."""
        self.trial_in_flight = False

    def _move(self, state: BreakerState) -> None:
        if state is not self.state:
            logger.warning(
                "memory_proxy.breaker.changed",
                backend=self.name,
                previous=self.state.name.lower(),
                state=state.name.lower(),
            )
        self.state = state
        self.on_change(state)
