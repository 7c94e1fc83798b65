"""A signed-in GPT user, as the Actions tests need one: token, subject, and memories seeded
through memory-proxy's internal API (the public write path is the worker's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from cga_core.internal import DEVELOPMENT_INTERNAL_TOKEN, INTERNAL_TOKEN_HEADER
from tests.support.auth import Browser, RegisteredApp, exchange_code, register_user


@dataclass(frozen=True)
class GptUser:
    email: str
    sub: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def sign_in(auth_url: str, admin: httpx.Client, app: RegisteredApp) -> GptUser:
    email = register_user(admin)
    callback = Browser(auth_url).authorize(app, email)
    token = exchange_code(auth_url, app, callback["code"]).json()
    introspected = httpx.post(
        auth_url + "/oauth/introspect",
        data={"token": token["access_token"]},
        headers=app.basic_auth,
    ).json()
    return GptUser(email, introspected["sub"], token["access_token"], token["refresh_token"])


def seed_memory(memory_proxy_url: str, owner: str, content: str, **metadata: Any) -> str:
    response = httpx.post(
        f"{memory_proxy_url}/internal/v1/owners/{owner}/memories",
        json={"content": content, "metadata": metadata},
        headers={INTERNAL_TOKEN_HEADER: DEVELOPMENT_INTERNAL_TOKEN},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
