"""Each rule of the authorization server (RFC 6749/7636/8414/9700 and ChatGPT's constraints)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

import httpx
import pytest

from tests.support.auth import (
    CALLBACK,
    Browser,
    RegisteredApp,
    authorize_path,
    exchange_code,
    query_of,
    refresh,
    register_app,
    register_user,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def email(admin: httpx.Client) -> str:
    return register_user(admin)


def test_unknown_client_gets_an_error_page_and_no_redirect(
    auth_url: str, app: RegisteredApp
) -> None:
    path = authorize_path(app, client_id="cga_app_does_not_exist")

    response = httpx.get(auth_url + path)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "invalid_client" in response.text


def test_redirect_uri_mismatch_gets_an_error_page_and_no_redirect(
    auth_url: str, app: RegisteredApp
) -> None:
    path = authorize_path(app, redirect_uri="https://chatgpt.com/aip/g-attacker/oauth/callback")

    response = httpx.get(auth_url + path)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "not valid" in response.text


def test_redirect_uri_must_match_exactly(auth_url: str, app: RegisteredApp) -> None:
    response = httpx.get(auth_url + authorize_path(app, redirect_uri=CALLBACK + "/"))

    assert response.status_code == 400
    assert "location" not in response.headers


def test_scope_broader_than_allowed_redirects_with_invalid_scope_and_state(
    auth_url: str, admin: httpx.Client
) -> None:
    read_only = register_app(admin, scopes=["memories:read"])

    response = httpx.get(auth_url + authorize_path(read_only, scope="memories:read memories:write"))

    assert response.status_code == 302
    query = query_of(response.headers["location"])
    assert query["error"] == "invalid_scope"
    assert query["state"] == "opaque state/with?odd=chars&more"


def test_unknown_scope_redirects_with_invalid_scope(auth_url: str, app: RegisteredApp) -> None:
    response = httpx.get(auth_url + authorize_path(app, scope="memories:read admin"))

    assert query_of(response.headers["location"])["error"] == "invalid_scope"


def test_unsupported_response_type_redirects_with_the_error(
    auth_url: str, app: RegisteredApp
) -> None:
    response = httpx.get(auth_url + authorize_path(app, response_type="token"))

    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "unsupported_response_type"


def test_wrong_secret_is_401_with_www_authenticate(
    auth_url: str, app: RegisteredApp, email: str
) -> None:
    callback = Browser(auth_url).authorize(app, email)
    wrong = RegisteredApp(app.client_id, "cga_cs_wrong", app.redirect_uris, app.scopes)

    for method in ("client_secret_post", "client_secret_basic"):
        response = exchange_code(auth_url, wrong, callback["code"], method=method)
        assert response.status_code == 401, method
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic")


def test_disabled_app_can_neither_sign_in_nor_get_tokens(
    auth_url: str, admin: httpx.Client, app: RegisteredApp, email: str
) -> None:
    token = exchange_code(auth_url, app, Browser(auth_url).authorize(app, email)["code"]).json()

    assert admin.post(f"/admin/v1/apps/{app.client_id}/disable").status_code == 200

    assert httpx.get(auth_url + authorize_path(app)).status_code == 400
    refused = refresh(auth_url, app, token["refresh_token"])
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


def test_disabled_user_cannot_sign_in_and_loses_refresh(
    auth_url: str, admin: httpx.Client, app: RegisteredApp, email: str
) -> None:
    token = exchange_code(auth_url, app, Browser(auth_url).authorize(app, email)["code"]).json()

    assert admin.post(f"/admin/v1/users/{email}/disable").status_code == 200

    assert refresh(auth_url, app, token["refresh_token"]).json()["error"] == "invalid_grant"
    signed_in = Browser(auth_url).sign_in(email)
    assert signed_in.status_code == 400
    assert "not correct" in signed_in.text


def test_secret_rotation_keeps_the_old_secret_for_the_overlap_only(
    auth_url: str, admin: httpx.Client, app: RegisteredApp
) -> None:
    rotated = admin.post(f"/admin/v1/apps/{app.client_id}/rotate-secret", json={}).json()
    new = RegisteredApp(app.client_id, rotated["client_secret"], app.redirect_uris, app.scopes)

    def client_credentials(credentials: RegisteredApp) -> int:
        return httpx.post(
            auth_url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=credentials.basic_auth,
        ).status_code

    assert client_credentials(app) == 200, "old secret inside the overlap"
    assert client_credentials(new) == 200
    time.sleep(2.5)  # the test service's overlap is 2 s
    assert client_credentials(app) == 401
    assert client_credentials(new) == 200


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_public_client_must_use_pkce(auth_url: str, admin: httpx.Client) -> None:
    public = register_app(admin, client_type="public")

    response = httpx.get(auth_url + authorize_path(public))

    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_public_client_with_s256_gets_tokens_without_a_secret(
    auth_url: str, admin: httpx.Client, email: str
) -> None:
    public = register_app(admin, client_type="public")
    verifier, challenge = _pkce_pair()
    callback = Browser(auth_url).authorize(
        public, email, code_challenge=challenge, code_challenge_method="S256"
    )
    exchange = {
        "grant_type": "authorization_code",
        "code": callback["code"],
        "redirect_uri": public.redirect_uris[0],
        "client_id": public.client_id,
    }

    without_verifier = httpx.post(auth_url + "/oauth/token", data=exchange)
    with_verifier = httpx.post(
        auth_url + "/oauth/token", data={**exchange, "code_verifier": verifier}
    )

    assert without_verifier.status_code == 400
    assert with_verifier.status_code == 200, with_verifier.text


def test_plain_pkce_is_refused(auth_url: str, admin: httpx.Client) -> None:
    public = register_app(admin, client_type="public")
    path = authorize_path(public, code_challenge="a" * 43, code_challenge_method="plain")

    response = httpx.get(auth_url + path)

    assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_metadata_describes_the_server(auth_url: str) -> None:
    response = httpx.get(auth_url + "/.well-known/oauth-authorization-server")

    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == auth_url
    assert metadata["authorization_endpoint"] == auth_url + "/oauth/authorize"
    assert metadata["token_endpoint"] == auth_url + "/oauth/token"
    assert metadata["revocation_endpoint"] == auth_url + "/oauth/revoke"
    assert metadata["introspection_endpoint"] == auth_url + "/oauth/introspect"
    assert metadata["jwks_uri"] == auth_url + "/.well-known/jwks.json"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) >= {
        "client_secret_post",
        "client_secret_basic",
    }
    assert set(metadata["scopes_supported"]) == {
        "memories:read",
        "memories:write",
        "memories:delete",
    }


def test_jwks_publishes_public_keys_only(auth_url: str) -> None:
    keys = httpx.get(auth_url + "/.well-known/jwks.json").json()["keys"]

    assert keys
    for key in keys:
        assert key["kty"] == "RSA"
        assert key["kid"]
        assert {"d", "p", "q", "dp", "dq", "qi"}.isdisjoint(key)


def test_login_is_throttled_per_account(auth_url: str, email: str) -> None:
    browser = Browser(auth_url)
    answers = [browser.sign_in(email, password="wrong password!").status_code for _ in range(6)]

    assert answers == [400] * 5 + [429]
    assert browser.sign_in(email).status_code == 429, "even the right password waits"


def test_login_needs_the_form_csrf_token(auth_url: str, email: str) -> None:
    browser = Browser(auth_url)
    browser.http.get("/oauth/login")

    response = browser.http.post(
        "/oauth/login",
        data={"email": email, "password": "x", "csrf_token": "forged", "next": "/oauth/account"},
    )

    assert response.status_code == 400
    assert "expired" in response.text


def test_login_never_redirects_off_site(auth_url: str, email: str) -> None:
    response = Browser(auth_url).sign_in(email, next_path="https://evil.example/steal")

    assert response.status_code == 303
    assert response.headers["location"] == "/oauth/account"


def test_session_cookie_is_http_only_and_same_site(auth_url: str) -> None:
    response = httpx.get(auth_url + "/oauth/login")

    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie


def test_user_can_disconnect_an_app_which_revokes_its_tokens(
    auth_url: str, app: RegisteredApp, email: str
) -> None:
    browser = Browser(auth_url)
    token = exchange_code(auth_url, app, browser.authorize(app, email)["code"]).json()
    account = browser.http.get("/oauth/account")
    assert app.client_id in account.text

    from tests.support.auth import hidden_field  # noqa: PLC0415

    disconnected = browser.http.post(
        f"/oauth/account/apps/{app.client_id}/disconnect",
        data={"csrf_token": hidden_field(account.text, "csrf_token")},
    )

    assert disconnected.status_code == 303
    assert refresh(auth_url, app, token["refresh_token"]).json()["error"] == "invalid_grant"
    assert browser.http.get(authorize_path(app)).status_code == 200, "consent is asked again"


def test_admin_api_is_not_served_on_the_public_port(auth_url: str) -> None:
    response = httpx.get(
        auth_url + "/admin/v1/apps",
        headers={"Authorization": "Bearer development-admin-token-not-for-production"},
    )

    assert response.status_code == 404


def test_admin_api_needs_the_admin_token(admin: httpx.Client) -> None:
    response = httpx.get(
        str(admin.base_url) + "/admin/v1/apps", headers={"Authorization": "Bearer nope"}
    )

    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "redirect_uris": ["http://example.com/cb"]}, "redirect_uris"),
        ({"name": "x", "redirect_uris": ["https://chatgpt.com/cb#frag"]}, "redirect_uris"),
        ({"name": "x", "redirect_uris": [CALLBACK], "scopes": ["memories:admin"]}, "scopes"),
        ({"name": "", "redirect_uris": [CALLBACK]}, "name"),
        ({"name": "x", "redirect_uris": []}, "redirect_uris"),
    ],
)
def test_invalid_app_registration_is_a_422_naming_the_field(
    admin: httpx.Client, body: dict[str, object], field: str
) -> None:
    response = admin.post("/admin/v1/apps", json=body)

    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert field in response.json()["detail"]
