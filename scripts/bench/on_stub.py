"""The figures measured on the stub Memory Bank, where the Memory Bank costs next to nothing:
gateway latency and its budget by layer, upstream calls per request, search throughput, the
token endpoint, rate-limit accuracy and write intake."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from cga_core.internal import DEVELOPMENT_INTERNAL_TOKEN, INTERNAL_TOKEN_HEADER
from scripts.bench.accounts import app_token, limited_app, refresh_chains
from scripts.bench.figures import (
    GATEWAY_LATENCY,
    RATE_LIMIT_ACCURACY,
    SEARCH_THROUGHPUT,
    TOKEN_REFRESH,
    WRITE_INTAKE,
    Figure,
    Layer,
    Run,
    latency_run,
    throughput_run,
)
from scripts.bench.latency import Probe, sequential_latencies
from scripts.bench.loadgen import (
    FORM_TYPE,
    Mode,
    Plan,
    Throughput,
    run_plan,
    unique_content_body,
    warm_then_run,
)
from scripts.bench.settings import BenchSettings
from scripts.bench.stats import number, ratio
from scripts.bench.stub_memory_bank import CALLS_PATH
from tests.support.actions import GptUser, seed_memory
from tests.support.auth import RegisteredApp, admin_client
from tests.support.processes import ServiceProcess
from tests.support.writes import backend_user

MEMORIES = "/api/v1/memories"
SEARCH = MEMORIES + "/search"
SEARCH_QUERY = "what tea do I like"
SEARCH_LIMIT = 10
SEARCH_BODY = {"query": SEARCH_QUERY, "limit": SEARCH_LIMIT}
MEMORIES_PER_USER = 3
RATE_LIMIT_WINDOW_SECONDS = 60
JOB_WAIT_SECONDS = 60


@dataclass
class Bench:
    """The running system on the stub, and who the bench acts as."""

    settings: BenchSettings
    work_dir: Path
    services: dict[str, ServiceProcess]
    server_pids: dict[str, int]  # PostgreSQL and Redis, by name
    app: RegisteredApp
    users: list[GptUser]
    # CPU µs per request of each process, by throughput run.
    cpu_us_per_request: dict[str, dict[str, float]] = field(default_factory=dict)

    def url(self, service: str, path: str = "") -> str:
        return self.services[service].base_url + path

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.services['auth'].admin_port}"

    def pids(self, *names: str) -> dict[str, int]:
        every = {name: s.process.pid for name, s in self.services.items()} | self.server_pids
        return {name: every[name] for name in names}

    def throughput(
        self, plan: Plan, name: str, *processes: str, warmup_plan: Plan | None = None
    ) -> Throughput:
        """A measured run after a warm-up; its CPU per request is kept for the report."""
        result = warm_then_run(
            plan,
            self.work_dir,
            name,
            self.pids(*processes),
            warmup_seconds=self.settings.warmup_seconds,
            warmup_plan=warmup_plan,
        )
        self.cpu_us_per_request[name] = result.cpu_us_per_request
        return result

    def plan(self, target: str, **options: Any) -> Plan:
        """A timed plan with the bench's connections and duration."""
        return Plan([target], self.settings.connections, self.settings.seconds, **options)

    @property
    def tokens(self) -> list[str]:
        return [user.access_token for user in self.users]


def seed_memories(bench: Bench) -> None:
    """A few memories per user, so searches and listings return something."""
    for user in bench.users:
        for n in range(MEMORIES_PER_USER):
            seed_memory(bench.url("memory-proxy"), user.sub, f"The user drinks tea number {n}.")


# --- gateway added latency, and the budget by layer ---


def gateway_latency(bench: Bench) -> tuple[Figure, list[Layer]]:
    """One search at a time: the stub called directly, memory-proxy called directly and the
    whole path through the gateway, in turn. The gateway's added latency is the whole path
    minus the stub; the differences between the hops are the latency budget by layer."""
    user = bench.users[0]
    stub_body = {
        "query": SEARCH_QUERY,
        "filters": {"user_id": backend_user(user)},
        "top_k": SEARCH_LIMIT,
        "threshold": 0.1,
    }
    proxy_body = {**SEARCH_BODY, "filters": {}}
    probes = [
        Probe("stub", bench.url("stub", "/search"), json.dumps(stub_body).encode()),
        Probe(
            "memory-proxy",
            bench.url("memory-proxy", f"/internal/v1/owners/{user.sub}/memories/search"),
            json.dumps(proxy_body).encode(),
            {INTERNAL_TOKEN_HEADER: DEVELOPMENT_INTERNAL_TOKEN},
        ),
        Probe(
            "gateway", bench.url("gateway", SEARCH), json.dumps(SEARCH_BODY).encode(), user.headers
        ),
    ]
    rounds = bench.settings.latency_rounds
    measured = sequential_latencies(probes, rounds, bench.settings.warmup_rounds)
    stub, proxy, gateway = measured["stub"], measured["memory-proxy"], measured["gateway"]
    added = gateway.minus(stub)
    figure = GATEWAY_LATENCY.figure(
        added.p50,
        (
            latency_run("stub Memory Bank called directly", stub),
            latency_run("GPT → gateway → memory-proxy → stub", gateway),
        ),
        f"{rounds:,} sequential searches each; added p95 {number(added.p95)} ms,"
        f" p99 {number(added.p99)} ms",
    )
    layers = [
        Layer("Memory Bank (stub), client and loopback", stub),
        Layer("memory-proxy hop", proxy.minus(stub)),
        Layer("gateway hop", gateway.minus(proxy)),
    ]
    return figure, layers


# --- Memory Bank impact ---


def stub_calls(bench: Bench) -> Counter[str]:
    return Counter(httpx.get(bench.url("stub", CALLS_PATH), timeout=10).json())


def upstream_calls_per_request(
    bench: Bench, requests: int, act: Callable[[], None]
) -> dict[str, float]:
    """The stub's calls, by route, per GPT request while ``act`` makes ``requests`` of them."""
    before = stub_calls(bench)
    act()
    delta = stub_calls(bench) - before
    return {route: count / requests for route, count in sorted(delta.items())}


def expect_status(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")


@contextmanager
def impact_actions(bench: Bench) -> Iterator[dict[str, Callable[[], None]]]:
    """For each endpoint, ``impact_requests`` GPT requests to it (a write's upstream calls are
    the worker's, so a write waits until it is stored)."""
    requests = bench.settings.impact_requests
    user = bench.users[0]
    owned = [
        seed_memory(bench.url("memory-proxy"), user.sub, f"Impact memory {n}.")
        for n in range(2 * requests)
    ]
    to_read, to_delete = owned[:requests], owned[requests:]
    with httpx.Client(base_url=bench.url("gateway"), headers=user.headers, timeout=30) as gpt:

        def search() -> None:
            for _ in range(requests):
                expect_status(gpt.post(SEARCH, json=SEARCH_BODY), 200)

        def listing() -> None:
            for _ in range(requests):
                expect_status(gpt.get(MEMORIES), 200)

        def read() -> None:
            for memory_id in to_read:
                expect_status(gpt.get(f"{MEMORIES}/{memory_id}"), 200)

        def delete() -> None:
            for memory_id in to_delete:
                expect_status(gpt.delete(f"{MEMORIES}/{memory_id}"), 200)

        def write() -> None:
            accepted = [
                gpt.post(MEMORIES, json={"content": f"Impact write {n}."}) for n in range(requests)
            ]
            for response in accepted:
                expect_status(response, 202)
            wait_until_stored(gpt, [response.json()["job_id"] for response in accepted])

        yield {"search": search, "list": listing, "get": read, "delete": delete, "write": write}


def wait_until_stored(gpt: httpx.Client, job_ids: list[str]) -> None:
    deadline = time.monotonic() + JOB_WAIT_SECONDS
    pending = list(job_ids)
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pending)} writes not stored after {JOB_WAIT_SECONDS} s")
        status = gpt.get(f"{MEMORIES}/jobs/{pending[0]}").json()["status"]
        if status == "failed":
            raise RuntimeError(f"write {pending[0]} failed")
        if status == "succeeded":
            pending.pop(0)
        else:
            time.sleep(0.1)


# --- search throughput, and the bare baseline the throughput figures are judged against ---


def bare_post(bench: Bench) -> Throughput:
    """A bare FastAPI POST: same generator, same connections, same time."""
    return bench.throughput(
        bench.plan(bench.url("bare", "/search"), body=json.dumps(SEARCH_BODY)), "bare", "bare"
    )


def search_throughput(bench: Bench, bare: Throughput) -> Figure:
    plan = bench.plan(
        bench.url("gateway", SEARCH), body=json.dumps(SEARCH_BODY), tokens=bench.tokens
    )
    search = bench.throughput(
        plan, "search", "gateway", "memory-proxy", "stub", "redis", "postgresql"
    )
    bare_cpu = bare.cpu_us_per_request["bare"]
    gateway_cpu = search.cpu_us_per_request["gateway"]
    return SEARCH_THROUGHPUT.figure(
        ratio(search.per_second, bare.per_second),
        (throughput_run("bare FastAPI POST", bare), throughput_run("gateway search", search)),
        f"{bench.settings.connections} connections, {len(bench.users)} users; by CPU per request"
        f" (bare {bare_cpu:,.0f} µs, gateway {gateway_cpu:,.0f} µs) the ratio is"
        f" {ratio(bare_cpu, gateway_cpu):.2f}",
    )


# --- token endpoint ---


def token_refresh(bench: Bench, bare: Throughput) -> Figure:
    """Refresh-token grants back to back: each connection walks its own rotation chain (the
    warm-up walks other chains: a chain cannot be walked twice)."""
    connections = bench.settings.connections
    with admin_client(bench.admin_url) as admin:
        chains = refresh_chains(bench.url("auth"), admin, bench.app, 2 * connections)
    plan = bench.plan(
        bench.url("auth", "/oauth/token"),
        content_type=FORM_TYPE,
        mode=Mode.REFRESH,
        refresh_tokens=chains[connections:],
        client_id=bench.app.client_id,
        client_secret=bench.app.client_secret,
    )
    warmup = replace(plan, refresh_tokens=chains[:connections])
    refresh = bench.throughput(plan, "refresh", "auth", "postgresql", "redis", warmup_plan=warmup)
    return TOKEN_REFRESH.figure(
        refresh.per_second,
        (throughput_run("bare FastAPI POST", bare), throughput_run("refresh grant", refresh)),
        f"{ratio(refresh.per_second, bare.per_second):.2f} of the bare POST; every exchange"
        " rotates the refresh token and signs an access token",
    )


# --- rate-limit accuracy ---


def rate_limit_accuracy(bench: Bench) -> Figure:
    """Twice an app's per-minute limit sent through two gateways at once, within one window:
    how many get through, against the limit. No warm-up: it would spend the limit."""
    limit = bench.settings.rate_limit
    with admin_client(bench.admin_url) as admin:
        app = limited_app(admin, limit)
    listing = MEMORIES + "?limit=1"
    plan = Plan(
        [bench.url("gateway", listing), bench.url("gateway-2", listing)],
        bench.settings.connections,
        # Stop inside the window: a call in the next one may rightly get through.
        RATE_LIMIT_WINDOW_SECONDS - 5,
        method="GET",
        tokens=[app_token(bench.url("auth"), app)],
        refused_statuses=[429],
        iterations=2 * limit,
    )
    result = run_plan(plan, bench.work_dir, "rate-limit", bench.pids("gateway", "gateway-2"))
    note = f"limit {limit:,}/min per app, {2 * limit:,} requests over 2 gateways"
    if result.unexpected:
        note += f"; {result.unexpected:,} answers neither 200 nor 429"
    return RATE_LIMIT_ACCURACY.figure(
        ratio(result.expected, limit),
        (
            Run("configured limit", f"{limit:,} requests per minute", {"limit": limit}),
            Run(
                "2 gateways, one app",
                f"{result.expected:,} allowed, {result.refused:,} refused (429) in"
                f" {result.seconds:.1f} s",
                {
                    "allowed": result.expected,
                    "refused": result.refused,
                    "unexpected": result.unexpected,
                    "seconds": result.seconds,
                },
            ),
        ),
        note,
    )


# --- write intake ---


def write_intake(bench: Bench, bare: Throughput) -> Figure:
    """Writes accepted (202) per second with the worker stopped: intake alone, the drain being
    a figure of its own. Distinct contents: the same content twice in a short window is one
    write."""
    bench.services["worker"].stop()
    plan = bench.plan(
        bench.url("gateway", MEMORIES),
        body=unique_content_body("The user noted, for the bench:"),
        mode=Mode.UNIQUE_CONTENT,
        tokens=bench.tokens,
        expect=202,
    )
    writes = bench.throughput(plan, "write", "gateway", "postgresql", "redis")
    return WRITE_INTAKE.figure(
        writes.per_second,
        (throughput_run("bare FastAPI POST", bare), throughput_run("POST /memories", writes)),
        f"{len(bench.users)} users, worker stopped;"
        f" {ratio(writes.per_second, bare.per_second):.2f} of the bare POST",
    )
