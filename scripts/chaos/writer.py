"""A GPT saving memories throughout the run, keeping the receipt of every write it was promised.

Each write has its own idempotency key and content; a write that is not accepted is sent
again with the same key, as a client retrying should, until it is or the run ends. Every 202's
job id is kept: these are the writes the API must store exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict

import httpx

from scripts.chaos.accounting import Answer
from tests.support.writes import WRITES


class Writer:
    def __init__(
        self,
        gateway_url: str,
        headers: dict[str, str],
        run: str,
        *,
        per_second: float,
        retry_after: float = 1.0,
        timeout: float = 10.0,
        parallel: int = 32,
    ) -> None:
        self.gateway_url = gateway_url
        self.headers = headers
        self.run_id = run
        self.interval = 1 / per_second
        self.retry_after = retry_after
        self.timeout = timeout
        # A stalled gateway must not pile up connections without bound.
        self._slots = asyncio.Semaphore(parallel)
        self.answers: list[Answer] = []
        self.accepted: dict[str, list[tuple[float, str]]] = defaultdict(list)

    async def run(self, stop: asyncio.Event) -> None:
        """Start a write every interval until ``stop``; then wait for those under way."""
        async with httpx.AsyncClient(
            base_url=self.gateway_url, headers=self.headers, timeout=self.timeout
        ) as client:
            under_way: set[asyncio.Task[None]] = set()
            number = 0
            while not stop.is_set():
                number += 1
                task = asyncio.create_task(self._write(client, number, stop))
                under_way.add(task)
                task.add_done_callback(under_way.discard)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
            await asyncio.gather(*under_way)

    async def _write(self, client: httpx.AsyncClient, number: int, stop: asyncio.Event) -> None:
        key = f"chaos-{self.run_id}-{number}"
        body = {"content": f"Chaos run {self.run_id}, write {number}.", "idempotency_key": key}
        while True:
            async with self._slots:
                status, job_id = await self._post(client, body)
            answered_at = time.time()
            self.answers.append(Answer(answered_at, status, failed=status != 202))
            if job_id is not None:
                self.accepted[key].append((answered_at, job_id))
                return
            if stop.is_set():
                return  # never accepted, so nothing is owed
            await asyncio.sleep(self.retry_after)

    @staticmethod
    async def _post(client: httpx.AsyncClient, body: dict[str, str]) -> tuple[int, str | None]:
        """The status (0 when no answer came) and, for a 202, the job id."""
        try:
            response = await client.post(WRITES, json=body)
        except httpx.TransportError:
            return 0, None
        if response.status_code != 202:
            return response.status_code, None
        return 202, str(response.json()["job_id"])
