"""The system under load: the four services as real processes on loopback ports, against a
private PostgreSQL and Redis — the same processes the end-to-end tests start."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command

from cga_auth.settings import DEVELOPMENT_ADMIN_TOKEN
from cga_core.migrations.cli import alembic_config
from cga_devstack import PostgresServer, RedisServer
from cga_devstack._process import free_port, read_pid
from tests.support.env import TestStack
from tests.support.processes import ServiceProcess, start_actions_stack
from tests.support.writes import start_worker, worker_environment


@dataclass(frozen=True)
class Targets:
    """Where k6 sends its requests, as the ``LOAD_*`` variables the scenarios read."""

    gateway_url: str
    auth_url: str
    admin_url: str
    admin_token: str

    def environment(self) -> dict[str, str]:
        return {
            "LOAD_GATEWAY_URL": self.gateway_url,
            "LOAD_AUTH_URL": self.auth_url,
            "LOAD_ADMIN_URL": self.admin_url,
            "LOAD_ADMIN_TOKEN": self.admin_token,
        }


def start_services(environment: dict[str, str], log_dir: Path) -> dict[str, ServiceProcess]:
    """auth, memory-proxy and the gateway wired together, and a worker storing the writes."""
    services = start_actions_stack(environment, log_dir)
    try:
        services["worker"] = start_worker(
            worker_environment(environment, services["memory-proxy"].base_url), log_dir, "worker"
        )
    except BaseException:
        stop_services(services)
        raise
    return services


def stop_services(services: dict[str, ServiceProcess]) -> None:
    for service in services.values():
        service.stop()


def targets_of(services: dict[str, ServiceProcess]) -> Targets:
    auth = services["auth"]
    return Targets(
        gateway_url=services["gateway"].base_url,
        auth_url=auth.base_url,
        admin_url=f"http://127.0.0.1:{auth.admin_port}",
        admin_token=DEVELOPMENT_ADMIN_TOKEN,
    )


@contextmanager
def private_servers() -> Iterator[TestStack]:
    """PostgreSQL and Redis of our own (data thrown away afterwards) with the schema built by
    the migrations; both stopped on exit."""
    # A directory of its own: as root, PostgreSQL runs as the postgres account, which must be
    # able to reach its data directory.
    root = Path(tempfile.mkdtemp(prefix="cga-load-"))
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        postgres = PostgresServer(root, free_port(), durable=False)
        postgres.initialize()
        postgres.start()
        cleanup.callback(postgres.stop)
        redis = RedisServer(root / "redis", free_port(), durable=False)
        redis.start()
        cleanup.callback(redis.stop)
        postgres.create_database("cga")
        servers = TestStack(postgres, redis, postgres.url("cga"))
        command.upgrade(alembic_config(servers.database_url), "head")
        yield servers


@contextmanager
def private_stack(log_dir: Path) -> Iterator[Targets]:
    """Private servers (:func:`private_servers`) and the services; everything stopped on
    exit."""
    with private_servers() as servers, ExitStack() as cleanup:
        services = start_services(servers.environment(), log_dir)
        cleanup.callback(stop_services, services)
        yield targets_of(services)


def server_pids(servers: TestStack) -> dict[str, int]:
    """The process ids of the PostgreSQL and Redis of ``private_servers``, by name."""
    found = {
        "postgresql": read_pid(servers.postgres.data_dir / "postmaster.pid"),
        "redis": read_pid(servers.redis.pid_file),
    }
    return {name: pid for name, pid in found.items() if pid is not None}
