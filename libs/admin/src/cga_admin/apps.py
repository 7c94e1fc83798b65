"""``cga-admin apps``: register and manage apps, the OAuth clients Custom GPTs sign in with."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import click
import typer

from cga_admin.client import call, path
from cga_admin.output import (
    JsonOutput,
    fail,
    field_table,
    list_table,
    print_json,
    print_whole,
    say,
    when,
)

apps = typer.Typer(
    name="apps",
    help="Register and manage apps: the OAuth clients Custom GPTs sign in with.",
    no_args_is_help=True,
)

CALLBACK_FORMS = (
    "https://chat.openai.com/aip/g-.../oauth/callback",
    "https://chatgpt.com/aip/g-.../oauth/callback",
)

ClientId = Annotated[str, typer.Argument(help="The app's client id (cga_app_...).")]
RedirectUris = Annotated[
    list[str],
    typer.Option(
        "--redirect-uri",
        help="Exact callback URL the GPT returns to; repeat for each. https only (http for"
        " localhost).",
        show_default=False,
    ),
]
Scopes = Annotated[
    list[str] | None,
    typer.Option(
        "--scope",
        help="A scope the app may request (memories:read, memories:write, memories:delete);"
        " repeat for each.",
        show_default=False,
    ),
]
RateLimit = Annotated[
    int | None, typer.Option("--rate-limit", help="Requests per minute for the whole app.")
]
UserRateLimit = Annotated[
    int | None,
    typer.Option("--user-rate-limit", help="Requests per minute for each user of the app."),
]


def _scopes(values: list[str] | None) -> list[str] | None:
    """Repeated ``--scope`` values; a space-separated list pasted into one is split."""
    if not values:
        return None
    return [scope for value in values for scope in value.split()]


def _secrets_summary(app: dict[str, Any]) -> str:
    if app["client_type"] == "public":
        return "none (public client: PKCE)"
    lines = []
    for secret in app["secrets"]:
        line = f"created {when(secret['created_at'])}"
        if secret.get("expires_at"):
            line += f", works until {when(secret['expires_at'])}"
        lines.append(line)
    return "\n".join(lines) or "none"


def _show(app: dict[str, Any]) -> None:
    rate_limits = (
        f"{app['rate_limit_per_minute']}/min for the app,"
        f" {app['user_rate_limit_per_minute']}/min per user"
    )
    print_whole(
        field_table(
            f"App {app['name']}",
            [
                ("Client ID", app["client_id"]),
                ("Status", app["status"]),
                ("Type", app["client_type"]),
                ("Scopes", " ".join(app["scopes"])),
                ("Redirect URIs", "\n".join(app["redirect_uris"])),
                ("Rate limits", rate_limits),
                ("Client secrets", _secrets_summary(app)),
                ("Created", when(app["created_at"])),
                ("Updated", when(app["updated_at"])),
                ("Last used", when(app["last_used_at"])),
            ],
        )
    )


def _show_secret_once(client_id: str) -> None:
    say(
        "The client secret is shown only this once and cannot be shown again: store it now."
        f" If it is lost, issue a new one with `cga-admin apps rotate-secret {client_id}`.",
        style="bold yellow",
    )


def _gpt_builder(created: dict[str, Any]) -> None:
    fields = created["gpt_builder"]
    secret = fields["client_secret"] or "none (public client: PKCE)"
    print_whole(
        field_table(
            "GPT builder: Configure > Actions > Authentication > OAuth",
            [
                ("Client ID", fields["client_id"]),
                ("Client Secret", secret),
                ("Authorization URL", fields["authorization_url"]),
                ("Token URL", fields["token_url"]),
                ("Scope", fields["scope"]),
                ("Token exchange method", fields["token_exchange_method"]),
            ],
        )
    )


def _callback_reminder(client_id: str) -> None:
    forms = " ".join(f"--redirect-uri {form}" for form in CALLBACK_FORMS)
    say(
        "When the GPT builder shows the GPT's callback URL (its ID, g-..., can change when the"
        " GPT is edited), register both forms of it; --redirect-uri replaces the whole list:"
    )
    say(f"  cga-admin apps update {client_id} {forms}")


@apps.command("create")
def create_app(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Shown to users on the consent page.")],
    redirect_uris: RedirectUris,
    scopes: Scopes = None,
    public: Annotated[
        bool,
        typer.Option("--public", help="A public client (PKCE, no secret), e.g. an MCP client."),
    ] = False,
    rate_limit: RateLimit = None,
    user_rate_limit: UserRateLimit = None,
    as_json: JsonOutput = False,
) -> None:
    """Register an app and print what to paste into the GPT builder."""
    body: dict[str, Any] = {"name": name, "redirect_uris": redirect_uris}
    if (requested := _scopes(scopes)) is not None:
        body["scopes"] = requested
    if public:
        body["client_type"] = "public"
    if rate_limit is not None:
        body["rate_limit_per_minute"] = rate_limit
    if user_rate_limit is not None:
        body["user_rate_limit_per_minute"] = user_rate_limit
    created = call(ctx, "POST", path("apps"), body)
    if as_json:
        print_json(created)
        return
    client_id = created["app"]["client_id"]
    say(f"Registered app {created['app']['name']} ({client_id}).", style="green")
    _gpt_builder(created)
    if created["client_secret"]:
        _show_secret_once(client_id)
    _callback_reminder(client_id)


@apps.command("list")
def list_apps(ctx: typer.Context, as_json: JsonOutput = False) -> None:
    """List every app."""
    registered = call(ctx, "GET", path("apps"))
    if as_json:
        print_json(registered)
        return
    if not registered:
        say("No apps yet; register one with `cga-admin apps create`.")
        return
    print_whole(
        list_table(
            ["Client ID", "Name", "Status", "Type", "Scopes", "Redirect URIs", "Last used"],
            (
                [
                    app["client_id"],
                    app["name"],
                    app["status"],
                    app["client_type"],
                    " ".join(app["scopes"]),
                    "\n".join(app["redirect_uris"]),
                    when(app["last_used_at"]),
                ]
                for app in registered
            ),
        )
    )


@apps.command("show")
def show_app(ctx: typer.Context, client_id: ClientId, as_json: JsonOutput = False) -> None:
    """Show one app."""
    app = call(ctx, "GET", path("apps", client_id))
    if as_json:
        print_json(app)
        return
    _show(app)


@apps.command("update")
def update_app(
    ctx: typer.Context,
    client_id: ClientId,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    redirect_uris: Annotated[
        list[str] | None,
        typer.Option(
            "--redirect-uri",
            help="Replaces ALL redirect URIs; repeat for each URI to keep or add.",
            show_default=False,
        ),
    ] = None,
    scopes: Scopes = None,
    rate_limit: RateLimit = None,
    user_rate_limit: UserRateLimit = None,
    as_json: JsonOutput = False,
) -> None:
    """Change an app's name, redirect URIs, scopes or rate limits."""
    changes = {
        "name": name,
        "redirect_uris": redirect_uris or None,
        "scopes": _scopes(scopes),
        "rate_limit_per_minute": rate_limit,
        "user_rate_limit_per_minute": user_rate_limit,
    }
    body = {field: value for field, value in changes.items() if value is not None}
    if not body:
        fail(
            "invalid_request",
            "Nothing to update; give --name, --redirect-uri, --scope, --rate-limit"
            " or --user-rate-limit.",
        )
    app = call(ctx, "PATCH", path("apps", client_id), body)
    if as_json:
        print_json(app)
        return
    say(f"Updated app {app['name']} ({app['client_id']}).", style="green")
    _show(app)


@apps.command("rotate-secret")
def rotate_secret(
    ctx: typer.Context,
    client_id: ClientId,
    overlap: Annotated[
        int | None,
        typer.Option(
            "--overlap",
            help="Seconds the previous secret keeps working (default: the server's, 24 h).",
        ),
    ] = None,
    as_json: JsonOutput = False,
) -> None:
    """Issue a new client secret; the previous one keeps working for an overlap."""
    body = {} if overlap is None else {"overlap_seconds": overlap}
    rotated = call(ctx, "POST", path("apps", client_id, "rotate-secret"), body)
    if as_json:
        print_json(rotated)
        return
    app = rotated["app"]
    say(f"New client secret of app {app['name']} ({app['client_id']}):", style="green")
    say(f"  {rotated['client_secret']}")
    _show_secret_once(app["client_id"])
    say("Paste it into the GPT builder's Client Secret field (Authentication > OAuth).")
    until = rotated["previous_secret_expires_at"]
    if datetime.fromisoformat(until) > datetime.now(UTC):
        say(f"The previous secret works until {when(until)}; then only the new one does.")
    else:
        say("The previous secret no longer works.")


def _set_status(ctx: typer.Context, client_id: str, action: str, as_json: bool) -> None:
    app = call(ctx, "POST", path("apps", client_id, action))
    if as_json:
        print_json(app)
        return
    if app["status"] == "disabled":
        say(
            f"App {app['name']} ({app['client_id']}) is disabled: its tokens are revoked and"
            " it can neither sign users in nor get tokens until it is enabled again.",
            style="yellow",
        )
    else:
        say(
            f"App {app['name']} ({app['client_id']}) is active. Users whose tokens were"
            " revoked when it was disabled sign in again from the GPT.",
            style="green",
        )


@apps.command("disable")
def disable_app(ctx: typer.Context, client_id: ClientId, as_json: JsonOutput = False) -> None:
    """Disable an app and revoke its tokens (reversible with `enable`)."""
    _set_status(ctx, client_id, "disable", as_json)


@apps.command("enable")
def enable_app(ctx: typer.Context, client_id: ClientId, as_json: JsonOutput = False) -> None:
    """Enable a disabled app again."""
    _set_status(ctx, client_id, "enable", as_json)


@apps.command("delete")
def delete_app(
    ctx: typer.Context,
    client_id: ClientId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOutput = False,
) -> None:
    """Delete an app for good, revoking its tokens; asks first unless --yes."""
    if not yes:
        app = call(ctx, "GET", path("apps", client_id))
        question = (
            f"Delete app {app['name']} ({client_id})? Its tokens are revoked and every GPT"
            " using it stops working; this cannot be undone."
        )
        try:
            confirmed = click.confirm(question, err=True)
        except click.Abort:  # end of input or Ctrl-C at the prompt
            confirmed = False
        if not sys.stdin.isatty():  # piped answers are not echoed: end the prompt's line
            typer.echo(err=True)
        if not confirmed:
            fail("aborted", "Nothing was deleted.")
    call(ctx, "DELETE", path("apps", client_id))
    if as_json:
        print_json({"client_id": client_id, "deleted": True})
        return
    say(f"Deleted app {client_id}.", style="green")
