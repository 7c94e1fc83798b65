from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cga_auth.oauth.scopes import MEMORIES_READ, MEMORIES_WRITE, SUPPORTED_SCOPES
from cga_core.models import ClientType, Status

_LOOPBACK_NAMES = frozenset({"localhost"})


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _redirect_uri(value: str) -> str:
    """An absolute https URI without fragment (http only for loopback, for local testing)."""
    parts = urlsplit(value)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ValueError("must be an absolute https URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError("must use https (http is allowed for localhost only)")
    if parts.fragment or "#" in value:
        raise ValueError("must not contain a fragment")
    if "*" in value:
        raise ValueError("must be exact; wildcards are not allowed")
    return value


def _scope(value: str) -> str:
    if value not in SUPPORTED_SCOPES:
        raise ValueError(f"unknown scope; choose from {', '.join(SUPPORTED_SCOPES)}")
    return value


RedirectUri = Annotated[str, Field(max_length=2000), AfterValidator(_redirect_uri)]
Scope = Annotated[str, AfterValidator(_scope)]
RedirectUris = Annotated[list[RedirectUri], Field(min_length=1, max_length=10)]
Scopes = Annotated[list[Scope], Field(min_length=1, max_length=len(SUPPORTED_SCOPES))]


class AppCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    redirect_uris: RedirectUris
    scopes: Scopes = Field(default_factory=lambda: [MEMORIES_READ, MEMORIES_WRITE])
    client_type: ClientType = ClientType.CONFIDENTIAL
    rate_limit_per_minute: int | None = Field(None, ge=1, le=1_000_000)
    user_rate_limit_per_minute: int | None = Field(None, ge=1, le=1_000_000)


class AppUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    redirect_uris: RedirectUris | None = None
    scopes: Scopes | None = None
    rate_limit_per_minute: int | None = Field(None, ge=1, le=1_000_000)
    user_rate_limit_per_minute: int | None = Field(None, ge=1, le=1_000_000)


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_seconds: int | None = Field(
        None, ge=0, le=30 * 86400, description="How long the previous secret keeps working."
    )


class SecretInfo(BaseModel):
    created_at: datetime
    expires_at: datetime | None


class AppOut(BaseModel):
    client_id: str
    name: str
    client_type: ClientType
    redirect_uris: list[str]
    scopes: list[str]
    rate_limit_per_minute: int
    user_rate_limit_per_minute: int
    status: Status
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
    secrets: list[SecretInfo]


class GptBuilderFields(BaseModel):
    """What to paste into the GPT builder's OAuth form, field by field."""

    client_id: str
    client_secret: str
    authorization_url: str
    token_url: str
    scope: str
    token_exchange_method: str


class AppWithSecret(BaseModel):
    app: AppOut
    client_secret: str
    previous_secret_expires_at: datetime | None = None
    gpt_builder: GptBuilderFields | None = None
