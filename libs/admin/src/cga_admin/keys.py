"""``cga-admin keys``: token signing keys for ``CGA_AUTH_SIGNING_KEYS`` (made locally; the
admin API is not involved)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cga_admin.output import JsonOutput, hint

keys = typer.Typer(name="keys", help="Make token signing keys.", no_args_is_help=True)


@keys.command("generate")
def generate(
    kid: Annotated[
        str | None,
        typer.Option("--kid", help="The key id published in the JWKS (default: a UTC timestamp)."),
    ] = None,
    as_json: JsonOutput = False,  # the key is JSON either way; accepted like everywhere else
) -> None:
    """Print a new private RS256 signing key as one line of JWK JSON."""
    # Imported here: it brings joserfc and the auth settings, which no other command needs.
    from cga_auth.keys import generate_key  # noqa: PLC0415

    key = generate_key(kid)
    typer.echo(json.dumps(dict(key.as_dict(private=True)), separators=(",", ":")))
    hint(
        f"Prepend this key to the JSON list in CGA_AUTH_SIGNING_KEYS (the first key signs);"
        f" keep the old keys listed until the tokens they signed have expired. kid={key.kid}"
    )
