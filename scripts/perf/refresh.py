"""How much CPU the auth service spends per refresh-grant exchange at the token endpoint.

    python -m scripts.perf.refresh [--chains 8] [--seconds 10] [--log-dir DIR]

The auth service runs as a real process on a private PostgreSQL and Redis. An app and a user
are registered through the admin API; each chain signs in and consents through the real pages,
exchanges its code, then refreshes as fast as it can, always with the refresh token it got
last (as ChatGPT does). The figures: exchanges per second, and the CPU time auth, PostgreSQL
and Redis spend per exchange (from /proc) — on a shared machine the CPU figure is the steady
one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from scripts.bench.cpu import tree_cpu_seconds
from scripts.load.stack import private_servers, server_pids
from tests.support.auth import (
    Browser,
    RegisteredApp,
    admin_client,
    exchange_code,
    register_app,
    register_user,
)
from tests.support.processes import ServiceProcess, start_service


def first_refresh_tokens(auth: ServiceProcess, chains: int) -> tuple[RegisteredApp, list[str]]:
    """One app, one user, and ``chains`` refresh tokens, each of its own grant."""
    with admin_client(f"http://127.0.0.1:{auth.admin_port}") as admin:
        app = register_app(admin)
        email = register_user(admin)
    tokens = []
    for _ in range(chains):
        callback = Browser(auth.base_url).authorize(app, email)
        response = exchange_code(auth.base_url, app, callback["code"])
        response.raise_for_status()
        tokens.append(response.json()["refresh_token"])
    return app, tokens


async def run_chain(
    http: aiohttp.ClientSession, url: str, app: RegisteredApp, token: str, until: float
) -> tuple[int, str]:
    """Refresh until ``until``; the number of exchanges and the last token received."""
    exchanges = 0
    while time.monotonic() < until:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        }
        async with http.post(url, data=form) as response:
            body = await response.json()
            if response.status != 200:
                raise RuntimeError(f"refresh failed: {response.status} {body}")
        token = body["refresh_token"]
        exchanges += 1
    return exchanges, token


async def run_chains(
    auth: ServiceProcess,
    app: RegisteredApp,
    tokens: list[str],
    seconds: float,
    pids: dict[str, int],
) -> dict[str, Any]:
    url = auth.base_url + "/oauth/token"
    async with aiohttp.ClientSession() as http:
        # A second of warm-up, so connection setup and first-call imports are not measured.
        warm = time.monotonic() + 1
        tokens = [
            token
            for _, token in await asyncio.gather(
                *(run_chain(http, url, app, t, warm) for t in tokens)
            )
        ]
        cpu_before = tree_cpu_seconds(pids)
        started = time.monotonic()
        results = await asyncio.gather(
            *(run_chain(http, url, app, token, started + seconds) for token in tokens)
        )
        elapsed = time.monotonic() - started
        cpu_after = tree_cpu_seconds(pids)
    exchanges = sum(count for count, _ in results)
    return {
        "exchanges": exchanges,
        "seconds": round(elapsed, 3),
        "cpu": {name: cpu_after[name] - cpu_before[name] for name in pids},
    }


def measure_refresh(chains: int, seconds: float, log_dir: Path) -> dict[str, Any]:
    """``{"chains", "exchanges", "seconds", "exchanges_per_second", "cpu_us_per_exchange":
    {"auth", "postgresql", "redis", "total"}}``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with private_servers() as servers:
        auth = start_service("auth", servers.environment(), log_dir, name="refresh-auth")
        try:
            auth.wait_until_live()
            app, tokens = first_refresh_tokens(auth, chains)
            pids = {"auth": auth.process.pid, **server_pids(servers)}
            run = asyncio.run(run_chains(auth, app, tokens, seconds, pids))
        finally:
            auth.stop()
    exchanges = run["exchanges"]
    cpu_us = {name: round(1e6 * cpu / exchanges, 1) for name, cpu in run["cpu"].items()}
    return {
        "chains": chains,
        "exchanges": exchanges,
        "seconds": run["seconds"],
        "exchanges_per_second": round(exchanges / run["seconds"], 1),
        "cpu_us_per_exchange": {**cpu_us, "total": round(sum(cpu_us.values()), 1)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="refresh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=8, help="concurrent refresh chains")
    parser.add_argument("--seconds", type=float, default=10, help="how long the chains run")
    parser.add_argument("--log-dir", type=Path, help="where the auth service's log goes")
    args = parser.parse_args(argv)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="cga-refresh-logs-"))
    result = measure_refresh(args.chains, args.seconds, log_dir)
    print(json.dumps(result))  # noqa: T201
    print(  # noqa: T201
        f"{result['exchanges_per_second']:.0f} exchanges/s, "
        f"{result['cpu_us_per_exchange']['auth']:.0f} µs auth CPU per exchange; "
        f"logs in {log_dir}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
