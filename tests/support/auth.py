"""Driving the auth service over HTTP the way its real callers do: an operator through the
admin API, ChatGPT through the token endpoint, a person through the sign-in and consent pages."""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from cga_auth.settings import DEVELOPMENT_ADMIN_TOKEN

CALLBACK = "https://chatgpt.com/aip/g-test/oauth/callback"
OTHER_CALLBACK = "https://chat.openai.com/aip/g-test/oauth/callback"
PASSWORD = "correct horse battery staple"


def admin_client(base_url: str, token: str = DEVELOPMENT_ADMIN_TOKEN) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


@dataclass(frozen=True)
class RegisteredApp:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    scopes: list[str]

    @property
    def basic_auth(self) -> dict[str, str]:
        raw = f"{self.client_id}:{self.client_secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def register_app(admin: httpx.Client, **overrides: Any) -> RegisteredApp:
    body = {
        "name": f"Test GPT {uuid.uuid4().hex[:6]}",
        "redirect_uris": [CALLBACK, OTHER_CALLBACK],
        **overrides,
    }
    response = admin.post("/admin/v1/apps", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    return RegisteredApp(
        data["app"]["client_id"],
        data["client_secret"],
        data["app"]["redirect_uris"],
        data["app"]["scopes"],
    )


def register_user(admin: httpx.Client, password: str = PASSWORD) -> str:
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    response = admin.post("/admin/v1/users", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    return email


def authorize_path(app: RegisteredApp, **params: str) -> str:
    query = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uris[0],
        "scope": " ".join(app.scopes),
        "state": "opaque state/with?odd=chars&more",
        **params,
    }
    return "/oauth/authorize?" + urlencode({k: v for k, v in query.items() if v is not None})


def hidden_field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field in page"
    return unescape(match.group(1))


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


class Browser:
    """A person's browser: keeps cookies, follows our pages, stops at the client's callback."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10, follow_redirects=False)

    def sign_in(
        self, email: str, password: str = PASSWORD, next_path: str = "/oauth/account"
    ) -> httpx.Response:
        page = self.http.get("/oauth/login", params={"next": next_path})
        return self.http.post(
            "/oauth/login",
            data={
                "email": email,
                "password": password,
                "csrf_token": hidden_field(page.text, "csrf_token"),
                "next": hidden_field(page.text, "next"),
            },
        )

    def consent(self, path: str, decision: str = "allow") -> httpx.Response:
        page = self.http.get(path)
        assert page.status_code == 200, page.text
        return self.http.post(
            path, data={"csrf_token": hidden_field(page.text, "csrf_token"), "decision": decision}
        )

    def authorize(
        self, app: RegisteredApp, email: str, *, password: str = PASSWORD, **params: str
    ) -> dict[str, str]:
        """Sign in and consent; the query ChatGPT's callback receives."""
        path = authorize_path(app, **params)
        first = self.http.get(path)
        if first.status_code == 303 and "/oauth/login" in first.headers["location"]:
            signed_in = self.sign_in(email, password, next_path=path)
            assert signed_in.status_code == 303, signed_in.text
        again = self.http.get(path)
        if again.status_code == 302:
            return query_of(again.headers["location"])
        decided = self.consent(path)
        assert decided.status_code == 303, decided.text
        return query_of(decided.headers["location"])


def exchange_code(
    base_url: str, app: RegisteredApp, code: str, *, method: str = "client_secret_post"
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": app.redirect_uris[0]}
    headers: dict[str, str] = {}
    if method == "client_secret_basic":
        headers = app.basic_auth
    else:
        data |= {"client_id": app.client_id, "client_secret": app.client_secret}
    return httpx.post(base_url + "/oauth/token", data=data, headers=headers, timeout=10)


def refresh(base_url: str, app: RegisteredApp, refresh_token: str) -> httpx.Response:
    return httpx.post(
        base_url + "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        },
        timeout=10,
    )
