"""Entry point of ``cga-auth``: the OAuth 2.0 authorization server."""

from __future__ import annotations

from fastapi import FastAPI

from cga_auth.settings import AuthSettings
from cga_core.app import create_service_app
from cga_core.server import run_http_service


def create_app(settings: AuthSettings) -> FastAPI:
    return create_service_app(
        service="auth", settings=settings, title="Custom GPT Adapter authorization server"
    )


def main() -> None:
    run_http_service(AuthSettings, "auth", create_app)
