"""The refresh_token grant's rules (RFC 6749 §5.2, §6), served on the event loop: client
authentication, scope narrowing, tokens of another client, and racing refreshes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

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
def first_refresh_token(auth_url: str, admin: httpx.Client, app: RegisteredApp) -> str:
    callback = Browser(auth_url).authorize(app, register_user(admin))
    response = exchange_code(auth_url, app, callback["code"])
    assert response.status_code == 200, response.text
    return str(response.json()["refresh_token"])


def _token_request(
    auth_url: str, form: dict[str, str], headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(auth_url + "/oauth/token", data=form, headers=headers or {}, timeout=10)


def test_refresh_with_client_secret_basic(
    auth_url: str, app: RegisteredApp, first_refresh_token: str
) -> None:
    response = _token_request(
        auth_url,
        {"grant_type": "refresh_token", "refresh_token": first_refresh_token},
        app.basic_auth,
    )

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["refresh_token"].startswith("cga_rt_")


def test_a_refresh_may_narrow_the_scope_but_not_widen_it(
    auth_url: str, app: RegisteredApp, first_refresh_token: str
) -> None:
    form = {
        "grant_type": "refresh_token",
        "client_id": app.client_id,
        "client_secret": app.client_secret,
    }
    narrowed = _token_request(
        auth_url, {**form, "refresh_token": first_refresh_token, "scope": "memories:read"}
    )
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "memories:read"

    widened = _token_request(
        auth_url,
        {
            **form,
            "refresh_token": narrowed.json()["refresh_token"],
            "scope": "memories:read memories:write",
        },
    )
    assert widened.status_code == 400
    assert widened.json()["error"] == "invalid_scope"


def test_another_clients_refresh_token_is_an_invalid_grant(
    auth_url: str, admin: httpx.Client, first_refresh_token: str
) -> None:
    other = register_app(admin)

    response = refresh(auth_url, other, first_refresh_token)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("use_basic", [False, True])
def test_a_wrong_client_secret_is_invalid_client_with_www_authenticate(
    auth_url: str, app: RegisteredApp, first_refresh_token: str, use_basic: bool
) -> None:
    wrong = RegisteredApp(app.client_id, "cga_cs_wrong", app.redirect_uris, app.scopes)
    form = {"grant_type": "refresh_token", "refresh_token": first_refresh_token}
    if use_basic:
        response = _token_request(auth_url, form, wrong.basic_auth)
    else:
        response = refresh(auth_url, wrong, first_refresh_token)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert refresh(auth_url, app, first_refresh_token).status_code == 200, "not rotated"


def test_unknown_or_missing_refresh_tokens_are_refused(auth_url: str, app: RegisteredApp) -> None:
    form = {
        "grant_type": "refresh_token",
        "client_id": app.client_id,
        "client_secret": app.client_secret,
    }

    missing = _token_request(auth_url, form)
    unknown = _token_request(auth_url, {**form, "refresh_token": "cga_rt_unknown"})

    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_grant"


def test_racing_refreshes_of_one_token_all_succeed_with_distinct_tokens(
    auth_url: str, app: RegisteredApp, first_refresh_token: str
) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: refresh(auth_url, app, first_refresh_token), range(4)))

    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    issued = {r.json()["refresh_token"] for r in responses}
    assert len(issued) == 4
    for token in issued:
        assert refresh(auth_url, app, token).status_code == 200
