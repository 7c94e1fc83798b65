"""Running an HTTP service under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from cga_core.config import CommonSettings, ServiceSettings, load_settings
from cga_core.logging import configure_logging

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
CommonT = TypeVar("CommonT", bound=CommonSettings)


def prepare(settings_class: type[CommonT], service: str) -> CommonT:
    """Validate settings (exit 2 with one line on error) and configure logging."""
    settings = load_settings(settings_class, f"cga-{service}")
    configure_logging(
        service=service, level=settings.log_level, log_format=settings.effective_log_format
    )
    return settings


class ManagedServer(uvicorn.Server):
    """uvicorn that stops on SIGTERM/SIGINT after finishing in-flight requests (up to the grace
    period) and then exits 0, instead of re-raising the signal. ``handle_signals=False`` leaves
    the signals to an owner that stops the server itself (the worker)."""

    def __init__(self, config: uvicorn.Config, *, handle_signals: bool = True) -> None:
        super().__init__(config)
        self.handle_signals = handle_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self.handle_signals:
            yield
            return
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)
        try:
            yield
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    def request_stop(self) -> None:
        """First call: graceful shutdown; a second one stops without waiting."""
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


def uvicorn_config(app: FastAPI, settings: ServiceSettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        # One process per pod; scale with replicas (keeps Prometheus metrics per process simple).
        workers=1,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace.total_seconds()),
    )


def run_http_service(
    settings_class: type[SettingsT], service: str, create_app: Callable[[SettingsT], FastAPI]
) -> None:
    settings = prepare(settings_class, service)
    ManagedServer(uvicorn_config(create_app(settings), settings)).run()
