"""What ``cga-admin`` prints: JSON for scripts, rich tables for people, one line per error.

Values an operator copies (client ids, secrets, URLs) are never wrapped or truncated: tables are
rendered as wide as their content, whatever the terminal's width, and API values are printed
as plain text (never as rich markup).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

PROGRAM = "cga-admin"
UNLIMITED_WIDTH = 100_000

console = Console(highlight=False)


def fail(error: str, detail: str) -> NoReturn:
    """Report a failure as one line on stderr (``cga-admin: code: detail``) and exit 1."""
    line = " ".join(f"{PROGRAM}: {error}: {detail}".split())
    typer.echo(line, err=True)
    raise typer.Exit(1)


def hint(message: str) -> None:
    """One line for the operator on stderr, out of the way of stdout."""
    typer.echo(" ".join(message.split()), err=True)


def print_json(body: Any) -> None:
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False))


def say(message: str, *, style: str | None = None) -> None:
    """A line of prose; long lines are left to the terminal so URLs and commands stay whole."""
    console.print(Text(message, style=style or ""), soft_wrap=True)


def print_whole(renderable: RenderableType) -> None:
    """Print ``renderable`` at least as wide as it needs, so no value is cut or wrapped."""
    needed = Measurement.get(console, console.options.update_width(UNLIMITED_WIDTH), renderable)
    width = console.width
    console.width = max(width, needed.maximum)
    try:
        console.print(renderable)
    finally:
        console.width = width


def when(value: str | None, *, missing: str = "never") -> str:
    """An API timestamp (ISO 8601) as ``2025-01-31 14:05:09 UTC``."""
    if not value:
        return missing
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def field_table(title: str, rows: Iterable[tuple[str, str]]) -> Table:
    """A two-column table of labelled values."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("Field", style="bold", no_wrap=True)
    table.add_column("Value", no_wrap=True)
    for label, value in rows:
        table.add_row(label, Text(value))
    return table


def list_table(columns: Iterable[str], rows: Iterable[Iterable[str]]) -> Table:
    table = Table(*columns)
    for row in rows:
        table.add_row(*(Text(value) for value in row))
    return table


JsonOutput = Annotated[
    bool,
    typer.Option("--json", help="Print the API's JSON body to stdout and nothing else."),
]


MAX_LIMIT = 1000  # the admin API's


def limit_option(things: str) -> Any:
    """``--limit`` of a listing command: how many ``things`` the admin API returns."""
    return typer.Option(
        "--limit",
        min=1,
        max=MAX_LIMIT,
        help=f"At most this many {things}, newest first (the API's default: 100).",
        show_default=False,
    )
