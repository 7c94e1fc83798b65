"""The micro-batcher on its own: who is batched with whom, and that every submitter gets its
own item's outcome — a neighbour's failure never becomes its failure."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence

import pytest

from cga_worker.batcher import MicroBatcher

LONG = 3600.0  # a linger no test waits out: batches close by size or by close()


class Flushes:
    """A flush that records its batches; items named ``fail-*`` fail, ``boom`` fails all."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, items: Sequence[str]) -> list[str | Exception]:
        self.batches.append(list(items))
        await self.release.wait()
        if "boom" in items:
            raise RuntimeError("the whole batch failed")
        return [ValueError(item) if item.startswith("fail") else item.upper() for item in items]


@pytest.fixture
def flushes() -> Flushes:
    return Flushes()


async def _submit_all(
    batcher: MicroBatcher[str, str], items: Sequence[str]
) -> list[str | BaseException]:
    return list(
        await asyncio.gather(*(batcher.submit(item) for item in items), return_exceptions=True)
    )


async def test_items_submitted_together_are_one_flush_each_with_its_own_result(
    flushes: Flushes,
) -> None:
    batcher = MicroBatcher(flushes, max_size=10, linger=0.001)

    results = await _submit_all(batcher, ["a", "b", "c"])

    assert results == ["A", "B", "C"]
    assert flushes.batches == [["a", "b", "c"]]


async def test_a_failing_item_fails_alone(flushes: Flushes) -> None:
    batcher = MicroBatcher(flushes, max_size=10, linger=0.001)

    results = await _submit_all(batcher, ["a", "fail-b", "c"])

    assert results[0] == "A"
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "fail-b"
    assert results[2] == "C"
    assert len(flushes.batches) == 1


async def test_a_failed_flush_fails_every_item_of_its_batch_only(flushes: Flushes) -> None:
    batcher = MicroBatcher(flushes, max_size=2, linger=LONG)

    results = await _submit_all(batcher, ["a", "boom", "c", "d"])

    assert [type(result) for result in results[:2]] == [RuntimeError, RuntimeError]
    assert results[2:] == ["C", "D"]
    assert flushes.batches == [["a", "boom"], ["c", "d"]]


async def test_a_full_batch_is_flushed_without_lingering(flushes: Flushes) -> None:
    batcher = MicroBatcher(flushes, max_size=2, linger=LONG)

    results = await _submit_all(batcher, ["a", "b", "c", "d"])

    assert results == ["A", "B", "C", "D"]
    assert flushes.batches == [["a", "b"], ["c", "d"]]


async def test_a_partial_batch_is_flushed_once_it_has_lingered(flushes: Flushes) -> None:
    batcher = MicroBatcher(flushes, max_size=100, linger=0.01)

    assert await asyncio.wait_for(batcher.submit("lonely"), timeout=30) == "LONELY"
    assert flushes.batches == [["lonely"]]


async def test_items_arriving_while_flushes_run_make_the_next_batch(flushes: Flushes) -> None:
    batcher = MicroBatcher(flushes, max_size=2, linger=LONG, max_flushing=1)
    flushes.release.clear()
    first = asyncio.gather(batcher.submit("a"), batcher.submit("b"))
    await asyncio.sleep(0)  # the first batch is flushing, and holds

    later = asyncio.gather(*(batcher.submit(item) for item in ("c", "d", "e", "f")))
    await asyncio.sleep(0)
    assert flushes.batches == [["a", "b"]], "a second flush started while one was running"
    flushes.release.set()

    assert list(await first) == ["A", "B"]
    assert list(await later) == ["C", "D", "E", "F"]
    assert flushes.batches == [["a", "b"], ["c", "d"], ["e", "f"]]


async def test_a_cancelled_submitter_leaves_its_neighbours_their_results(
    flushes: Flushes,
) -> None:
    batcher = MicroBatcher(flushes, max_size=3, linger=LONG)
    flushes.release.clear()
    cancelled = asyncio.ensure_future(batcher.submit("a"))
    others = asyncio.gather(batcher.submit("b"), batcher.submit("c"))
    await asyncio.sleep(0)

    cancelled.cancel()
    flushes.release.set()

    assert list(await others) == ["B", "C"]
    with pytest.raises(asyncio.CancelledError):
        await cancelled


async def test_close_flushes_what_waits_without_lingering(flushes: Flushes) -> None:
    batcher = MicroBatcher(flushes, max_size=10, linger=LONG)
    waiting = asyncio.gather(batcher.submit("a"), batcher.submit("b"))
    await asyncio.sleep(0)

    await asyncio.wait_for(batcher.close(), timeout=30)

    assert list(await waiting) == ["A", "B"]


REQUEST = contextvars.ContextVar("request", default="none")


async def test_a_flush_runs_outside_the_context_of_its_submitters() -> None:
    seen: list[str] = []

    async def flush(items: Sequence[str]) -> list[str | Exception]:
        seen.append(REQUEST.get())
        return list(items)

    batcher = MicroBatcher(flush, max_size=1, linger=LONG)
    REQUEST.set("the first submitter's request")

    await batcher.submit("a")

    assert seen == ["none"]
