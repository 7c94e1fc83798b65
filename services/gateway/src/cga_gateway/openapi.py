"""The OpenAPI document a GPT builder imports as is (ChatGPT's rules: one https server,
unique operationIds, short descriptions, inline parameters, consequential writes marked)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from cga_gateway.memories import SCOPES

SECURITY_SCHEME = "oauth2"
INFO_DESCRIPTION = (
    "Long-term memory for this GPT: search, list, read and delete what the user asked to"
    " remember. Every call acts for the signed-in user only."
)


def actions_openapi(app: FastAPI, *, server_url: str, auth_url: str) -> dict[str, Any]:
    document = get_openapi(
        title="Memory Bank",
        version=app.version,
        description=INFO_DESCRIPTION,
        routes=app.routes,
        servers=[{"url": server_url}],
    )
    # Only the Actions API: what a GPT may call.
    document["paths"] = {
        path: item for path, item in document["paths"].items() if path.startswith("/api/")
    }
    components = document.setdefault("components", {})
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "oauth2",
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": f"{auth_url}/oauth/authorize",
                    "tokenUrl": f"{auth_url}/oauth/token",
                    "refreshUrl": f"{auth_url}/oauth/token",
                    "scopes": SCOPES,
                }
            },
        }
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            operation["security"] = [{SECURITY_SCHEME: [_scope_of(path, method)]}]
            operation.pop("tags", None)
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _without_null(parameter["schema"])
    return document


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, null]`` becomes X: an optional parameter is simply one not sent, and GPT
    action parsers handle plain schemas best."""
    options = schema.get("anyOf")
    if not options:
        return schema
    kept = [option for option in options if option.get("type") != "null"]
    if len(kept) != 1:
        return schema
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**kept[0], **rest}


def _scope_of(path: str, method: str) -> str:
    if method == "delete":
        return "memories:delete"
    if method == "post" and not path.endswith("/search"):
        return "memories:write"
    return "memories:read"


def install(app: FastAPI, *, server_url: str, auth_url: str) -> None:
    """Serve the Actions document at /openapi.json, built once."""
    cached: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cached:
            cached.update(actions_openapi(app, server_url=server_url, auth_url=auth_url))
        return cached

    app.openapi = openapi  # type: ignore[method-assign]


def main() -> None:
    """``make openapi``: write the document for a given public URL (default: an example)."""
    from cga_gateway.main import create_app  # noqa: PLC0415 - builds the whole app
    from cga_gateway.settings import GatewaySettings  # noqa: PLC0415

    parser = argparse.ArgumentParser(description="Write the Actions OpenAPI document.")
    parser.add_argument("output", type=Path)
    parser.add_argument("--public-url", default="https://memory.example.com")
    args = parser.parse_args()
    settings = GatewaySettings(public_url=args.public_url, auth_public_url=args.public_url)
    document = create_app(settings).openapi()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
