"""Every service's ``/readyz``, probed all through the run as a readiness probe would."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping

import httpx

from scripts.chaos.accounting import Probe


async def probe_readiness(
    readiness_urls: Callable[[], Mapping[str, str]],
    stop: asyncio.Event,
    *,
    every: float = 0.5,
    patience: float = 1.0,
) -> list[Probe]:
    """Probe each service every ``every`` seconds until ``stop``; no answer within ``patience``
    counts as not ready. ``readiness_urls`` is asked each round: a restarted service moves."""
    probes: list[Probe] = []
    async with httpx.AsyncClient(timeout=patience) as client:

        async def probe(service: str, url: str) -> None:
            try:
                status = (await client.get(url)).status_code
            except httpx.HTTPError:
                status = 0
            probes.append(Probe(time.time(), service, status))

        while not stop.is_set():
            await asyncio.gather(*(probe(name, url) for name, url in readiness_urls().items()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
    return probes
