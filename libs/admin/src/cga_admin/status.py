"""``cga-admin status``: every service's readiness, straight from its ``/readyz``."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from cga_admin.output import JsonOutput, console, print_json


def _url_option(variable: str) -> Any:
    return typer.Option(envvar=variable, show_default=True)


async def _readiness(name: str, url: str, client: httpx.AsyncClient) -> tuple[str, str, str]:
    try:
        response = await client.get(url.rstrip("/") + "/readyz")
    except httpx.HTTPError as exc:
        return name, "unreachable", type(exc).__name__
    is_json = response.headers.get("content-type", "").startswith("application/json")
    checks = response.json().get("checks", {}) if is_json else {}
    detail = ", ".join(f"{key}={value}" for key, value in checks.items())
    return name, "ready" if response.status_code == 200 else "not ready", detail


def status(
    gateway_url: Annotated[str, _url_option("CGA_ADMIN_GATEWAY_URL")] = "http://127.0.0.1:8000",
    auth_url: Annotated[str, _url_option("CGA_ADMIN_AUTH_URL")] = "http://127.0.0.1:8001",
    memory_proxy_url: Annotated[
        str, _url_option("CGA_ADMIN_MEMORY_PROXY_URL")
    ] = "http://127.0.0.1:8002",
    worker_url: Annotated[str, _url_option("CGA_ADMIN_WORKER_URL")] = "http://127.0.0.1:8003",
    as_json: JsonOutput = False,
) -> None:
    """Show each service's readiness and its dependencies; exit 1 unless all are ready."""
    targets = {
        "gateway": gateway_url,
        "auth": auth_url,
        "memory-proxy": memory_proxy_url,
        "worker": worker_url,
    }

    async def probe() -> list[tuple[str, str, str]]:
        async with httpx.AsyncClient(timeout=5) as client:
            return await asyncio.gather(*(_readiness(n, u, client) for n, u in targets.items()))

    results = asyncio.run(probe())
    if as_json:
        print_json([{"service": n, "state": s, "detail": d} for n, s, d in results])
    else:
        table = Table("service", "state", "dependencies")
        for name, state, detail in results:
            colour = "green" if state == "ready" else "red"
            table.add_row(name, f"[{colour}]{state}[/{colour}]", detail)
        console.print(table)
    if any(state != "ready" for _, state, _ in results):
        raise typer.Exit(1)
