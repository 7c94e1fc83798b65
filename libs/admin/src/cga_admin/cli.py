"""``cga-admin``: the operator command line.

``apps``, ``users``, ``jobs`` and ``audit`` are clients of the auth service's admin API (its
admin port, never exposed by the Ingress); ``keys`` works locally; ``status`` asks every
service's ``/readyz``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cga_admin.apps import apps
from cga_admin.audit import audit
from cga_admin.client import DEFAULT_ADMIN_URL, Connection
from cga_admin.jobs import jobs
from cga_admin.keys import keys
from cga_admin.memory_bank import memory_bank
from cga_admin.status import status
from cga_admin.users import users
from cga_auth.settings import DEVELOPMENT_ADMIN_TOKEN

app = typer.Typer(
    name="cga-admin", help="Operate custom-gpt-adapter.", no_args_is_help=True, add_completion=False
)


@app.callback()
def main(
    ctx: typer.Context,
    admin_url: Annotated[
        str,
        typer.Option(
            "--admin-url",
            envvar="CGA_ADMIN_URL",
            help="Base URL of the auth service's admin API (its admin port).",
        ),
    ] = DEFAULT_ADMIN_URL,
    admin_token: Annotated[
        str,
        typer.Option(
            "--admin-token",
            envvar="CGA_ADMIN_TOKEN",
            help="The admin API's bearer token (CGA_AUTH_ADMIN_TOKEN of the auth service);"
            " prefer the environment variable, which the process list does not show."
            " Defaults to the development token.",
            show_default=False,
        ),
    ] = DEVELOPMENT_ADMIN_TOKEN,
) -> None:
    """Operate custom-gpt-adapter."""
    ctx.obj = Connection(url=admin_url, token=admin_token)


app.add_typer(apps)
app.add_typer(users)
app.add_typer(jobs)
app.command()(audit)
app.add_typer(keys)
app.add_typer(memory_bank)
app.command()(status)
