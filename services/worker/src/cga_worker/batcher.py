"""Micro-batching: the work of many concurrent job runs done in one statement or one call."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

Flush = Callable[[Sequence[ItemT]], Awaitable[Sequence[ResultT | Exception]]]


class MicroBatcher(Generic[ItemT, ResultT]):
    """Hands the items concurrent coroutines submit to ``flush`` together. A batch closes
    when ``max_size`` items wait or ``linger`` seconds after its first item (so a trickle of
    items still makes batches: a flush has a fixed cost), and starts once fewer than
    ``max_flushing`` flushes run.

    Each submitter gets its own item's outcome: ``flush`` returns one per item, in item order,
    a result or an exception to raise in that submitter alone; an exception ``flush`` raises
    is every item's. A flush runs in a context of its own, not in that of whichever
    coroutine happened to submit first (its trace, its request id)."""

    def __init__(
        self,
        flush: Flush[ItemT, ResultT],
        *,
        max_size: int,
        linger: float,
        max_flushing: int = 2,
    ) -> None:
        self._flush = flush
        self.max_size = max_size
        self.linger = linger
        self.max_flushing = max_flushing
        self._waiting: list[tuple[ItemT, asyncio.Future[ResultT]]] = []
        self._flushing: set[asyncio.Task[None]] = set()
        self._lingering: asyncio.TimerHandle | None = None
        self._due = False  # the first item waiting has lingered long enough

    async def submit(self, item: ItemT) -> ResultT:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ResultT] = loop.create_future()
        self._waiting.append((item, future))
        if len(self._waiting) >= self.max_size:
            self._start_flushes()
        elif self._lingering is None and not self._due:
            self._lingering = loop.call_later(self.linger, self._lingered)
        return await future

    async def close(self) -> None:
        """Wait until every item submitted has been flushed, without lingering."""
        while self._waiting or self._flushing:
            self._due = True
            self._start_flushes()
            await asyncio.wait(self._flushing)

    def _lingered(self) -> None:
        self._lingering = None
        self._due = True
        self._start_flushes()

    def _start_flushes(self) -> None:
        while len(self._flushing) < self.max_flushing and (
            len(self._waiting) >= self.max_size or (self._waiting and self._due)
        ):
            batch = self._waiting[: self.max_size]
            del self._waiting[: self.max_size]
            task = asyncio.create_task(self._run(batch), context=contextvars.Context())
            self._flushing.add(task)
            task.add_done_callback(self._flushed)
        if not self._waiting:
            self._due = False
            if self._lingering is not None:
                self._lingering.cancel()
                self._lingering = None

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flushing.discard(task)
        self._start_flushes()

    async def _run(self, batch: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        try:
            outcomes = await self._flush([item for item, _ in batch])
        except Exception as exc:
            outcomes = [exc] * len(batch)
        except BaseException:
            # Cancelled: no submitter may wait for ever.
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its submitter was cancelled meanwhile
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
