"""Entry point of ``cga-gateway``: the public Actions API for Custom GPTs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from fastapi import FastAPI

from cga_core.app import CoreResources, create_service_app
from cga_core.audit_buffer import AuditBuffer
from cga_core.memory_proxy_client import MemoryProxyClient
from cga_core.server import run_http_service
from cga_gateway import writes
from cga_gateway.admission import Admission
from cga_gateway.memories import SCOPES, router_for
from cga_gateway.openapi import install as install_openapi
from cga_gateway.pages import install_pages
from cga_gateway.policies import AppPolicies
from cga_gateway.security import oauth2_scheme
from cga_gateway.settings import GatewaySettings
from cga_gateway.tokens import SigningKeyCache, TokenVerifier


def gateway_state(settings: GatewaySettings) -> Any:
    @asynccontextmanager
    async def lifespan(core: CoreResources) -> AsyncIterator[dict[str, Any]]:
        jwks_url = str(settings.auth_internal_url).rstrip("/") + "/.well-known/jwks.json"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:

            async def fetch_jwks() -> dict[str, Any]:
                async with http.get(jwks_url, raise_for_status=True) as response:
                    document: dict[str, Any] = await response.json()
                    return document

            verifier = TokenVerifier(
                SigningKeyCache(fetch_jwks, settings.jwks_refresh_interval.total_seconds()),
                issuer=settings.issuer,
                audience=settings.token_audience,
            )
            proxy = MemoryProxyClient(
                str(settings.memory_proxy_url),
                settings.internal_token.get_secret_value(),
                timeout=settings.memory_proxy_timeout.total_seconds(),
                pool_size=settings.memory_proxy_pool_size,
            )
            policies = AppPolicies(core.engine, settings.app_policy_cache_ttl.total_seconds())
            audit = AuditBuffer(core.engine, "gateway")
            try:
                async with audit.running(settings.audit_flush_interval.total_seconds()):
                    yield {
                        "verifier": verifier,
                        "memory_proxy": proxy,
                        "admission": Admission(core.redis, policies),
                        "audit": audit,
                    }
            finally:
                await proxy.close()

    return lifespan


def create_app(settings: GatewaySettings) -> FastAPI:
    auth_url = str(settings.auth_public_url).rstrip("/")
    scheme = oauth2_scheme(f"{auth_url}/oauth/authorize", f"{auth_url}/oauth/token", SCOPES)
    app = create_service_app(
        service="gateway",
        settings=settings,
        title="Memory Bank",
        routers=[router_for(settings, scheme), writes.router_for(settings, scheme)],
        extra_state=gateway_state(settings),
        docs_url=None,
        redoc_url=None,
    )
    install_openapi(app, server_url=str(settings.public_url).rstrip("/"), auth_url=auth_url)
    install_pages(app, settings)
    return app


def main() -> None:
    run_http_service(GatewaySettings, "gateway", create_app)
