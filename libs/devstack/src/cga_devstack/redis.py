from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from cga_devstack._process import (
    ServerError,
    find_binary,
    port_open,
    read_pid,
    run,
    wait_until,
)


@dataclass
class RedisServer:
    """A Redis server of our own. ``durable=True`` keeps data across restarts (append-only
    file), as the local stack wants; tests keep nothing on disk."""

    base_dir: Path
    port: int
    durable: bool = True

    @property
    def pid_file(self) -> Path:
        return self.base_dir / "redis.pid"

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def is_running(self) -> bool:
        return read_pid(self.pid_file) is not None

    def start(self) -> None:
        if self.is_running():
            return
        if port_open(self.port):
            raise ServerError(f"port {self.port} is already in use")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        run(
            [
                find_binary("redis-server"),
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.base_dir), "--daemonize", "yes"),
                *("--pidfile", str(self.pid_file), "--logfile", str(self.base_dir / "redis.log")),
                *("--save", "", "--appendonly", "yes" if self.durable else "no"),
            ]
        )
        wait_until(self._answers_ping, 30, f"Redis on port {self.port}")

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: signal.Signals) -> None:
        pid = read_pid(self.pid_file)
        if pid is None:
            return
        os.kill(pid, signum)
        wait_until(lambda: not self.is_running() and not port_open(self.port), 15, "Redis to stop")
        if signum == signal.SIGKILL:
            self.pid_file.unlink(missing_ok=True)
