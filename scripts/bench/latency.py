"""Latency of one request at a time (one keep-alive connection per target): the time a single
caller waits, with no queueing in it. Targets are called in turn, round after round, so that
each sees the same moments of a busy box and their percentiles can be subtracted."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from scripts.bench.stats import Percentiles


@dataclass(frozen=True)
class Probe:
    """One request, sent again and again."""

    name: str
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    expect: int = 200


class UnexpectedAnswer(RuntimeError):
    pass


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)


def _target(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _timed_call(
    connection: http.client.HTTPConnection, probe: Probe, path: str, body: bytes | None = None
) -> float:
    headers = {"Content-Type": "application/json", **probe.headers}
    started = time.perf_counter_ns()
    connection.request(
        probe.method, path, body=probe.body if body is None else body, headers=headers
    )
    response = connection.getresponse()
    content = response.read()
    elapsed_ms = (time.perf_counter_ns() - started) / 1e6
    if response.status != probe.expect:
        raise UnexpectedAnswer(f"{probe.name}: {response.status} {content[:200]!r}")
    return elapsed_ms


def sequential_latencies(
    probes: Sequence[Probe], rounds: int, warmup_rounds: int
) -> dict[str, Percentiles]:
    """Percentiles (ms) of each probe over ``rounds`` rounds, after unmeasured warm-up rounds."""
    connections = {probe.name: _connection(probe.url) for probe in probes}
    paths = {probe.name: _target(probe.url) for probe in probes}
    samples: dict[str, list[float]] = {probe.name: [] for probe in probes}
    try:
        for round_number in range(warmup_rounds + rounds):
            for probe in probes:
                elapsed = _timed_call(connections[probe.name], probe, paths[probe.name])
                if round_number >= warmup_rounds:
                    samples[probe.name].append(elapsed)
    finally:
        for connection in connections.values():
            connection.close()
    return {name: Percentiles.of(values) for name, values in samples.items()}


def latencies_with_bodies(probe: Probe, bodies: Iterable[bytes]) -> list[float]:
    """Milliseconds of each call of ``probe`` with each of ``bodies`` in turn, one at a time over
    one keep-alive connection."""
    connection = _connection(probe.url)
    path = _target(probe.url)
    try:
        return [_timed_call(connection, probe, path, body) for body in bodies]
    finally:
        connection.close()
