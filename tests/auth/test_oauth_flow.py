"""The GPT Actions sign-in, end to end over HTTP against the real auth process: an app made
through the admin API, a person signing in and consenting, ChatGPT exchanging and refreshing."""

from __future__ import annotations

import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.auth import (
    Browser,
    RegisteredApp,
    exchange_code,
    refresh,
    register_app,
    register_user,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def email(admin: httpx.Client) -> str:
    return register_user(admin)


def _sign_in_and_exchange(auth_url: str, app: RegisteredApp, email: str) -> dict[str, object]:
    callback = Browser(auth_url).authorize(app, email)
    response = exchange_code(auth_url, app, callback["code"])
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_code_exchange_with_each_client_authentication_method(
    auth_url: str, app: RegisteredApp, email: str, method: str
) -> None:
    callback = Browser(auth_url).authorize(app, email)

    response = exchange_code(auth_url, app, callback["code"], method=method)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "memories:read memories:write"
    assert body["access_token"].startswith("cga_at_")
    assert body["refresh_token"].startswith("cga_rt_")


def test_state_comes_back_unchanged(auth_url: str, app: RegisteredApp, email: str) -> None:
    state = "ßtate with spaces/&?=+%20 and 🔑"

    callback = Browser(auth_url).authorize(app, email, state=state)

    assert callback["state"] == state
    assert callback["code"].startswith("cga_ac_")


def test_access_token_is_a_jwt_verifiable_with_the_published_keys(
    auth_url: str, app: RegisteredApp, email: str
) -> None:
    token = _sign_in_and_exchange(auth_url, app, email)
    keys = KeySet.import_key_set(httpx.get(auth_url + "/.well-known/jwks.json").json())

    decoded = jwt.decode(str(token["access_token"]).removeprefix("cga_at_"), keys)

    assert decoded.header["alg"] == "RS256"
    assert decoded.header["kid"] in {key["kid"] for key in keys.as_dict()["keys"]}
    claims = decoded.claims
    assert claims["iss"] == auth_url
    assert claims["aud"] == "custom-gpt-adapter"
    assert claims["client_id"] == app.client_id
    assert claims["scope"] == "memories:read memories:write"
    assert claims["exp"] - claims["iat"] == 3600
    assert {"sub", "jti", "gid"} <= set(claims)


def test_consent_is_remembered_for_the_same_scopes(
    auth_url: str, app: RegisteredApp, email: str
) -> None:
    browser = Browser(auth_url)
    browser.authorize(app, email)

    again = browser.http.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": app.redirect_uris[1],
            "scope": "memories:read",
            "state": "second",
        },
    )

    assert again.status_code == 302
    assert again.headers["location"].startswith(app.redirect_uris[1] + "?code=cga_ac_")


def test_empty_scope_means_every_scope_the_app_may_ask_for(
    auth_url: str, app: RegisteredApp, email: str
) -> None:
    callback = Browser(auth_url).authorize(app, email, scope="")

    token = exchange_code(auth_url, app, callback["code"]).json()

    assert token["scope"] == "memories:read memories:write"


def test_refresh_rotates_and_the_old_token_works_inside_the_grace_window(
    auth_url: str, app: RegisteredApp, email: str
) -> None:
    first = _sign_in_and_exchange(auth_url, app, email)

    rotated = refresh(auth_url, app, str(first["refresh_token"]))
    retried = refresh(auth_url, app, str(first["refresh_token"]))

    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["refresh_token"] != first["refresh_token"]
    assert rotated.json()["access_token"] != first["access_token"]
    assert retried.status_code == 200, retried.text
    assert refresh(auth_url, app, retried.json()["refresh_token"]).status_code == 200


def test_reusing_a_rotated_refresh_token_after_the_grace_window_revokes_the_grant(
    auth_url: str, app: RegisteredApp, email: str
) -> None:
    first = _sign_in_and_exchange(auth_url, app, email)
    rotated = refresh(auth_url, app, str(first["refresh_token"])).json()
    time.sleep(2.5)  # the test service's grace window is 2 s

    reused = refresh(auth_url, app, str(first["refresh_token"]))
    successor = refresh(auth_url, app, rotated["refresh_token"])

    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert successor.status_code == 400, "the whole grant family is revoked"
    introspected = httpx.post(
        auth_url + "/oauth/introspect",
        data={"token": rotated["access_token"]},
        headers=app.basic_auth,
    )
    assert introspected.json() == {"active": False}


def test_a_code_works_once_and_its_reuse_revokes_what_it_issued(
    auth_url: str, app: RegisteredApp, email: str
) -> None:
    callback = Browser(auth_url).authorize(app, email)
    first = exchange_code(auth_url, app, callback["code"])

    second = exchange_code(auth_url, app, callback["code"])

    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert refresh(auth_url, app, first.json()["refresh_token"]).json()["error"] == "invalid_grant"


def test_an_expired_code_is_refused(auth_url: str, app: RegisteredApp, email: str) -> None:
    callback = Browser(auth_url).authorize(app, email)
    time.sleep(3.5)  # the test service's codes live 3 s

    response = exchange_code(auth_url, app, callback["code"])

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_a_code_is_bound_to_its_redirect_uri(auth_url: str, app: RegisteredApp, email: str) -> None:
    callback = Browser(auth_url).authorize(app, email)

    response = httpx.post(
        auth_url + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": app.redirect_uris[1],
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        },
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_a_code_is_bound_to_its_client(
    auth_url: str, admin: httpx.Client, app: RegisteredApp, email: str
) -> None:
    other = register_app(admin)
    callback = Browser(auth_url).authorize(app, email)

    response = exchange_code(auth_url, other, callback["code"])

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_token_request_as_json_is_tolerated(auth_url: str, app: RegisteredApp, email: str) -> None:
    callback = Browser(auth_url).authorize(app, email)

    response = httpx.post(
        auth_url + "/oauth/token",
        json={
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": app.redirect_uris[0],
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        },
    )

    assert response.status_code == 200, response.text


def test_revoked_refresh_token_is_refused_and_its_access_token_is_inactive(
    auth_url: str, app: RegisteredApp, email: str
) -> None:
    token = _sign_in_and_exchange(auth_url, app, email)

    revoked = httpx.post(
        auth_url + "/oauth/revoke",
        data={"token": token["refresh_token"], "token_type_hint": "refresh_token"},
        headers=app.basic_auth,
    )

    assert revoked.status_code == 200
    assert refresh(auth_url, app, str(token["refresh_token"])).json()["error"] == "invalid_grant"
    introspected = httpx.post(
        auth_url + "/oauth/introspect",
        data={"token": token["access_token"]},
        headers=app.basic_auth,
    )
    assert introspected.json() == {"active": False}


def test_introspection_describes_an_active_access_token(
    auth_url: str, app: RegisteredApp, email: str
) -> None:
    token = _sign_in_and_exchange(auth_url, app, email)

    body = httpx.post(
        auth_url + "/oauth/introspect",
        data={"token": token["access_token"]},
        headers=app.basic_auth,
    ).json()

    assert body["active"] is True
    assert body["client_id"] == app.client_id
    assert body["scope"] == "memories:read memories:write"
    assert body["token_type"] == "access_token"


def test_introspection_needs_client_authentication(auth_url: str) -> None:
    response = httpx.post(auth_url + "/oauth/introspect", data={"token": "cga_at_x"})

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_client_credentials_grant_issues_an_app_token_without_refresh(
    auth_url: str, app: RegisteredApp
) -> None:
    response = httpx.post(
        auth_url + "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "memories:read"},
        headers=app.basic_auth,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "memories:read"
    assert "refresh_token" not in body


def test_unsupported_grant_type_is_a_400(auth_url: str, app: RegisteredApp) -> None:
    response = httpx.post(
        auth_url + "/oauth/token", data={"grant_type": "password"}, headers=app.basic_auth
    )

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
