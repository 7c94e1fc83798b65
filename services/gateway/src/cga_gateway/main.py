"""Entry point of ``cga-gateway``: the public Actions API for Custom GPTs."""

from __future__ import annotations

from fastapi import FastAPI

from cga_core.app import create_service_app
from cga_core.server import run_http_service
from cga_gateway.settings import GatewaySettings


def create_app(settings: GatewaySettings) -> FastAPI:
    return create_service_app(
        service="gateway", settings=settings, title="Custom GPT Adapter Actions API"
    )


def main() -> None:
    run_http_service(GatewaySettings, "gateway", create_app)
