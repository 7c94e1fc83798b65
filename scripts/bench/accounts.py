"""The app and the GPT users the bench acts as, made through the admin API and signed in
through the real OAuth flow, as in the tests and the k6 suite."""

from __future__ import annotations

import httpx

from tests.support.actions import GptUser, sign_in
from tests.support.auth import Browser, RegisteredApp, exchange_code, register_app, register_user

ALL_SCOPES = ["memories:read", "memories:write", "memories:delete"]
# The admin API's ceiling: high enough that no throughput run meets a rate limit.
UNLIMITED = 1_000_000


def unlimited_app(admin: httpx.Client) -> RegisteredApp:
    return register_app(
        admin,
        scopes=ALL_SCOPES,
        rate_limit_per_minute=UNLIMITED,
        user_rate_limit_per_minute=UNLIMITED,
    )


def limited_app(admin: httpx.Client, per_minute: int) -> RegisteredApp:
    """An app limited to ``per_minute`` requests as a whole (its users are not limited)."""
    return register_app(
        admin,
        scopes=["memories:read"],
        rate_limit_per_minute=per_minute,
        user_rate_limit_per_minute=UNLIMITED,
    )


def signed_in_users(
    auth_url: str, admin: httpx.Client, app: RegisteredApp, count: int
) -> list[GptUser]:
    return [sign_in(auth_url, admin, app) for _ in range(count)]


def refresh_chains(auth_url: str, admin: httpx.Client, app: RegisteredApp, count: int) -> list[str]:
    """``count`` refresh tokens of separate grants of one person: the first authorization
    signs in and consents, the others go straight to the callback."""
    email = register_user(admin)
    browser = Browser(auth_url)
    tokens = []
    for _ in range(count):
        code = browser.authorize(app, email)["code"]
        answer = exchange_code(auth_url, app, code)
        answer.raise_for_status()
        tokens.append(str(answer.json()["refresh_token"]))
    return tokens


def app_token(auth_url: str, app: RegisteredApp) -> str:
    """An access token of the app acting for itself (client_credentials, all its scopes)."""
    answer = httpx.post(
        auth_url + "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        },
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])
