"""The system under measurement, run as in production: one uvicorn process per service (no
reload), JSON logs at WARNING with access logs off, database pools sized for the bench's
connections — on loopback ports against a private PostgreSQL and Redis.

``CGA_ENV=test`` stays: outside development and test the services demand https URLs and real
secrets, which a loopback run cannot have; the environment changes nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from cga_devstack._process import free_port
from scripts.bench.settings import ROOT
from scripts.load.stack import start_services, stop_services
from tests.support.processes import ServiceProcess, port_variable, start_actions_stack
from tests.support.writes import start_worker, worker_environment

# (pool size, overflow) per service: enough for the bench's 16 connections, while two gateways,
# auth, memory-proxy and the worker together stay under PostgreSQL's 100 connections.
DATABASE_POOLS = {"gateway": (12, 4), "auth": (16, 4), "memory-proxy": (8, 4), "worker": (16, 4)}
STUB_API_KEY = "bench-stub-key"  # the stub accepts any key


def production_like(environment: Mapping[str, str]) -> dict[str, str]:
    """``environment`` with the settings production runs with."""
    settings = {"CGA_LOG_LEVEL": "WARNING", "CGA_ACCESS_LOG": "false", "CGA_LOG_FORMAT": "json"}
    for service, (size, overflow) in DATABASE_POOLS.items():
        prefix = port_variable(service).removesuffix("_PORT")
        settings[f"{prefix}_DATABASE_POOL_SIZE"] = str(size)
        settings[f"{prefix}_DATABASE_MAX_OVERFLOW"] = str(overflow)
    return {**environment, **settings}


@contextmanager
def production_like_by_default() -> Iterator[None]:
    """The production-like settings in this process's environment, which services started by
    code that takes no settings of ours inherit (scripts/perf/drain.py); restored on exit."""
    settings = production_like({})
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def stub_backend(stub_url: str) -> dict[str, str]:
    """memory-proxy's ``mem0`` backend pointed at the stub Memory Bank."""
    return {
        "CGA_MEMORY_PROXY_BACKEND": "mem0",
        "CGA_MEMORY_PROXY_MEM0_URL": stub_url,
        "CGA_MEMORY_PROXY_MEM0_API_KEY": STUB_API_KEY,
    }


def start_program(name: str, module: str, log_dir: Path, live_path: str) -> ServiceProcess:
    """One of the bench's own servers (``python -m module --port N``), once it answers."""
    port = free_port()
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", module, "--port", str(port)],
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    program = ServiceProcess(name, port, process, log_path)
    try:
        program.wait_until_live(path=live_path)
    except BaseException:
        program.stop()
        raise
    return program


@contextmanager
def stub_system(
    environment: Mapping[str, str], log_dir: Path
) -> Iterator[dict[str, ServiceProcess]]:
    """The stub Memory Bank, the bare FastAPI baseline, auth, memory-proxy on the stub, two
    gateways (``gateway``, ``gateway-2``) and a worker; all stopped on exit."""
    with ExitStack() as cleanup:
        stub = start_program("stub", "scripts.bench.stub_memory_bank", log_dir, "/_stub/calls")
        cleanup.callback(stub.stop)
        bare = start_program("bare", "scripts.bench.bare_app", log_dir, "/livez")
        cleanup.callback(bare.stop)
        system = {**production_like(environment), **stub_backend(stub.base_url)}
        services = start_actions_stack(system, log_dir, gateways=2)
        cleanup.callback(stop_services, services)
        proxy_url = services["memory-proxy"].base_url
        services["worker"] = start_worker(worker_environment(system, proxy_url), log_dir, "worker")
        yield {"stub": stub, "bare": bare, **services}


@contextmanager
def local_system(
    environment: Mapping[str, str], log_dir: Path
) -> Iterator[dict[str, ServiceProcess]]:
    """auth, memory-proxy on the embedded ``local`` Memory Bank, a gateway and a worker."""
    services = start_services(production_like(environment), log_dir)
    try:
        yield services
    finally:
        stop_services(services)


def pids(services: Mapping[str, ServiceProcess], *names: str) -> dict[str, int]:
    return {name: services[name].process.pid for name in names}
