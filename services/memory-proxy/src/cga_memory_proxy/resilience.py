"""Every call to the Memory Bank goes through here: a concurrency limit (bulkhead), the circuit
breaker, a timeout per attempt, retries with exponential backoff and jitter for idempotent
calls only, and the metrics of each call; searches served from the search cache when one is
configured, which every change to an owner's memories clears."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from cga_core.memories import Memory, MemoryPage, NewMemory, SearchQuery
from cga_memory_proxy.backends.base import BackendError, ManyCreating, MemoryBackend
from cga_memory_proxy.breaker import BreakerOpen, CircuitBreaker
from cga_memory_proxy.metrics import (
    CIRCUIT_BREAKER_STATE,
    MEMORY_BANK_DURATION,
    MEMORY_BANK_REQUESTS,
    MemoryBankOperation,
    MemoryBankOutcome,
    start_backend_at_zero,
)
from cga_memory_proxy.search_cache import SearchCache
from cga_memory_proxy.settings import MemoryProxySettings

ResultT = TypeVar("ResultT")


class Overloaded(Exception):
    """No free slot for a Memory Bank call within the wait."""


class MemoryBankTimeout(Exception):
    """The Memory Bank did not answer in time, after every attempt."""


# How a call to the Memory Bank fails, besides a bug.
MEMORY_BANK_FAILURES = (BreakerOpen, Overloaded, MemoryBankTimeout, BackendError)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, MemoryBankTimeout) or (isinstance(exc, BackendError) and exc.retryable)


class ResilientBackend:
    """The same operations as the backend, made safe to call."""

    def __init__(
        self,
        backend: MemoryBackend,
        settings: MemoryProxySettings,
        *,
        idempotent_create: bool,
        cache: SearchCache | None = None,
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.name = backend.name
        self.settings = settings
        self.idempotent_create = idempotent_create
        self.slots = asyncio.Semaphore(settings.max_concurrency)
        start_backend_at_zero(backend.name)
        self.breaker = CircuitBreaker(
            backend.name,
            failure_threshold=settings.breaker_failure_threshold,
            cooldown=settings.breaker_cooldown.total_seconds(),
            on_change=lambda state: CIRCUIT_BREAKER_STATE.labels(backend=backend.name).set(state),
        )

    async def search(self, owner: str, query: SearchQuery) -> list[Memory]:
        if self.cache is None:
            return await self._search(owner, query)
        lookup = await self.cache.lookup(owner, query)
        if lookup.results is not None:
            return lookup.results
        results = await self._search(owner, query)
        await self.cache.keep(lookup, results)
        return results

    async def _search(self, owner: str, query: SearchQuery) -> list[Memory]:
        return await self._call("search", lambda: self.backend.search(owner, query), retry=True)

    async def list(self, owner: str, limit: int, cursor: str | None) -> MemoryPage:
        return await self._call("list", lambda: self.backend.list(owner, limit, cursor), retry=True)

    async def get(self, owner: str, memory_id: str) -> Memory | None:
        return await self._call("get", lambda: self.backend.get(owner, memory_id), retry=True)

    async def delete(self, owner: str, memory_id: str) -> bool:
        # Deleting twice leaves the same state: safe to retry.
        async with self._changing((owner,)):
            return await self._call(
                "delete", lambda: self.backend.delete(owner, memory_id), retry=True
            )

    async def create(self, owner: str, memory: NewMemory) -> Memory:
        async with self._changing((owner,)):
            return await self._create(owner, memory)

    async def _create(self, owner: str, memory: NewMemory) -> Memory:
        # A create is retried only where the backend enforces the idempotency key.
        retry = self.idempotent_create and memory.idempotency_key is not None
        return await self._call("create", lambda: self.backend.create(owner, memory), retry=retry)

    async def create_batch(
        self, items: Sequence[tuple[str, NewMemory]]
    ) -> Sequence[Memory | Exception]:
        """Each ``(owner, memory)`` item's stored memory, or the failure it met (one of
        :data:`MEMORY_BANK_FAILURES`). A backend that stores many at once does so in one call,
        whose failure is raised; any other is called once per item, a few items at a time."""
        async with self._changing(owner for owner, _ in items):
            return await self._create_batch(items)

    async def _create_batch(
        self, items: Sequence[tuple[str, NewMemory]]
    ) -> Sequence[Memory | Exception]:
        if isinstance(self.backend, ManyCreating):
            many = self.backend
            retry = self.idempotent_create and all(memory.idempotency_key for _, memory in items)
            return await self._call("create_batch", lambda: many.create_many(items), retry=retry)
        # A quarter of the bulkhead at most, so a batch leaves room for searches.
        lanes = asyncio.Semaphore(max(1, self.settings.max_concurrency // 4))

        async def create_one(owner: str, memory: NewMemory) -> Memory | Exception:
            async with lanes:
                try:
                    return await self._create(owner, memory)
                except MEMORY_BANK_FAILURES as exc:
                    return exc

        return await asyncio.gather(*(create_one(owner, memory) for owner, memory in items))

    @asynccontextmanager
    async def _changing(self, owners: Iterable[str]) -> AsyncIterator[None]:
        """A change to the owners' memories: their kept searches are forgotten before it is
        answered, whatever its outcome (a call that timed out may have stored)."""
        try:
            yield
        finally:
            if self.cache is not None:
                await self.cache.forget(owners)

    async def _call(
        self,
        operation: MemoryBankOperation,
        call: Callable[[], Awaitable[ResultT]],
        *,
        retry: bool,
    ) -> ResultT:
        started = time.perf_counter()
        outcome: MemoryBankOutcome = "error"
        try:
            async with self._slot():
                result = await self._attempts(call, retry)
        except BreakerOpen:
            outcome = "rejected"
            raise
        except Overloaded:
            outcome = "overloaded"
            raise
        except MemoryBankTimeout:
            outcome = "timeout"
            raise
        else:
            outcome = "success"
            return result
        finally:
            MEMORY_BANK_REQUESTS.labels(self.name, operation, outcome).inc()
            MEMORY_BANK_DURATION.labels(self.name, operation).observe(time.perf_counter() - started)

    async def _attempts(self, call: Callable[[], Awaitable[ResultT]], retry: bool) -> ResultT:
        attempts = AsyncRetrying(
            stop=stop_after_attempt(self.settings.retry_attempts if retry else 1),
            # backoff, 2 x backoff, 4 x backoff ... plus up to one backoff of random jitter.
            wait=wait_exponential_jitter(
                multiplier=self.settings.retry_backoff.total_seconds(),
                jitter=self.settings.retry_backoff.total_seconds(),
                max=self.settings.retry_backoff_max.total_seconds(),
            ),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        async for attempt in attempts:
            with attempt:
                return await self._attempt(call)
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    async def _attempt(self, call: Callable[[], Awaitable[ResultT]]) -> ResultT:
        self.breaker.before_call()
        try:
            async with asyncio.timeout(self.settings.request_timeout.total_seconds()):
                result = await call()
        except TimeoutError:
            self.breaker.record_failure()
            raise MemoryBankTimeout from None
        except BackendError as exc:
            # A refusal (4xx) shows the Memory Bank is up; only failures count against it.
            (self.breaker.record_failure if exc.retryable else self.breaker.record_success)()
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.record_success()
        return result

    def _slot(self) -> _Slot:
        return _Slot(self.slots, self.settings.concurrency_wait.total_seconds())


class _Slot:
    def __init__(self, slots: asyncio.Semaphore, wait: float) -> None:
        self.slots = slots
        self.wait = wait

    async def __aenter__(self) -> None:
        try:
            async with asyncio.timeout(self.wait):
                await self.slots.acquire()
        except TimeoutError:
            raise Overloaded from None

    async def __aexit__(self, *_: object) -> None:
        self.slots.release()
