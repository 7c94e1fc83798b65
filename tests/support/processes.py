"""Real service processes on loopback ports, as the end-to-end tests drive them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from cga_devstack._process import free_port

SERVICES = ("gateway", "auth", "memory-proxy", "worker")


def executable(program: str) -> str:
    return str(Path(sys.executable).with_name(program))


def port_variable(service: str) -> str:
    return f"CGA_{service.upper().replace('-', '_')}_PORT"


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    admin_port: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base_url + path, timeout=5)

    def wait_until_live(self, timeout: float = 90, path: str = "/livez") -> None:
        # Generous: on a loaded 2-CPU machine importing a service alone can take half a minute.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.log_path.read_text()}")
            try:
                if self.get(path).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not come up:\n{self.log_path.read_text()}")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def log_lines(self) -> list[str]:
        return self.log_path.read_text().splitlines()


def start_service(
    service: str,
    environment: dict[str, str],
    log_dir: Path,
    *,
    admin_port: int | None = None,
    name: str | None = None,
) -> ServiceProcess:
    port = free_port()
    log_path = log_dir / f"{name or service}.log"
    env = {**os.environ, **environment, port_variable(service): str(port)}
    if service == "auth":
        env["CGA_AUTH_ADMIN_PORT"] = str(admin_port or free_port())
        env.setdefault("CGA_AUTH_PUBLIC_URL", f"http://127.0.0.1:{port}")
    if service == "gateway":
        env.setdefault("CGA_GATEWAY_PUBLIC_URL", f"http://127.0.0.1:{port}")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [executable(f"cga-{service}")], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    return ServiceProcess(service, port, process, log_path, env.get("CGA_AUTH_ADMIN_PORT"))


def start_all(environment: dict[str, str], log_dir: Path) -> dict[str, ServiceProcess]:
    services = {name: start_service(name, environment, log_dir) for name in SERVICES}
    wait_until_all_live(services)
    return services


def start_actions_stack(
    environment: dict[str, str], log_dir: Path, *, gateways: int = 1
) -> dict[str, ServiceProcess]:
    """auth and memory-proxy, then gateways wired to them as the chart wires them."""
    auth = start_service("auth", environment, log_dir)
    memory_proxy = start_service("memory-proxy", environment, log_dir)
    links = {
        "CGA_GATEWAY_AUTH_PUBLIC_URL": auth.base_url,
        "CGA_GATEWAY_AUTH_INTERNAL_URL": auth.base_url,
        "CGA_GATEWAY_MEMORY_PROXY_URL": memory_proxy.base_url,
    }
    started = {"auth": auth, "memory-proxy": memory_proxy}
    for index in range(gateways):
        name = "gateway" if index == 0 else f"gateway-{index + 1}"
        started[name] = start_service("gateway", {**environment, **links}, log_dir, name=name)
    wait_until_all_live(started)
    return started


def wait_until_all_live(services: dict[str, ServiceProcess]) -> None:
    """Wait for every service; when one does not come up, stop them all before failing."""
    try:
        for service in services.values():
            service.wait_until_live()
    except BaseException:
        for service in services.values():
            service.stop()
        raise


def wait_for(condition_description: str, check: Callable[[], object], timeout: float = 15) -> None:
    """Poll ``check()`` until it returns true."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {condition_description}")
        time.sleep(0.2)
