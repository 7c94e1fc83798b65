"""The faults, in the order a run injects them, and the record of when each one happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from scripts.chaos.accounting import Window
from scripts.chaos.stack import ChaosStack


@dataclass(frozen=True)
class Fault:
    name: str
    description: str
    inject: Callable[[ChaosStack], None]
    heal: Callable[[ChaosStack], None]
    lasts: float  # seconds from the injection to the healing


@dataclass(frozen=True)
class FaultDurations:
    worker_down: float = 5
    redis_down: float = 10
    memory_bank_down: float = 30


def faults(durations: FaultDurations) -> list[Fault]:
    return [
        Fault(
            "worker-kill",
            f"kill -9 the worker, start a new one {durations.worker_down:g} s later",
            ChaosStack.kill_worker,
            ChaosStack.restart_worker,
            durations.worker_down,
        ),
        Fault(
            "redis-outage",
            f"stop Redis (its data is not persisted), start it {durations.redis_down:g} s later",
            ChaosStack.stop_redis,
            ChaosStack.start_redis,
            durations.redis_down,
        ),
        Fault(
            "memory-bank-outage",
            f"the Memory Bank answers every call with 502 for {durations.memory_bank_down:g} s",
            ChaosStack.fail_memory_bank,
            ChaosStack.heal_memory_bank,
            durations.memory_bank_down,
        ),
        Fault(
            "postgres-restart",
            "restart PostgreSQL (fast shutdown, then start)",
            ChaosStack.stop_postgres,
            ChaosStack.start_postgres,
            0,
        ),
    ]


@dataclass(frozen=True)
class FaultRun:
    """When one fault was injected, when its healing was done and when its watch ended."""

    fault: Fault
    injected_at: float
    healed_at: float
    ended_at: float

    def before(self, seconds: float) -> Window:
        return Window(self.injected_at - seconds, self.injected_at)

    @property
    def during(self) -> Window:
        return Window(self.injected_at, self.healed_at)

    @property
    def after(self) -> Window:
        return Window(self.healed_at, self.ended_at)

    @property
    def whole(self) -> Window:
        return Window(self.injected_at, self.ended_at)


async def run_fault(stack: ChaosStack, fault: Fault, observe: float) -> FaultRun:
    """Inject, wait, heal, then watch for ``observe`` seconds. The fault ends when the healing
    has: the restarted worker is live, Redis and PostgreSQL accept connections — what follows
    is the system's own recovery. The levers block, so they run in a thread while the load
    goes on."""
    injected_at = time.time()
    await asyncio.to_thread(fault.inject, stack)
    await asyncio.sleep(max(0.0, injected_at + fault.lasts - time.time()))
    await asyncio.to_thread(fault.heal, stack)
    healed_at = time.time()
    await asyncio.sleep(observe)
    return FaultRun(fault, injected_at, healed_at, time.time())
