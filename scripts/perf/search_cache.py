"""What memory-proxy's search cache costs on a miss and saves on a hit (docs/decisions/0014).

    python -m scripts.perf.search_cache [--searches 2000] [--log-dir DIR]

Two memory-proxy processes run in front of the bench's stub Memory Bank, on a private
PostgreSQL and Redis: one without the cache, one with it. Searches go one at a time over one
keep-alive connection, in three modes: without the cache; with it, the same search again and
again (hits); with it, a new search each time (misses). For each mode: latency percentiles, the
CPU time memory-proxy, Redis and the stub spend per search (from /proc), and the searches that
reached the Memory Bank (the stub counts them).

The stub answers in microseconds; a remote Memory Bank takes milliseconds and is paid for per
call. What a hit saves is therefore the stub's figures here, and the remote call in production;
what a miss costs is what the cache adds, wherever the Memory Bank is.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import orjson

from cga_core.internal import DEVELOPMENT_INTERNAL_TOKEN, INTERNAL_TOKEN_HEADER
from scripts.bench.cpu import tree_cpu_seconds
from scripts.bench.latency import Probe, latencies_with_bodies
from scripts.bench.stats import Percentiles, ratio
from scripts.bench.system import production_like, start_program, stub_backend
from scripts.load.stack import private_servers, server_pids
from tests.support.processes import ServiceProcess, start_service

TTL = "60s"
MEMORIES = 10  # the owner's memories: a search answers with all of them, as many as it may
WARMUP_SEARCHES = 200
STUB_SEARCH = "POST /search"


def _seed(proxy: ServiceProcess, owner: str) -> None:
    url = f"{proxy.base_url}/internal/v1/owners/{owner}/memories"
    headers = {INTERNAL_TOKEN_HEADER: DEVELOPMENT_INTERNAL_TOKEN}
    for number in range(MEMORIES):
        content = f"Memory {number}: Ada takes her tea from Kyoto, green, never with milk. " * 3
        httpx.post(url, json={"content": content}, headers=headers).raise_for_status()


def _stub_searches(stub: ServiceProcess) -> int:
    calls = httpx.get(stub.base_url + "/_stub/calls").json()
    return int(calls.get(STUB_SEARCH, 0))


def _same_search() -> Iterator[bytes]:
    body = orjson.dumps({"query": "tea"})
    while True:
        yield body


def _new_searches() -> Iterator[bytes]:
    run = uuid.uuid4().hex[:8]
    number = 0
    while True:
        number += 1
        yield orjson.dumps({"query": f"tea {run} {number}"})


def _measure_mode(
    proxy: ServiceProcess,
    owner: str,
    bodies: Callable[[], Iterator[bytes]],
    searches: int,
    stub: ServiceProcess,
    pids: dict[str, int],
) -> dict[str, Any]:
    probe = Probe(
        proxy.name,
        f"{proxy.base_url}/internal/v1/owners/{owner}/memories/search",
        b"",
        {INTERNAL_TOKEN_HEADER: DEVELOPMENT_INTERNAL_TOKEN},
    )
    source = bodies()
    latencies_with_bodies(probe, (next(source) for _ in range(WARMUP_SEARCHES)))
    stub_before, cpu_before = _stub_searches(stub), tree_cpu_seconds(pids)
    samples = latencies_with_bodies(probe, (next(source) for _ in range(searches)))
    cpu_after, stub_after = tree_cpu_seconds(pids), _stub_searches(stub)
    cpu_us = {name: 1e6 * (cpu_after[name] - cpu_before[name]) / searches for name in pids}
    return {
        "searches": searches,
        "memory_bank_searches": stub_after - stub_before,
        "latency_ms": asdict(Percentiles.of(samples)),
        "cpu_us_per_search": {
            **{name: round(value, 1) for name, value in cpu_us.items()},
            "total": round(sum(cpu_us.values()), 1),
        },
    }


def _break_even(
    modes: dict[str, dict[str, Any]], measure: Callable[[dict[str, Any]], float]
) -> float | None:
    """The share of hits at which the cache costs what it saves (a miss adds ``miss - off``, a
    hit saves ``off - hit``); None when hits save nothing, so it never pays off."""
    off, hit, miss = (measure(modes[name]) for name in ("off", "hit", "miss"))
    added, saved = max(miss - off, 0.0), off - hit
    if saved <= 0:
        return None
    return round(ratio(added, added + saved), 3)


def measure_search_cache(searches: int, log_dir: Path) -> dict[str, Any]:
    """``{"searches", "ttl", "modes": {"off" | "hit" | "miss": {"memory_bank_searches",
    "latency_ms", "cpu_us_per_search"}}, "break_even_hit_ratio": {"cpu", "latency_p50"}}``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    owner = f"cache-bench-{uuid.uuid4().hex[:8]}"
    with private_servers() as servers, ExitStack() as cleanup:
        stub = start_program("stub", "scripts.bench.stub_memory_bank", log_dir, "/_stub/calls")
        cleanup.callback(stub.stop)
        environment = {**production_like(servers.environment()), **stub_backend(stub.base_url)}
        proxies = {}
        for mode, ttl in (("off", "0"), ("cached", TTL)):
            proxy = start_service(
                "memory-proxy",
                {**environment, "CGA_MEMORY_PROXY_SEARCH_CACHE_TTL": ttl},
                log_dir,
                name=f"memory-proxy-{mode}",
            )
            cleanup.callback(proxy.stop)
            proxy.wait_until_live()
            proxies[mode] = proxy
        _seed(proxies["off"], owner)
        shared = {"stub": stub.process.pid, **server_pids(servers)}
        shared.pop("postgresql", None)  # the stub backend: memory-proxy does not query it
        runs = {
            "off": (proxies["off"], _same_search),
            "hit": (proxies["cached"], _same_search),
            "miss": (proxies["cached"], _new_searches),
        }
        modes = {
            mode: _measure_mode(
                proxy, owner, bodies, searches, stub, {"memory-proxy": proxy.process.pid, **shared}
            )
            for mode, (proxy, bodies) in runs.items()
        }
    return {
        "searches": searches,
        "ttl": TTL,
        "modes": modes,
        "break_even_hit_ratio": {
            "cpu": _break_even(modes, lambda mode: mode["cpu_us_per_search"]["total"]),
            "latency_p50": _break_even(modes, lambda mode: mode["latency_ms"]["p50"]),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="search_cache", description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=2000, help="measured searches per mode")
    parser.add_argument("--log-dir", type=Path, help="where the processes' logs go")
    args = parser.parse_args(argv)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="cga-search-cache-logs-"))
    result = measure_search_cache(args.searches, log_dir)
    print(json.dumps(result))  # noqa: T201
    for mode, figures in result["modes"].items():
        print(  # noqa: T201
            f"{mode:>4}: p50 {figures['latency_ms']['p50']:.2f} ms,"
            f" {figures['cpu_us_per_search']['total']:.0f} µs CPU per search,"
            f" {figures['memory_bank_searches']} Memory Bank searches",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
