"""Entry point of ``cga-auth``: the OAuth 2.0 server (public port) and the admin API (admin
port), one process and one app: admin routes answer only on the admin port."""

from __future__ import annotations

import os
import socket
import sys

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from cga_auth.admin.endpoints import router as admin_router
from cga_auth.keys import SigningKeyError, SigningKeys
from cga_auth.oauth.endpoints import router as oauth_router
from cga_auth.operations.endpoints import router as operations_router
from cga_auth.settings import AuthSettings
from cga_auth.state import STATIC_DIR, auth_state
from cga_auth.web.endpoints import router as pages_router
from cga_core.app import create_service_app
from cga_core.server import ManagedServer, prepare, uvicorn_config


def create_app(settings: AuthSettings, keys: SigningKeys | None = None) -> FastAPI:
    if settings.public_url.scheme == "http":
        # Settings allow an http issuer in development and test only; Authlib must agree.
        os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    app = create_service_app(
        service="auth",
        settings=settings,
        title="Custom GPT Adapter authorization server",
        routers=[oauth_router, pages_router, admin_router, operations_router],
        extra_state=auth_state(settings, keys or SigningKeys.from_settings(settings)),
        docs_url=None,
        redoc_url=None,
    )
    app.mount("/oauth/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def main() -> None:
    settings = prepare(AuthSettings, "auth")
    try:
        keys = SigningKeys.from_settings(settings)
    except SigningKeyError as exc:
        print(f"cga-auth: configuration error: {exc}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from None
    server = ManagedServer(uvicorn_config(create_app(settings, keys), settings))
    sockets = [
        _listening_socket(settings.host, settings.port),
        _listening_socket(settings.host, settings.admin_port),
    ]
    server.run(sockets=sockets)
