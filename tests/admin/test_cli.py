"""``cga-admin`` as an operator uses it: the real executable against a real auth process."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from typing import Any

import httpx
import pytest

from cga_auth.keys import SigningKeys
from cga_devstack._process import free_port
from tests.admin.conftest import AdminCli
from tests.support.auth import CALLBACK, OTHER_CALLBACK, PASSWORD, Browser
from tests.support.processes import ServiceProcess

CLIENT_ID = re.compile(r"cga_app_[0-9a-f]{24}")
CLIENT_SECRET = re.compile(r"cga_cs_[A-Za-z0-9_-]{20,}")
GPT_BUILDER_ROWS = (
    "Client ID",
    "Client Secret",
    "Authorization URL",
    "Token URL",
    "Scope",
    "Token exchange method",
)


def _new_app(cli: AdminCli, *extra: str) -> dict[str, Any]:
    created: dict[str, Any] = cli.json(
        "apps",
        "create",
        "--name",
        f"GPT {uuid.uuid4().hex[:6]}",
        "--redirect-uri",
        CALLBACK,
        *extra,
    )
    return created


def _new_email() -> str:
    return f"admin-cli-{uuid.uuid4().hex[:8]}@example.com"


def _client_credentials(auth_url: str, client_id: str, secret: str) -> httpx.Response:
    """A token request authenticated by the client secret, as a confidential client makes."""
    return httpx.post(
        auth_url + "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=10,
    )


def _signs_in(auth_url: str, email: str, password: str) -> bool:
    return Browser(auth_url).sign_in(email, password).status_code == 303


def _assert_one_error_line(result: subprocess.CompletedProcess[str], prefix: str) -> None:
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"cga-admin: {prefix}"), result.stderr
    assert "Traceback" not in result.stderr


# apps create


def test_apps_create_prints_every_gpt_builder_field_and_the_secret_once(
    cli: AdminCli, auth_service: ServiceProcess
) -> None:
    result = cli.run("apps", "create", "--name", "Memory GPT", "--redirect-uri", CALLBACK)

    assert result.returncode == 0, result.stderr
    output = result.stdout
    for row in GPT_BUILDER_ROWS:
        assert re.search(rf"│ {row} +│", output), row
    assert CLIENT_ID.search(output)
    assert f"{auth_service.base_url}/oauth/authorize" in output
    assert f"{auth_service.base_url}/oauth/token" in output
    assert "memories:read memories:write" in output
    assert "Default (POST request)" in output
    secrets = CLIENT_SECRET.findall(output)
    assert len(secrets) == 1
    assert "shown only this once" in output
    assert "https://chat.openai.com/aip/g-.../oauth/callback" in output
    assert "https://chatgpt.com/aip/g-.../oauth/callback" in output


def test_apps_create_prints_a_secret_that_authenticates_the_app(
    cli: AdminCli, auth_service: ServiceProcess
) -> None:
    result = cli.run("apps", "create", "--name", "Memory GPT", "--redirect-uri", CALLBACK)

    client_id = CLIENT_ID.search(result.stdout)
    secret = CLIENT_SECRET.search(result.stdout)
    assert client_id, result.stdout
    assert secret, result.stdout
    answer = _client_credentials(auth_service.base_url, client_id[0], secret[0])
    assert answer.status_code == 200, answer.text


def test_apps_create_json_has_the_secret_and_the_gpt_builder_fields(
    cli: AdminCli, auth_service: ServiceProcess
) -> None:
    result = cli.run("apps", "create", "--name", "Memory GPT", "--redirect-uri", CALLBACK, "--json")

    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert CLIENT_SECRET.fullmatch(created["client_secret"])
    assert created["gpt_builder"] == {
        "client_id": created["app"]["client_id"],
        "client_secret": created["client_secret"],
        "authorization_url": f"{auth_service.base_url}/oauth/authorize",
        "token_url": f"{auth_service.base_url}/oauth/token",
        "scope": "memories:read memories:write",
        "token_exchange_method": "Default (POST request)",
    }


def test_apps_create_passes_scopes_client_type_and_rate_limits(cli: AdminCli) -> None:
    created = _new_app(
        cli,
        "--scope",
        "memories:read",
        "--public",
        "--rate-limit",
        "120",
        "--user-rate-limit",
        "12",
    )

    app = created["app"]
    assert app["scopes"] == ["memories:read"]
    assert app["client_type"] == "public"
    assert (app["rate_limit_per_minute"], app["user_rate_limit_per_minute"]) == (120, 12)
    assert created["client_secret"] == ""


# apps list / show / update


def test_apps_list_shows_a_registered_app(cli: AdminCli) -> None:
    client_id = _new_app(cli)["app"]["client_id"]

    result = cli.run("apps", "list")

    assert result.returncode == 0, result.stderr
    assert client_id in result.stdout
    assert client_id in [app["client_id"] for app in cli.json("apps", "list")]


def test_apps_show_prints_the_app(cli: AdminCli) -> None:
    app = _new_app(cli)["app"]

    result = cli.run("apps", "show", app["client_id"])

    assert result.returncode == 0, result.stderr
    assert app["name"] in result.stdout
    assert CALLBACK in result.stdout
    assert cli.json("apps", "show", app["client_id"]) == app


def test_apps_update_replaces_the_redirect_uris(cli: AdminCli) -> None:
    client_id = _new_app(cli)["app"]["client_id"]

    result = cli.run(
        "apps", "update", client_id, "--redirect-uri", OTHER_CALLBACK, "--redirect-uri", CALLBACK
    )

    assert result.returncode == 0, result.stderr
    shown = cli.json("apps", "show", client_id)
    assert shown["redirect_uris"] == [OTHER_CALLBACK, CALLBACK]


def test_apps_update_without_a_change_fails(cli: AdminCli) -> None:
    client_id = _new_app(cli)["app"]["client_id"]

    result = cli.run("apps", "update", client_id)

    _assert_one_error_line(result, "invalid_request: Nothing to update")


# apps rotate-secret / disable / enable / delete


def test_apps_rotate_secret_prints_a_new_working_secret(
    cli: AdminCli, auth_service: ServiceProcess
) -> None:
    created = _new_app(cli)
    client_id = created["app"]["client_id"]

    result = cli.run("apps", "rotate-secret", client_id, "--overlap", "3600")

    assert result.returncode == 0, result.stderr
    secrets = CLIENT_SECRET.findall(result.stdout)
    assert len(secrets) == 1
    assert secrets[0] != created["client_secret"]
    assert "The previous secret works until" in result.stdout
    answer = _client_credentials(auth_service.base_url, client_id, secrets[0])
    assert answer.status_code == 200, answer.text


def test_apps_rotate_secret_json_says_until_when_the_previous_secret_works(
    cli: AdminCli,
) -> None:
    client_id = _new_app(cli)["app"]["client_id"]

    rotated = cli.json("apps", "rotate-secret", client_id, "--overlap", "0")

    assert CLIENT_SECRET.fullmatch(rotated["client_secret"])
    assert rotated["previous_secret_expires_at"]


def test_apps_disable_stops_the_app_getting_tokens(
    cli: AdminCli, auth_service: ServiceProcess
) -> None:
    created = _new_app(cli)
    client_id = created["app"]["client_id"]

    result = cli.run("apps", "disable", client_id)

    assert result.returncode == 0, result.stderr
    assert "disabled" in result.stdout
    assert cli.json("apps", "show", client_id)["status"] == "disabled"
    answer = _client_credentials(auth_service.base_url, client_id, created["client_secret"])
    assert answer.status_code == 401


def test_apps_enable_makes_a_disabled_app_work_again(
    cli: AdminCli, auth_service: ServiceProcess
) -> None:
    created = _new_app(cli)
    client_id = created["app"]["client_id"]
    cli.json("apps", "disable", client_id)

    result = cli.run("apps", "enable", client_id)

    assert result.returncode == 0, result.stderr
    assert cli.json("apps", "show", client_id)["status"] == "active"
    answer = _client_credentials(auth_service.base_url, client_id, created["client_secret"])
    assert answer.status_code == 200, answer.text


def test_apps_delete_with_yes_deletes_the_app(cli: AdminCli) -> None:
    client_id = _new_app(cli)["app"]["client_id"]

    result = cli.run("apps", "delete", client_id, "--yes")

    assert result.returncode == 0, result.stderr
    shown = cli.run("apps", "show", client_id)
    _assert_one_error_line(shown, "app_not_found: No app has this client_id.")


def test_apps_delete_asks_first_and_keeps_the_app_when_declined(cli: AdminCli) -> None:
    client_id = _new_app(cli)["app"]["client_id"]

    result = cli.run("apps", "delete", client_id, input_text="n\n")

    assert result.returncode == 1
    assert "Delete app" in result.stderr
    assert "Nothing was deleted" in result.stderr
    assert cli.json("apps", "show", client_id)["status"] == "active"


def test_apps_delete_deletes_the_app_when_confirmed(cli: AdminCli) -> None:
    client_id = _new_app(cli)["app"]["client_id"]

    result = cli.run("apps", "delete", client_id, input_text="y\n")

    assert result.returncode == 0, result.stderr
    assert cli.run("apps", "show", client_id).returncode == 1


# users


def test_users_create_prints_a_generated_password_once_that_signs_in(
    cli: AdminCli, auth_service: ServiceProcess
) -> None:
    email = _new_email()

    result = cli.run("users", "create", email)

    assert result.returncode == 0, result.stderr
    assert email in result.stdout
    assert "shown only this once" in result.stdout
    password = result.stdout.split("Generated password:")[1].split()[0]
    assert result.stdout.count(password) == 1
    assert _signs_in(auth_service.base_url, email, password)


def test_users_create_json_has_the_user_and_the_generated_password(cli: AdminCli) -> None:
    email = _new_email()

    created = cli.json("users", "create", email)

    assert created["user"]["email"] == email
    assert created["user"]["status"] == "active"
    assert len(created["password"]) >= 12


def test_users_create_with_password_stdin_sets_that_password(
    cli: AdminCli, auth_service: ServiceProcess
) -> None:
    email = _new_email()

    result = cli.run("users", "create", email, "--password-stdin", input_text=PASSWORD + "\n")

    assert result.returncode == 0, result.stderr
    assert "Generated password" not in result.stdout
    assert _signs_in(auth_service.base_url, email, PASSWORD)


def test_users_create_twice_fails_with_email_taken(cli: AdminCli) -> None:
    email = _new_email()
    cli.json("users", "create", email)

    result = cli.run("users", "create", email)

    _assert_one_error_line(result, "email_taken: ")


def test_users_list_shows_a_created_user(cli: AdminCli) -> None:
    email = _new_email()
    cli.json("users", "create", email)

    result = cli.run("users", "list")

    assert result.returncode == 0, result.stderr
    assert email in result.stdout
    assert email in [user["email"] for user in cli.json("users", "list")]


def test_users_disable_stops_the_user_signing_in(
    cli: AdminCli, auth_service: ServiceProcess
) -> None:
    email = _new_email()
    password = cli.json("users", "create", email)["password"]

    result = cli.run("users", "disable", email)

    assert result.returncode == 0, result.stderr
    assert "disabled" in result.stdout
    assert not _signs_in(auth_service.base_url, email, password)
    listed = {user["email"]: user for user in cli.json("users", "list")}
    assert listed[email]["status"] == "disabled"


def test_users_reset_password_prints_a_new_password_that_signs_in(
    cli: AdminCli, auth_service: ServiceProcess
) -> None:
    email = _new_email()
    old_password = cli.json("users", "create", email)["password"]

    result = cli.run("users", "reset-password", email)

    assert result.returncode == 0, result.stderr
    password = result.stdout.split("Generated password:")[1].split()[0]
    assert password != old_password
    assert _signs_in(auth_service.base_url, email, password)
    assert not _signs_in(auth_service.base_url, email, old_password)


def test_users_disable_of_an_unknown_user_fails_with_user_not_found(cli: AdminCli) -> None:
    result = cli.run("users", "disable", _new_email())

    _assert_one_error_line(result, "user_not_found: ")


# errors


def test_unknown_app_fails_with_app_not_found(cli: AdminCli) -> None:
    result = cli.run("apps", "show", "cga_app_000000000000000000000000")

    _assert_one_error_line(result, "app_not_found: No app has this client_id.")


def test_invalid_redirect_uri_fails_naming_the_field(cli: AdminCli) -> None:
    result = cli.run(
        "apps", "create", "--name", "Memory GPT", "--redirect-uri", "http://example.com"
    )

    _assert_one_error_line(result, "invalid_request: ")
    assert "redirect_uris" in result.stderr
    assert "https" in result.stderr


def test_unknown_scope_fails_naming_the_field(cli: AdminCli) -> None:
    result = cli.run(
        "apps",
        "create",
        "--name",
        "Memory GPT",
        "--redirect-uri",
        CALLBACK,
        "--scope",
        "memories:everything",
    )

    _assert_one_error_line(result, "invalid_request: ")
    assert "scopes" in result.stderr
    assert "unknown scope" in result.stderr


def test_wrong_admin_token_fails_with_unauthorized_and_never_prints_a_token(
    cli: AdminCli,
) -> None:
    wrong_token = "wrong-admin-token-" + uuid.uuid4().hex

    result = cli.run("apps", "list", CGA_ADMIN_TOKEN=wrong_token)

    _assert_one_error_line(result, "unauthorized: ")
    assert wrong_token not in result.stderr
    assert cli.token not in result.stderr


def test_admin_token_option_is_sent_to_the_api(cli: AdminCli) -> None:
    result = cli.run(
        "--admin-token", "wrong-admin-token", "apps", "list", CGA_ADMIN_TOKEN=cli.token
    )

    _assert_one_error_line(result, "unauthorized: ")


def test_unreachable_admin_url_fails_with_unreachable(cli: AdminCli) -> None:
    closed = f"http://127.0.0.1:{free_port()}"

    result = cli.run("--admin-url", closed, "apps", "list")

    _assert_one_error_line(result, f"unreachable: Cannot reach the admin API at {closed}")


def test_help_never_shows_the_admin_token(cli: AdminCli) -> None:
    result = cli.run("--help")

    assert result.returncode == 0, result.stderr
    assert "--admin-token" in result.stdout
    assert cli.token not in result.stdout


@pytest.mark.parametrize(
    "command",
    [("apps", "list"), ("users", "list"), ("keys", "generate")],
    ids=" ".join,
)
def test_json_output_is_only_json(cli: AdminCli, command: tuple[str, ...]) -> None:
    result = cli.run(*command, "--json")

    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)


# keys


def test_keys_generate_prints_a_private_rsa_jwk_the_auth_service_accepts(cli: AdminCli) -> None:
    result = cli.run("keys", "generate", "--kid", "2025-rotation")

    assert result.returncode == 0, result.stderr
    jwk = json.loads(result.stdout)
    assert (jwk["kty"], jwk["kid"], jwk["alg"], jwk["use"]) == (
        "RSA",
        "2025-rotation",
        "RS256",
        "sig",
    )
    assert "d" in jwk
    keys = SigningKeys.from_json("[" + result.stdout + "]")
    assert keys.active.kid == "2025-rotation"
    assert keys.active.is_private


def test_keys_generate_names_the_key_when_no_kid_is_given(cli: AdminCli) -> None:
    first = json.loads(cli.run("keys", "generate").stdout)

    assert first["kid"]
    SigningKeys.from_json(json.dumps([first]))


def test_keys_generate_hints_on_stderr_where_the_key_goes(cli: AdminCli) -> None:
    result = cli.run("keys", "generate")

    assert result.stderr.count("\n") == 1
    assert "CGA_AUTH_SIGNING_KEYS" in result.stderr


# status


def test_status_json_reports_each_service_and_fails_when_one_is_unreachable(
    cli: AdminCli, auth_service: ServiceProcess
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"

    result = cli.run(
        "status",
        "--json",
        f"--auth-url={auth_service.base_url}",
        f"--gateway-url={closed}",
        f"--memory-proxy-url={closed}",
        f"--worker-url={closed}",
    )

    assert result.returncode == 1
    states = {entry["service"]: entry["state"] for entry in json.loads(result.stdout)}
    assert states == {
        "auth": "ready",
        "gateway": "unreachable",
        "memory-proxy": "unreachable",
        "worker": "unreachable",
    }
