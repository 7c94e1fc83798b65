"""The auth service's pure parts: validation, scopes, keys and client checks."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from cga_auth.apps.schemas import AppCreate
from cga_auth.keys import SigningKeyError, SigningKeys, generate_key
from cga_auth.oauth.clients import OAuthClient
from cga_auth.oauth.scopes import format_scope, parse_scope
from cga_auth.settings import AuthSettings
from cga_auth.web.endpoints import safe_next
from cga_core.models import App, AppSecret, ClientType
from cga_core.security import hash_secret


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/oauth/authorize?client_id=x&state=y", "/oauth/authorize?client_id=x&state=y"),
        ("/oauth/account", "/oauth/account"),
        ("https://evil.example/oauth/authorize", "/oauth/account"),
        ("//evil.example/oauth/authorize", "/oauth/account"),
        ("/admin/v1/apps", "/oauth/account"),
        ("", "/oauth/account"),
        (None, "/oauth/account"),
    ],
)
def test_next_only_ever_points_at_our_own_pages(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "https://chatgpt.com/aip/g-1/oauth/callback",
        "https://chat.openai.com/aip/g-1/oauth/callback",
        "http://127.0.0.1:9000/callback",
        "http://localhost/callback",
    ],
)
def test_accepted_redirect_uris(uri: str) -> None:
    assert AppCreate(name="x", redirect_uris=[uri]).redirect_uris == [uri]


@pytest.mark.parametrize(
    "uri",
    [
        "http://chatgpt.com/aip/g-1/oauth/callback",
        "https://chatgpt.com/cb#fragment",
        "https://*.chatgpt.com/cb",
        "chatgpt.com/cb",
        "javascript:alert(1)",
    ],
)
def test_refused_redirect_uris(uri: str) -> None:
    with pytest.raises(ValidationError):
        AppCreate(name="x", redirect_uris=[uri])


def test_scopes_are_deduplicated_in_a_stable_order() -> None:
    assert parse_scope("memories:write memories:read memories:write") == [
        "memories:read",
        "memories:write",
    ]
    assert format_scope(["memories:delete", "memories:read"]) == "memories:read memories:delete"
    assert parse_scope(None) == []


def _app(secrets: list[AppSecret], client_type: ClientType = ClientType.CONFIDENTIAL) -> App:
    return App(
        id=uuid.uuid4(),
        client_id="cga_app_x",
        name="x",
        client_type=client_type,
        redirect_uris=["https://chatgpt.com/aip/g-1/oauth/callback"],
        scopes=["memories:read"],
        secrets=secrets,
    )


def test_client_secret_check_honours_expiry() -> None:
    now = datetime.now(UTC)
    client = OAuthClient(
        _app(
            [
                AppSecret(secret_hash=hash_secret("cga_cs_current")),
                AppSecret(
                    secret_hash=hash_secret("cga_cs_old"), expires_at=now + timedelta(hours=1)
                ),
                AppSecret(
                    secret_hash=hash_secret("cga_cs_gone"), expires_at=now - timedelta(seconds=1)
                ),
            ]
        ),
        now,
    )

    assert client.check_client_secret("cga_cs_current")
    assert client.check_client_secret("cga_cs_old")
    assert not client.check_client_secret("cga_cs_gone")
    assert not client.check_client_secret("cga_cs_guess")


def test_client_allows_only_its_scopes_and_auth_methods() -> None:
    confidential = OAuthClient(_app([]), datetime.now(UTC))
    public = OAuthClient(_app([], ClientType.PUBLIC), datetime.now(UTC))

    assert confidential.get_allowed_scope("memories:read memories:write") == "memories:read"
    assert confidential.get_allowed_scope("") == "memories:read"
    assert confidential.check_endpoint_auth_method("client_secret_basic", "token")
    assert not confidential.check_endpoint_auth_method("none", "token")
    assert public.check_endpoint_auth_method("none", "token")
    assert not public.check_grant_type("client_credentials")


def test_signing_keys_publish_every_key_and_sign_with_the_first() -> None:
    new, old = generate_key("new"), generate_key("old")
    keys = SigningKeys.from_json(json.dumps([new.as_dict(private=True), old.as_dict(private=True)]))

    assert keys.active.kid == "new"
    assert [key["kid"] for key in keys.jwks()["keys"]] == ["new", "old"]


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        json.dumps([generate_key("k").as_dict(private=False)]),  # public only: cannot sign
        json.dumps([{"kty": "RSA"}]),
    ],
)
def test_unusable_signing_keys_are_refused(raw: str) -> None:
    with pytest.raises(SigningKeyError):
        SigningKeys.from_json(raw)


def test_production_needs_an_https_issuer_and_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGA_ENV", "production")
    monkeypatch.setenv("CGA_DATABASE_URL", "postgresql+asyncpg://u:p@db/cga")
    monkeypatch.setenv("CGA_REDIS_URL", "redis://:p@redis:6379/0")
    monkeypatch.setenv("CGA_AUTH_ADMIN_TOKEN", "a-real-admin-token-of-decent-length")
    monkeypatch.setenv("CGA_AUTH_SIGNING_KEYS", json.dumps([generate_key().as_dict(private=True)]))

    monkeypatch.setenv("CGA_AUTH_PUBLIC_URL", "http://memory.example.com")
    with pytest.raises(ValidationError, match="must be https"):
        AuthSettings()

    monkeypatch.setenv("CGA_AUTH_PUBLIC_URL", "https://memory.example.com")
    assert AuthSettings().issuer == "https://memory.example.com"

    monkeypatch.delenv("CGA_AUTH_SIGNING_KEYS")
    with pytest.raises(ValidationError, match="CGA_AUTH_SIGNING_KEYS must be set"):
        AuthSettings()
