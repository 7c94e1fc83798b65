"""What the auth service leaves behind: audit records and metrics, and no secret in its logs."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cga_auth.settings import DEVELOPMENT_ADMIN_TOKEN
from cga_core.models import AuditEvent
from tests.support.auth import (
    PASSWORD,
    Browser,
    RegisteredApp,
    exchange_code,
    refresh,
    register_app,
    register_user,
)
from tests.support.metrics import Exposition
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e


def _full_flow(auth_url: str, admin: httpx.Client) -> tuple[RegisteredApp, list[str]]:
    """Everything a GPT and a person do; returns the app and every secret that crossed the wire."""
    app = register_app(admin)
    email = register_user(admin)
    browser = Browser(auth_url)
    browser.sign_in(email, password="not the password")
    callback = browser.authorize(app, email)
    token = exchange_code(auth_url, app, callback["code"], method="client_secret_basic").json()
    refreshed = refresh(auth_url, app, token["refresh_token"]).json()
    exchange_code(auth_url, app, callback["code"])  # reuse: detected and revoked
    rotated = admin.post(f"/admin/v1/apps/{app.client_id}/rotate-secret", json={}).json()
    httpx.post(
        auth_url + "/oauth/revoke",
        data={
            "token": refreshed["refresh_token"],
            "client_id": app.client_id,
            "client_secret": rotated["client_secret"],
        },
    )
    secrets = [
        app.client_secret,
        rotated["client_secret"],
        PASSWORD,
        "not the password",
        DEVELOPMENT_ADMIN_TOKEN,
        callback["code"],
        token["access_token"],
        token["access_token"].split(".")[2],  # the JWT signature alone
        token["refresh_token"],
        refreshed["access_token"],
        refreshed["refresh_token"],
        *browser.http.cookies.values(),
    ]
    return app, secrets


def test_no_secret_reaches_the_logs(
    auth_service: ServiceProcess, auth_url: str, admin: httpx.Client
) -> None:
    _, secrets = _full_flow(auth_url, admin)

    log = auth_service.log_path.read_text()

    assert "auth.login" in log, "the flow was logged"
    assert "auth.token.issue" in log, "the flow was logged"
    leaked = [secret[:12] + "…" for secret in secrets if secret in log]
    assert leaked == []


async def test_audit_records_each_step_of_the_flow(
    auth_url: str, admin: httpx.Client, engine: AsyncEngine
) -> None:
    app, _ = await asyncio.to_thread(_full_flow, auth_url, admin)

    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(
                    AuditEvent.action,
                    AuditEvent.outcome,
                    AuditEvent.request_id,
                    AuditEvent.client_ip,
                )
                .where(AuditEvent.client_id == app.client_id)
                .order_by(AuditEvent.id)
            )
        ).all()

    actions = [(action, outcome) for action, outcome, _, _ in rows]
    for expected in [
        ("app.create", "success"),
        ("consent.grant", "success"),
        ("token.issue", "success"),
        ("token.refresh", "success"),
        ("grant.revoke", "success"),
        ("code.reuse_detected", "revoked"),
        ("app.rotate_secret", "success"),
    ]:
        assert expected in actions, expected
    assert all(request_id and str(client_ip) == "127.0.0.1" for _, _, request_id, client_ip in rows)


async def test_sign_in_attempts_are_audited(
    auth_url: str, admin: httpx.Client, engine: AsyncEngine
) -> None:
    def sign_in_twice() -> str:
        email = register_user(admin)
        Browser(auth_url).sign_in(email, password="wrong password!")
        Browser(auth_url).sign_in(email)
        users = admin.get("/admin/v1/users").json()
        return str(next(user["id"] for user in users if user["email"] == email))

    user_id = await asyncio.to_thread(sign_in_twice)

    async with engine.connect() as connection:
        outcomes = (
            (
                await connection.execute(
                    select(AuditEvent.outcome)
                    .where(AuditEvent.action == "login", AuditEvent.user_id == user_id)
                    .order_by(AuditEvent.id)
                )
            )
            .scalars()
            .all()
        )

    assert list(outcomes) == ["failure", "success"]


def test_metrics_count_tokens_by_grant_and_failures_by_reason(
    auth_service: ServiceProcess, auth_url: str, admin: httpx.Client
) -> None:
    before = Exposition.scrape(auth_url)

    _full_flow(auth_url, admin)

    after = Exposition.scrape(auth_url)
    counted = {
        ("cga_tokens_issued_total", "grant", "authorization_code"),
        ("cga_tokens_issued_total", "grant", "refresh_token"),
        ("cga_auth_failures_total", "reason", "bad_credentials"),
        ("cga_auth_failures_total", "reason", "code_reuse"),
    }
    for sample, label, value in counted:
        assert after.value(sample, **{label: value}) > before.value(sample, **{label: value})
