"""``cga-admin users``: the local accounts people sign in with before a GPT may use their
memories."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import click
import typer

from cga_admin.client import call, path
from cga_admin.output import JsonOutput, fail, list_table, print_json, print_whole, say, when

users = typer.Typer(
    name="users",
    help="Manage the local accounts people sign in with.",
    no_args_is_help=True,
)

EmailOrId = Annotated[str, typer.Argument(help="The user's email address or id.")]
PasswordFromStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from stdin (prompted for on a terminal) instead of generating one.",
    ),
]


def _password_from_stdin() -> str:
    """A password typed at a hidden prompt, or the first line piped in: never an argument,
    which every user of the machine could read in the process list."""
    if sys.stdin.isatty():
        password: str = click.prompt(
            "Password", hide_input=True, confirmation_prompt=True, err=True
        )
        return password
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("invalid_request", "--password-stdin was given but stdin holds no password.")
    return password


def _password_body(password_stdin: bool) -> dict[str, str]:
    return {"password": _password_from_stdin()} if password_stdin else {}


def _show_password_once(answer: dict[str, Any]) -> None:
    if not answer.get("password"):
        return
    say("Generated password:", style="green")
    say(f"  {answer['password']}")
    say(
        "It is shown only this once and cannot be shown again: hand it to the user over a"
        " safe channel now.",
        style="bold yellow",
    )


@users.command("create")
def create_user(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The email address the user signs in with.")],
    password_stdin: PasswordFromStdin = False,
    as_json: JsonOutput = False,
) -> None:
    """Create a user; prints a generated password once unless --password-stdin."""
    created = call(ctx, "POST", path("users"), {"email": email, **_password_body(password_stdin)})
    if as_json:
        print_json(created)
        return
    user = created["user"]
    say(f"Created user {user['email']} ({user['id']}).", style="green")
    _show_password_once(created)


@users.command("list")
def list_users(ctx: typer.Context, as_json: JsonOutput = False) -> None:
    """List every user."""
    accounts = call(ctx, "GET", path("users"))
    if as_json:
        print_json(accounts)
        return
    if not accounts:
        say("No users yet; create one with `cga-admin users create EMAIL`.")
        return
    print_whole(
        list_table(
            ["Email", "ID", "Status", "Created", "Last sign-in"],
            (
                [
                    user["email"],
                    user["id"],
                    user["status"],
                    when(user["created_at"]),
                    when(user["last_login_at"]),
                ]
                for user in accounts
            ),
        )
    )


@users.command("disable")
def disable_user(ctx: typer.Context, email_or_id: EmailOrId, as_json: JsonOutput = False) -> None:
    """Disable a user: they can no longer sign in and their tokens are revoked."""
    user = call(ctx, "POST", path("users", email_or_id, "disable"))
    if as_json:
        print_json(user)
        return
    say(
        f"User {user['email']} is disabled: they can no longer sign in and every GPT's"
        " access to their memories is revoked.",
        style="yellow",
    )


@users.command("reset-password")
def reset_password(
    ctx: typer.Context,
    email_or_id: EmailOrId,
    password_stdin: PasswordFromStdin = False,
    as_json: JsonOutput = False,
) -> None:
    """Set a new password; prints a generated one once unless --password-stdin."""
    answer = call(
        ctx, "POST", path("users", email_or_id, "reset-password"), _password_body(password_stdin)
    )
    if as_json:
        print_json(answer)
        return
    say(f"Changed the password of {answer['user']['email']}.", style="green")
    _show_password_once(answer)
