from __future__ import annotations

from datetime import timedelta
from typing import Self

from pydantic import AnyHttpUrl, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from cga_core.config import Duration, ServiceSettings, system_wide

DEVELOPMENT_ADMIN_TOKEN = "development-admin-token-not-for-production"  # noqa: S105


class AuthSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CGA_AUTH_")

    port: int = Field(8001, ge=1, le=65535, description="Port of the public OAuth server.")
    admin_port: int = Field(
        8011, ge=1, le=65535, description="Port of the admin API; never routed by the Ingress."
    )
    public_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8001"),
        description="Public base URL of the OAuth server (the token issuer); https in production.",
    )
    token_audience: str = system_wide(
        "custom-gpt-adapter",
        "CGA_TOKEN_AUDIENCE",
        "The aud claim of access tokens, checked by the gateway.",
    )
    admin_token: SecretStr = Field(
        SecretStr(DEVELOPMENT_ADMIN_TOKEN),
        description="Bearer token of the admin API (cga-admin sends it).",
    )
    signing_keys: SecretStr = Field(
        SecretStr(""),
        description=(
            "JSON list of private JWKs (RS256); the first signs, all are published for"
            " verification. Generate one with `cga-admin keys generate`. Development"
            " generates a key per start when empty."
        ),
    )
    access_token_ttl: Duration = Field(timedelta(hours=1), description="Access token lifetime.")
    refresh_token_ttl: Duration = Field(
        timedelta(days=30), description="Refresh token lifetime; each rotation starts anew."
    )
    refresh_reuse_grace: Duration = Field(
        timedelta(minutes=2),
        description="How long a rotated refresh token still works (ChatGPT retries and races).",
    )
    authorization_code_ttl: Duration = Field(
        timedelta(seconds=60), description="Authorization code lifetime (at most 10 minutes)."
    )
    secret_rotation_overlap: Duration = Field(
        timedelta(hours=24), description="How long the previous client secret works after rotation."
    )
    session_ttl: Duration = Field(
        timedelta(hours=12), description="Sign-in session lifetime on the login/consent pages."
    )
    login_failures_per_account: int = Field(
        5, ge=1, description="Failed sign-ins allowed per account per throttle window."
    )
    login_failures_per_ip: int = Field(
        20, ge=1, description="Failed sign-ins allowed per client IP per throttle window."
    )
    login_throttle_window: Duration = Field(
        timedelta(minutes=15), description="Window of the sign-in throttle."
    )
    default_app_rate_limit_per_minute: int = Field(
        600, ge=1, description="Requests per minute per app when an app sets none."
    )
    default_user_rate_limit_per_minute: int = Field(
        60, ge=1, description="Requests per minute per user of an app when an app sets none."
    )
    password_min_length: int = Field(12, ge=8, description="Minimum length of user passwords.")
    privacy_policy_url: str | None = Field(
        None, description="Linked from the sign-in page when set."
    )

    @property
    def issuer(self) -> str:
        return str(self.public_url).rstrip("/")

    @property
    def cookies_secure(self) -> bool:
        return self.public_url.scheme == "https"

    @model_validator(mode="after")
    def _https_outside_development(self) -> Self:
        if not self.env.accepts_development_secrets and self.public_url.scheme != "https":
            raise ValueError(f"CGA_AUTH_PUBLIC_URL must be https when CGA_ENV={self.env}")
        if self.authorization_code_ttl > timedelta(minutes=10):
            raise ValueError("CGA_AUTH_AUTHORIZATION_CODE_TTL must be at most 10 minutes")
        return self
