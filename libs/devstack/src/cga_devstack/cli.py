"""``cga-devstack up|down|status``: the local stack's private PostgreSQL and Redis."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cga_devstack._process import ServerError
from cga_devstack.postgres import PostgresServer
from cga_devstack.redis import RedisServer

DATABASE = "cga"


def _servers(args: argparse.Namespace) -> tuple[PostgresServer, RedisServer]:
    root = Path(args.dir).resolve()
    return (
        PostgresServer(root / "postgres", args.postgres_port),
        RedisServer(root / "redis", args.redis_port),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cga-devstack", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--dir", default=os.environ.get("CGA_DEV_DIR", ".dev"))
    parser.add_argument(
        "--postgres-port", type=int, default=int(os.environ.get("CGA_DEV_POSTGRES_PORT", "54329"))
    )
    parser.add_argument(
        "--redis-port", type=int, default=int(os.environ.get("CGA_DEV_REDIS_PORT", "63790"))
    )
    args = parser.parse_args(argv)
    postgres, redis = _servers(args)
    try:
        match args.action:
            case "up":
                postgres.initialize()
                postgres.start()
                postgres.create_database(DATABASE)
                redis.start()
                print(f"PostgreSQL  {postgres.url(DATABASE)}")  # noqa: T201
                print(f"Redis       {redis.url()}")  # noqa: T201
            case "down":
                postgres.stop()
                redis.stop()
            case "status":
                for name, server in (("postgres", postgres), ("redis", redis)):
                    print(f"{name}: {'running' if server.is_running() else 'stopped'}")  # noqa: T201
    except ServerError as exc:
        parser.exit(1, f"cga-devstack: {exc}\n")
