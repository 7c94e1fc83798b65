from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path

from cga_devstack._process import (
    ServerError,
    chown_to,
    find_binary,
    port_open,
    read_pid,
    run,
    wait_until,
)

_BIN_GLOB = "/usr/lib/postgresql/*/bin/{}"
# PostgreSQL refuses to run as root; when we are root it runs as this system account.
_SERVICE_ACCOUNT = "postgres"
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass
class PostgresServer:
    """A PostgreSQL cluster of our own: ``initdb`` once, then start, stop, kill, restart.

    ``durable=False`` turns fsync off: for tests, where the data is thrown away."""

    base_dir: Path
    port: int
    durable: bool = True
    superuser: str = "postgres"

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    @property
    def _run_as(self) -> str | None:
        return _SERVICE_ACCOUNT if os.geteuid() == 0 else None

    def _bin(self, name: str) -> str:
        return find_binary(name, _BIN_GLOB.format(name))

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://{self.superuser}@127.0.0.1:{self.port}/{database}"

    def initialize(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            chown_to(self.base_dir, self._run_as)
        command = [self._bin("initdb"), "-D", str(self.data_dir), "-U", self.superuser]
        command += ["--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"]
        if not self.durable:
            command.append("--no-sync")
        run(command, as_user=self._run_as)

    def is_running(self) -> bool:
        return read_pid(self.data_dir / "postmaster.pid") is not None

    def start(self) -> None:
        if self.is_running():
            return
        if port_open(self.port):
            raise ServerError(f"port {self.port} is already in use")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        run(
            [
                self._bin("pg_ctl"),
                *("start", "-D", str(self.data_dir), "-l", str(self.log_file)),
                *("-w", "-t", "60", "-o", options),
            ],
            as_user=self._run_as,
        )
        wait_until(lambda: port_open(self.port), 30, f"PostgreSQL on port {self.port}")

    def stop(self) -> None:
        if self.is_running():
            run(
                [self._bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"],
                as_user=self._run_as,
            )

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would; ``start`` recovers from the WAL."""
        pid = read_pid(self.data_dir / "postmaster.pid")
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not self.is_running(), 10, "PostgreSQL to die")

    def create_database(self, name: str) -> None:
        if not _DATABASE_NAME.match(name):
            raise ServerError(f"invalid database name: {name!r}")
        psql = [self._bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.superuser]
        exists = run([*psql, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"])  # noqa: S608
        if exists.strip() != "1":
            run([*psql, "-c", f'CREATE DATABASE "{name}"'])
