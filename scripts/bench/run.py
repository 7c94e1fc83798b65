"""``make bench``: every figure of docs/performance.md in one run, each with its baseline from
the same run, written to the report's ``bench`` section and to docs/performance/bench.json.

    python -m scripts.bench.run        (durations and sizes: BENCH_* variables, settings.py)

Four stacks, one after the other, each on a private PostgreSQL and Redis: the services on the
stub Memory Bank (latency, Memory Bank impact, throughput, token endpoint, rate limit, write
intake), then on the embedded ``local`` backend (the k6 load scenario), then memory-proxy and
a worker draining a backlog (scripts/perf/drain.py), then memory-proxy with and without its
search cache (scripts/perf/search_cache.py). A measurement that fails is reported as
not measured and the others go on; the exit status is then 1. Logs, k6 records and errors of
the run stay in ``BENCH_RESULTS_DIR`` (``.bench/<time>/``)."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from scripts.bench.accounts import signed_in_users, unlimited_app
from scripts.bench.figures import SPECS, Figure, Layer
from scripts.bench.machine import commit, machine, now
from scripts.bench.on_local import LoadOutcome, k6_load, worker_drain
from scripts.bench.on_stub import (
    Bench,
    bare_post,
    gateway_latency,
    impact_actions,
    rate_limit_accuracy,
    search_throughput,
    seed_memories,
    token_refresh,
    upstream_calls_per_request,
    write_intake,
)
from scripts.bench.settings import ROOT, BenchSettings
from scripts.bench.summary import BenchReport
from scripts.bench.system import local_system, stub_system
from scripts.load.stack import private_servers, server_pids
from scripts.perf.report import write_section
from scripts.perf.search_cache import measure_search_cache
from tests.support.auth import admin_client

NOTES = [
    "The box is shared by everything measured: services, PostgreSQL, Redis and the load"
    " generator (k6) compete for the same cores, so throughput is the box's, and CPU per"
    " request is the steadier figure.",
    "PostgreSQL runs with fsync off (the bench's data is thrown away): commits cost less than on"
    " a durable production database.",
    "PostgreSQL's CPU includes its connection processes; the k6 column is the load generator.",
    "The load row leaves auth out: in that run auth only signs the users in (setup).",
]

T = TypeVar("T")
_started = time.monotonic()


def progress(message: str) -> None:
    elapsed = int(time.monotonic() - _started)
    print(f"[bench {elapsed // 60:02d}:{elapsed % 60:02d}] {message}", file=sys.stderr, flush=True)  # noqa: T201


class Failures:
    """Measurements that raised: the traceback goes to the run's error log, the bench goes on."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.reasons: list[str] = []

    def attempt(self, what: str, measure: Callable[[], T]) -> T | None:
        try:
            return measure()
        except Exception as exc:  # every failure is reported; none stops the bench
            reason = f"{what}: {type(exc).__name__}: {exc}"
            with self.log.open("a") as log:
                log.write(f"--- {what}\n{traceback.format_exc()}\n")
            progress(f"FAILED {reason} (traceback in {self.log})")
            self.reasons.append(reason)
            return None


@dataclass
class Results:
    figures: dict[str, Figure] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)
    impact: dict[str, dict[str, float]] = field(default_factory=dict)
    cpu_us_per_request: dict[str, dict[str, float]] = field(default_factory=dict)
    requests_per_user_second: float = 0.0
    search_cache: dict[str, Any] = field(default_factory=dict)

    def add(self, figure: Figure | None) -> None:
        if figure is not None:
            self.figures[figure.key] = figure


def measure_on_stub(bench: Bench, results: Results, failures: Failures) -> None:
    settings = bench.settings
    seed_memories(bench)
    progress(f"gateway added latency: {settings.latency_rounds:,} searches per target")
    latency = failures.attempt("gateway added latency", lambda: gateway_latency(bench))
    if latency is not None:
        results.add(latency[0])
        results.layers = latency[1]
    progress("Memory Bank impact: upstream calls per request of each endpoint")
    with impact_actions(bench) as actions:
        for endpoint, act in actions.items():
            count = partial(upstream_calls_per_request, bench, settings.impact_requests, act)
            calls = failures.attempt(f"Memory Bank impact of {endpoint}", count)
            if calls is not None:
                results.impact[endpoint] = calls
    run_time = f"{settings.warmup_seconds:.0f} s warm-up + {settings.seconds:.0f} s"
    progress(f"bare FastAPI POST baseline ({run_time})")
    bare = failures.attempt("bare FastAPI POST", lambda: bare_post(bench))
    if bare is not None:
        progress(f"gateway search throughput ({run_time})")
        results.add(failures.attempt("search", lambda: search_throughput(bench, bare)))
        progress(f"token endpoint, refresh grant ({run_time})")
        results.add(failures.attempt("token endpoint", lambda: token_refresh(bench, bare)))
    progress(f"rate-limit accuracy: {2 * settings.rate_limit:,} requests over 2 gateways")
    results.add(failures.attempt("rate-limit accuracy", lambda: rate_limit_accuracy(bench)))
    if bare is not None:
        progress(f"write intake ({run_time})")
        results.add(failures.attempt("write intake", lambda: write_intake(bench, bare)))
    results.cpu_us_per_request.update(bench.cpu_us_per_request)


def stub_stack(
    settings: BenchSettings, work_dir: Path, results: Results, failures: Failures
) -> None:
    log_dir = work_dir / "logs-stub"
    log_dir.mkdir()
    progress("starting PostgreSQL, Redis, the stub Memory Bank, the baseline and the services")
    with private_servers() as servers, stub_system(servers.environment(), log_dir) as services:
        progress(f"signing in {settings.users} GPT users")
        with admin_client(f"http://127.0.0.1:{services['auth'].admin_port}") as admin:
            app = unlimited_app(admin)
            users = signed_in_users(services["auth"].base_url, admin, app, settings.users)
        bench = Bench(settings, work_dir, services, server_pids(servers), app, users)
        measure_on_stub(bench, results, failures)
        progress("stopping the stub stack")


def load_stack(settings: BenchSettings, work_dir: Path) -> LoadOutcome:
    log_dir = work_dir / "logs-load"
    log_dir.mkdir()
    with private_servers() as servers, local_system(servers.environment(), log_dir) as services:
        return k6_load(settings, services, server_pids(servers), work_dir)


def measure_all(settings: BenchSettings, work_dir: Path, failures: Failures) -> Results:
    results = Results()
    failures.attempt("stub stack", lambda: stub_stack(settings, work_dir, results, failures))

    minutes = (settings.load_seconds + 2 * settings.load_ramp_seconds) / 60
    progress(f"k6 load scenario on the local backend (~{minutes:.1f} min after its sign-ins)")
    load = failures.attempt("k6 load", lambda: load_stack(settings, work_dir))
    if load is not None:
        for figure in load.figures:
            results.add(figure)
        results.cpu_us_per_request["load"] = load.cpu_us_per_request
        results.requests_per_user_second = load.requests_per_user_second

    progress(f"worker drain: {settings.drain_jobs:,} queued writes, local backend")
    drain = failures.attempt(
        "worker drain", lambda: worker_drain(settings.drain_jobs, work_dir / "logs-drain")
    )
    if drain is not None:
        results.add(drain.figure)
        results.cpu_us_per_request["drain"] = drain.cpu_us_per_job

    searches = settings.latency_rounds
    progress(f"search cache: {searches:,} searches in each of three modes")
    cache = failures.attempt(
        "search cache", lambda: measure_search_cache(searches, work_dir / "logs-search-cache")
    )
    if cache is not None:
        results.search_cache = cache
    return results


def main() -> int:
    settings = BenchSettings.from_environment()
    work_dir = settings.results_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work_dir.mkdir(parents=True)
    progress(f"records and logs of this run: {work_dir}")
    failures = Failures(work_dir / "errors.log")
    results = measure_all(settings, work_dir, failures)
    report = BenchReport(
        date=now(),
        machine=machine(),
        commit=commit(),
        settings={
            name: str(value) for name, value in asdict(settings).items() if name != "results_dir"
        },
        figures=[
            results.figures.get(spec.key) or spec.unmeasured("its run failed, see Notes")
            for spec in SPECS
        ],
        latency_budget=results.layers,
        memory_bank_impact=results.impact,
        cpu_us_per_request=results.cpu_us_per_request,
        requests_per_user_second=results.requests_per_user_second,
        search_cache=results.search_cache,
        notes=[*NOTES, *(f"Failed: {reason}" for reason in failures.reasons)],
    )
    record_path = write_section("bench", report.markdown(), report.record(), root=ROOT)
    progress(f"written: docs/performance.md (bench section) and {record_path.relative_to(ROOT)}")
    print(report.headline(), report.figures_table(), sep="\n\n")  # noqa: T201
    return 1 if failures.reasons else 0


if __name__ == "__main__":
    sys.exit(main())
