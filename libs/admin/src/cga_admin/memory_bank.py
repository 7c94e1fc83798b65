"""``cga-admin memory-bank check``: a read-only probe of the Memory Bank memory-proxy uses.

It runs where memory-proxy runs (``kubectl exec deploy/...-memory-proxy``), reads memory-proxy's
own settings and calls memory-proxy's own backend classes, so it probes exactly the configured
backend, with its credentials, over the pod's network path
(``docs/decisions/0009-memory-bank-check.md``). It calls the backend directly, not through the
circuit breaker and retries, so every failure shows as it is. It only ever searches: the default
probe user owns nothing, and the ``local`` backend's connections are read-only transactions.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Protocol, TypeVar
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from cga_admin.output import JsonOutput, print_json, print_whole, say
from cga_core.config import describe_validation_error
from cga_core.memories import Memory, SearchQuery
from cga_memory_proxy.settings import BackendName, MemoryProxySettings

PROBE_USER = "cga-memory-bank-probe"  # never an owner id: those are UUIDs and cga_app_ ids
PROBE_QUERY = "memory bank probe"
STEPS = ("configuration", "reachability", "authentication", "search", "latency")
REASON_LIMIT = 300
POSTGRESQL_PORT = 5432

memory_bank = typer.Typer(
    name="memory-bank",
    help="Probe the Memory Bank that memory-proxy is configured to use (read-only).",
    no_args_is_help=True,
)

ResultT = TypeVar("ResultT")


class Result(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Step:
    step: str
    result: Result
    detail: str


@dataclass(frozen=True)
class Latency:
    count: int
    min: float
    p50: float
    max: float

    @classmethod
    def of(cls, milliseconds: list[float]) -> Latency:
        return cls(
            count=len(milliseconds),
            min=round(min(milliseconds), 1),
            p50=round(statistics.median(milliseconds), 1),
            max=round(max(milliseconds), 1),
        )

    def summary(self) -> str:
        return (
            f"{self.count} searches: min {self.min:g} ms, p50 {self.p50:g} ms, max {self.max:g} ms"
        )


@dataclass
class Report:
    backend: str
    location: str
    user: str
    steps: list[Step] = field(default_factory=list)
    latency_ms: Latency | None = None

    @property
    def healthy(self) -> bool:
        return all(step.result is Result.OK for step in self.steps)

    def finished(self) -> Report:
        """The report with every step that did not run marked skipped."""
        ran = {step.step for step in self.steps}
        self.steps.extend(
            Step(name, Result.SKIPPED, "an earlier step failed")
            for name in STEPS
            if name not in ran
        )
        return self

    def as_json(self) -> dict[str, Any]:
        return {"healthy": self.healthy, **asdict(self)}


@dataclass(frozen=True)
class Options:
    user: str
    query: SearchQuery
    count: int
    seconds: float  # what each call may take


class CheckFailed(Exception):
    """A step found the Memory Bank unusable; the message says why, for the operator."""


class Searcher(Protocol):
    """All the probe may do with a backend: search. It has no way to write."""

    async def search(self, owner: str, query: SearchQuery) -> list[Memory]: ...


@dataclass(frozen=True)
class Target:
    """The configured Memory Bank, opened for probing."""

    location: str  # what the operator sees: never a credential
    address: tuple[str, int]  # where a TCP connection proves reachability
    searcher: Searcher
    # One authenticated request: its detail on success, CheckFailed when refused.
    authenticate: Callable[[str, SearchQuery], Awaitable[str]]


@asynccontextmanager
async def _local_target(settings: MemoryProxySettings, options: Options) -> AsyncIterator[Target]:
    # Imported here, as in _remote_target: they take seconds to import, which the other
    # cga-admin commands should not pay.
    from sqlalchemy.engine import make_url  # noqa: PLC0415
    from sqlalchemy.ext.asyncio import create_async_engine  # noqa: PLC0415

    from cga_core.db import ping_database  # noqa: PLC0415
    from cga_memory_proxy.backends.local import LocalBackend  # noqa: PLC0415

    url = make_url(settings.database_url.get_secret_value())
    engine = create_async_engine(
        url,
        pool_size=1,
        max_overflow=0,
        connect_args={
            "timeout": options.seconds,
            # PostgreSQL itself refuses any write in these sessions.
            "server_settings": {"default_transaction_read_only": "on"},
        },
    )

    async def authenticate(_user: str, _query: SearchQuery) -> str:
        await ping_database(engine)
        return f"PostgreSQL accepted the credentials of user {url.username or '(default)'}"

    try:
        yield Target(
            location=url.render_as_string(hide_password=True),
            address=(url.host or "localhost", url.port or POSTGRESQL_PORT),
            searcher=LocalBackend(engine),
            authenticate=authenticate,
        )
    finally:
        await engine.dispose()


@asynccontextmanager
async def _remote_target(settings: MemoryProxySettings, options: Options) -> AsyncIterator[Target]:
    import aiohttp  # noqa: PLC0415

    from cga_memory_proxy.backends.mem0 import search_body  # noqa: PLC0415
    from cga_memory_proxy.main import remote_backend  # noqa: PLC0415

    timeout = aiohttp.ClientTimeout(total=options.seconds)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        backend = remote_backend(settings, session)
        api, search_path = backend.api, backend.routes.search
        parts = urlsplit(api.base_url)

        async def authenticate(user: str, query: SearchQuery) -> str:
            # The search route, called directly: its status tells a refused key (401, 403) from
            # other failures, which the backend's own error does not.
            body = search_body(user, query, backend.threshold)
            async with session.post(
                api.base_url + search_path, json=body, headers=api.headers
            ) as response:
                status = response.status
                detail = _error_detail(await response.text()) if status >= 400 else ""
            if status in (401, 403):
                raise CheckFailed(f"the Memory Bank refused the API key: HTTP {status}{detail}")
            if status >= 400:
                raise CheckFailed(f"POST {search_path} answered HTTP {status}{detail}")
            return f"API key accepted (POST {search_path}: HTTP {status})"

        yield Target(
            location=api.base_url,
            address=(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)),
            searcher=backend,
            authenticate=authenticate,
        )


def _target(settings: MemoryProxySettings, options: Options) -> AbstractAsyncContextManager[Target]:
    if settings.backend is BackendName.LOCAL:
        return _local_target(settings, options)
    return _remote_target(settings, options)


def _error_detail(text: str) -> str:
    """`` (detail)`` from an error body: mem0's ``{"detail": ...}``, or the text itself."""
    try:
        body = json.loads(text)
    except ValueError:
        body = text
    detail = body.get("detail") if isinstance(body, dict) else body
    detail = " ".join(str(detail or "").split())[:REASON_LIMIT]
    return f" ({detail})" if detail else ""


def _reason(exc: BaseException, options: Options) -> str:
    if isinstance(exc, CheckFailed):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"no answer within {options.seconds:g} s"
    # SQLAlchemy wraps the driver's error, which names the actual problem, in ``orig``.
    cause = getattr(exc, "orig", None) or exc
    text = " ".join(str(cause).split())
    return (f"{type(cause).__name__}: {text}" if text else type(cause).__name__)[:REASON_LIMIT]


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class Probe:
    """The steps after configuration, in order, up to the first that fails."""

    def __init__(self, target: Target, options: Options, report: Report) -> None:
        self.target = target
        self.options = options
        self.report = report

    async def run(self) -> None:
        checks: list[tuple[str, Callable[[], Awaitable[str]]]] = [
            ("reachability", self.reach),
            ("authentication", self.authenticate),
            ("search", self.search),
            ("latency", self.latency),
        ]
        for name, check in checks:
            try:
                detail = await check()
            except Exception as exc:  # a probe reports every failure, never a traceback
                self.report.steps.append(Step(name, Result.FAILED, _reason(exc, self.options)))
                return
            self.report.steps.append(Step(name, Result.OK, detail))

    async def reach(self) -> str:
        host, port = self.target.address
        started = time.perf_counter()
        try:
            _, writer = await self._within(asyncio.open_connection(host, port))
        except ConnectionRefusedError:
            raise CheckFailed(
                f"connection refused by {host}:{port}: nothing listens there"
            ) from None
        except socket.gaierror as exc:
            raise CheckFailed(f"cannot resolve {host}: {exc.strerror}") from None
        except OSError as exc:
            raise CheckFailed(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        elapsed = _elapsed_ms(started)
        writer.close()
        await writer.wait_closed()
        return f"TCP connection to {host}:{port} opened in {elapsed:.1f} ms"

    async def authenticate(self) -> str:
        return await self._within(self.target.authenticate(self.options.user, self.options.query))

    async def search(self) -> str:
        started = time.perf_counter()
        found = await self._search()
        noun = "memory" if len(found) == 1 else "memories"
        user, elapsed = self.options.user, _elapsed_ms(started)
        return f"{len(found)} {noun} found for user {user} in {elapsed:.1f} ms"

    async def latency(self) -> str:
        count = self.options.count
        durations = []
        for number in range(1, count + 1):
            started = time.perf_counter()
            try:
                await self._search()
            except Exception as exc:
                reason = _reason(exc, self.options)
                raise CheckFailed(f"search {number} of {count}: {reason}") from exc
            durations.append(_elapsed_ms(started))
        self.report.latency_ms = Latency.of(durations)
        return self.report.latency_ms.summary()

    async def _search(self) -> list[Memory]:
        return await self._within(
            self.target.searcher.search(self.options.user, self.options.query)
        )

    async def _within(self, call: Awaitable[ResultT]) -> ResultT:
        async with asyncio.timeout(self.options.seconds):
            return await call


async def check_memory_bank(settings: MemoryProxySettings, options: Options) -> Report:
    report = Report(settings.backend.value, location="", user=options.user)
    try:
        async with _target(settings, options) as target:
            report.location = target.location
            detail = f"backend {settings.backend} at {target.location}"
            report.steps.append(Step("configuration", Result.OK, detail))
            await Probe(target, options, report).run()
    except Exception as exc:  # opening the target (Probe.run reports its own failures)
        report.steps.append(Step("configuration", Result.FAILED, _reason(exc, options)))
    return report.finished()


def _print(report: Report) -> None:
    say(f"Memory Bank: {report.backend} at {report.location or '-'}, probe user {report.user}")
    colours = {Result.OK: "green", Result.FAILED: "red", Result.SKIPPED: "yellow"}
    table = Table("step", "result", "detail")
    for step in report.steps:
        table.add_row(step.step, Text(step.result, style=colours[step.result]), Text(step.detail))
    print_whole(table)
    failed = next((step for step in report.steps if step.result is Result.FAILED), None)
    if failed is None:
        say("healthy", style="green")
    else:
        say(f"unhealthy: {failed.step} failed: {failed.detail}", style="red")


@memory_bank.command("check")
def check(
    user: Annotated[
        str,
        typer.Option(
            "--user",
            help="The Memory Bank user id to search as (memory-proxy's owner id: a user's UUID"
            " or an app's client id). The default owns nothing.",
        ),
    ] = PROBE_USER,
    query: Annotated[str, typer.Option("--query", help="The text to search for.")] = PROBE_QUERY,
    count: Annotated[
        int, typer.Option("--count", min=1, max=1000, help="Searches timed for the latency.")
    ] = 5,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0.1,
            help="Seconds each call may take (default: CGA_MEMORY_PROXY_REQUEST_TIMEOUT).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """Check, without writing anything, that memory-proxy's Memory Bank is reachable, accepts its
    credentials and answers searches, and how fast; exit 1 unless it is healthy.

    It reads memory-proxy's settings from the environment: run it in a memory-proxy pod, e.g.
    kubectl exec deploy/<release>-custom-gpt-adapter-memory-proxy -- cga-admin memory-bank check
    """
    try:
        search = SearchQuery(query=query)
    except ValidationError as exc:
        raise typer.BadParameter(describe_validation_error(exc), param_hint="--query") from None
    try:
        settings = MemoryProxySettings()
    except ValidationError as exc:
        failed = Step("configuration", Result.FAILED, describe_validation_error(exc))
        report = Report("unknown", location="", user=user, steps=[failed]).finished()
    else:
        seconds = timeout or settings.request_timeout.total_seconds()
        report = asyncio.run(check_memory_bank(settings, Options(user, search, count, seconds)))
    if as_json:
        print_json(report.as_json())
    else:
        _print(report)
    if not report.healthy:
        raise typer.Exit(1)
