"""The application factory every HTTP service is built with."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cga_core.config import ServiceSettings
from cga_core.db import create_engine, create_sessionmaker, ping_database, session_scope
from cga_core.errors import ErrorBody, install_error_handlers
from cga_core.health import DependencyCheck, Readiness, health_router
from cga_core.metrics import instrument_metrics
from cga_core.middleware import RequestContextMiddleware
from cga_core.redis_client import create_redis, ping_redis
from cga_core.telemetry import fastapi_telemetry, install_tracing, instrument_app


@dataclass(frozen=True)
class CoreResources:
    """Connections owned by the app's lifespan, reached by routes through dependencies."""

    settings: ServiceSettings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis


ExtraState = Callable[[CoreResources], AbstractAsyncContextManager[dict[str, Any]]]
"""A service's own lifespan resources (HTTP clients, …), built on the core ones."""


def get_core(request: Request) -> CoreResources:
    resources: CoreResources = request.state.core
    return resources


async def get_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with session_scope(get_core(request).sessionmaker) as session:
        yield session


Core = Annotated[CoreResources, Depends(get_core)]
# scope="function": the session commits before the response is sent, so a client that acts on
# a redirect or a 2xx at once finds the data saved, and a failed commit becomes the response.
DbSession = Annotated[AsyncSession, Depends(get_db_session, scope="function")]


def create_service_app(
    *,
    service: str,
    settings: ServiceSettings,
    title: str,
    routers: Sequence[APIRouter] = (),
    extra_state: ExtraState | None = None,
    liveness: Sequence[DependencyCheck] = (),
    **fastapi_options: Any,
) -> FastAPI:
    """Build a service: lifespan-owned engine and Redis, request ids and access logs, the
    standard error body, ``/livez``, ``/readyz``, ``/metrics`` and tracing."""
    tracer_provider = install_tracing(settings, service)
    readiness = Readiness(checks=[], timeout=settings.dependency_timeout.total_seconds())
    alive = Readiness(checks=liveness, timeout=settings.dependency_timeout.total_seconds())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        engine = create_engine(settings)
        redis = create_redis(settings)
        core = CoreResources(settings, engine, create_sessionmaker(engine), redis)
        async with AsyncExitStack() as stack:
            stack.push_async_callback(engine.dispose)
            stack.push_async_callback(redis.aclose)
            extra = await stack.enter_async_context(extra_state(core)) if extra_state else {}
            readiness.checks = [
                DependencyCheck("database", lambda: ping_database(engine)),
                DependencyCheck("redis", lambda: ping_redis(redis)),
            ]
            # What exists now (modules, routes, pools) lives as long as the process: out of
            # the collector's way, a full collection only looks at what requests left behind.
            # Collected first, so that no start-up garbage is kept for good.
            gc.collect()
            gc.freeze()
            yield {"core": core, **extra}

    app = FastAPI(
        title=title,
        lifespan=lifespan,
        telemetry=fastapi_telemetry(settings, tracer_provider),
        responses={
            422: {"model": ErrorBody, "description": "The request is invalid."},
            500: {"model": ErrorBody, "description": "An internal error occurred."},
        },
        **fastapi_options,
    )
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, access_log=settings.access_log)
    app.include_router(health_router(readiness, alive))
    for router in routers:
        app.include_router(router)
    instrument_metrics(app)
    instrument_app(app, tracer_provider)
    return app
