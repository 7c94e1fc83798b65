"""Service-to-service calls: the shared internal token.

The NetworkPolicy already admits only the gateway and the worker to memory-proxy; the token is
the second lock, so a pod that reaches the port by mistake still cannot read memories."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, SecretStr

DEVELOPMENT_INTERNAL_TOKEN = "development-internal-token-not-for-production"  # noqa: S105
INTERNAL_TOKEN_HEADER = "X-Internal-Token"  # noqa: S105 - a header name


def internal_token_field() -> Any:
    return Field(
        SecretStr(DEVELOPMENT_INTERNAL_TOKEN),
        validation_alias=AliasChoices("CGA_INTERNAL_TOKEN"),
        description="Shared secret of the internal API (gateway and worker to memory-proxy).",
    )
