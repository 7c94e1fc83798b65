"""The whole system as real processes: what a write needs, from sign-in to the worker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.actions import GptUser, sign_in
from tests.support.auth import admin_client, register_app
from tests.support.processes import ServiceProcess, start_actions_stack
from tests.support.writes import start_worker, worker_environment


@contextmanager
def running_system(
    environment: dict[str, str], log_dir: Path, **worker_settings: str
) -> Iterator[dict[str, ServiceProcess]]:
    """auth, memory-proxy, the gateway and a worker (with ``CGA_WORKER_<NAME>`` settings), all
    live; stopped on exit."""
    services = start_actions_stack(environment, log_dir)
    try:
        proxy_url = services["memory-proxy"].base_url
        services["worker"] = start_worker(
            worker_environment(environment, proxy_url, **worker_settings), log_dir, "worker"
        )
        yield services
    finally:
        for service in services.values():
            service.stop()


def signed_in_user(services: dict[str, ServiceProcess]) -> GptUser:
    """A user signed in to a new app allowed to read and write, through the real OAuth flow."""
    with admin_client(f"http://127.0.0.1:{services['auth'].admin_port}") as admin:
        app = register_app(admin, scopes=["memories:read", "memories:write"])
        return sign_in(services["auth"].base_url, admin, app)
