"""Entry point of ``cga-memory-proxy``: the only caller of the Memory Bank."""

from __future__ import annotations

from fastapi import FastAPI

from cga_core.app import create_service_app
from cga_core.server import run_http_service
from cga_memory_proxy.settings import MemoryProxySettings


def create_app(settings: MemoryProxySettings) -> FastAPI:
    return create_service_app(
        service="memory-proxy", settings=settings, title="Custom GPT Adapter Memory Bank proxy"
    )


def main() -> None:
    run_http_service(MemoryProxySettings, "memory-proxy", create_app)
