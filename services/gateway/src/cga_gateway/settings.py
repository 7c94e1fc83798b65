from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Self

from pydantic import AnyHttpUrl, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from cga_core.config import Duration, ServiceSettings, system_wide
from cga_core.internal import internal_token_field

DEFAULT_PRIVACY_POLICY = (
    "This service stores the memories you ask it to keep, and nothing else, on your behalf."
    " They are used only to answer your own requests through the apps you connect, are never"
    " shared with other users or sold, and you can delete any memory at any time by asking the"
    " app to delete it, or remove an app's access from your account page. Access is logged"
    " (time, app, action and outcome, never the memory's content) for security."
)


class RedisDownPolicy(StrEnum):
    OPEN = "open"  # serve without rate limiting while Redis is unreachable
    CLOSED = "closed"  # refuse with 503 while Redis is unreachable


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CGA_GATEWAY_")

    port: int = Field(8000, ge=1, le=65535, description="Port of the public Actions API.")
    public_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8000"),
        description="Public base URL of the API (OpenAPI `servers`); https in production.",
    )
    auth_public_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8001"),
        description="Public base URL of the OAuth server (same domain as the API for ChatGPT).",
    )
    auth_internal_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8001"),
        description="In-cluster URL of the auth service, for its JWKS.",
    )
    token_audience: str = system_wide(
        "custom-gpt-adapter", "CGA_TOKEN_AUDIENCE", "The aud claim access tokens must carry."
    )
    jwks_refresh_interval: Duration = Field(
        timedelta(minutes=10), description="How often the signing keys are fetched again."
    )
    memory_proxy_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8002"), description="In-cluster URL of memory-proxy."
    )
    memory_proxy_timeout: Duration = Field(
        timedelta(seconds=20),
        description="Longest wait for memory-proxy (ChatGPT gives up at 45 s).",
    )
    memory_proxy_pool_size: int = Field(100, ge=1, description="Connections kept to memory-proxy.")
    internal_token: SecretStr = internal_token_field()
    rate_limit_reads_when_redis_down: RedisDownPolicy = Field(
        RedisDownPolicy.OPEN, description="Reads while Redis is unreachable: open or closed."
    )
    rate_limit_writes_when_redis_down: RedisDownPolicy = Field(
        RedisDownPolicy.OPEN, description="Writes and deletes while Redis is unreachable."
    )
    app_policy_cache_ttl: Duration = Field(
        timedelta(seconds=30), description="How long an app's rate-limit policy is cached."
    )
    max_memory_chars: int = Field(
        4000, ge=100, description="Longer memories are truncated in responses (marked truncated)."
    )
    max_response_chars: int = Field(
        90_000, ge=10_000, le=99_000, description="Budget per response (ChatGPT's limit: 100,000)."
    )
    privacy_policy: str = Field(DEFAULT_PRIVACY_POLICY, description="Text of the /privacy page.")
    privacy_contact: str | None = Field(None, description="Contact shown on the /privacy page.")
    duplicate_write_window: Duration = Field(
        timedelta(seconds=30),
        description="Identical content saved again by the same user within this is one write.",
    )
    audit_flush_interval: Duration = Field(
        timedelta(seconds=1), description="How often buffered audit events are written."
    )

    @property
    def issuer(self) -> str:
        return str(self.auth_public_url).rstrip("/")

    @model_validator(mode="after")
    def _https_outside_development(self) -> Self:
        if not self.env.accepts_development_secrets:
            for name in ("public_url", "auth_public_url"):
                if getattr(self, name).scheme != "https":
                    raise ValueError(
                        f"{self.variable_name(name)} must be https when CGA_ENV={self.env}"
                    )
        return self
