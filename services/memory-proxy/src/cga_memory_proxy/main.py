"""Entry point of ``cga-memory-proxy``: the only caller of the Memory Bank."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from fastapi import FastAPI

from cga_core.app import CoreResources, create_service_app
from cga_core.server import run_http_service
from cga_memory_proxy.backends.http import JsonApi
from cga_memory_proxy.backends.local import LocalBackend
from cga_memory_proxy.backends.mem0 import PLATFORM_ROUTES, SELF_HOSTED_ROUTES, Mem0Backend
from cga_memory_proxy.endpoints import batch_router, router
from cga_memory_proxy.resilience import ResilientBackend
from cga_memory_proxy.search_cache import SearchCache
from cga_memory_proxy.settings import BackendName, MemoryProxySettings


def remote_backend(settings: MemoryProxySettings, session: aiohttp.ClientSession) -> Mem0Backend:
    """The configured remote Memory Bank (mem0 or mem0-platform), calling it through ``session``;
    public for ``cga-admin memory-bank check``, which must probe exactly this backend."""
    if settings.backend is BackendName.MEM0:
        assert settings.mem0_api_key is not None  # noqa: S101 - checked by the settings
        api = JsonApi(
            session, str(settings.mem0_url), {"X-API-Key": settings.mem0_api_key.get_secret_value()}
        )
        routes = SELF_HOSTED_ROUTES
    else:
        assert settings.mem0_platform_api_key is not None  # noqa: S101 - checked by the settings
        api = JsonApi(
            session,
            str(settings.mem0_platform_url),
            {"Authorization": f"Token {settings.mem0_platform_api_key.get_secret_value()}"},
        )
        routes = PLATFORM_ROUTES
    return Mem0Backend(
        settings.backend.value,
        api,
        routes,
        infer=settings.mem0_infer,
        threshold=settings.search_threshold,
    )


def memory_bank(settings: MemoryProxySettings) -> Any:
    @asynccontextmanager
    async def lifespan(core: CoreResources) -> AsyncIterator[dict[str, Any]]:
        state = {"internal_token": settings.internal_token.get_secret_value()}
        ttl = settings.search_cache_ttl.total_seconds()
        cache = SearchCache(core.redis, ttl) if ttl else None
        if settings.backend is BackendName.LOCAL:
            backend = ResilientBackend(
                LocalBackend(core.engine), settings, idempotent_create=True, cache=cache
            )
            yield {**state, "backend": backend}
            return
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.http_pool_size),
            timeout=aiohttp.ClientTimeout(total=settings.request_timeout.total_seconds()),
            raise_for_status=False,
        ) as session:
            remote = ResilientBackend(
                remote_backend(settings, session), settings, idempotent_create=False, cache=cache
            )
            yield {**state, "backend": remote}

    return lifespan


def create_app(settings: MemoryProxySettings) -> FastAPI:
    return create_service_app(
        service="memory-proxy",
        settings=settings,
        title="Custom GPT Adapter Memory Bank proxy",
        routers=[router, batch_router],
        extra_state=memory_bank(settings),
    )


def main() -> None:
    run_http_service(MemoryProxySettings, "memory-proxy", create_app)
