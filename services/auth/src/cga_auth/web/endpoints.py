"""Sign-in, sign-out and the user's list of connected apps."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cga_auth.audit import AuditTrail
from cga_auth.metrics import AUTH_FAILURES, AuthFailure
from cga_auth.oauth.service import OAuthService
from cga_auth.passwords import verify_password
from cga_auth.state import Audit, Auth, AuthResources, OAuth
from cga_auth.web.pages import error_page, render
from cga_auth.web.sessions import BrowserSession
from cga_core.models import Status, User

router = APIRouter(tags=["pages"], include_in_schema=False)
ACCOUNT_PATH = "/oauth/account"
_NEXT_PATHS = frozenset({"/oauth/authorize", "/oauth/login", ACCOUNT_PATH})
_BAD_CREDENTIALS = "The email or password is not correct."


def safe_next(target: str | None) -> str:
    """Only our own pages: ``next`` must never become an open redirect."""
    if not target:
        return ACCOUNT_PATH
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path not in _NEXT_PATHS or target.startswith("//"):
        return ACCOUNT_PATH
    return target


async def _app_name(service: OAuthService, target: str) -> str | None:
    """The name of the app a sign-in is for, to show on the form."""
    client_id = parse_qs(urlsplit(target).query).get("client_id", [""])[0]
    client = await service.client(client_id) if target.startswith("/oauth/authorize") else None
    return client.app.name if client else None


@router.get("/oauth/login", response_model=None)
async def login_page(
    request: Request, auth: Auth, service: OAuth, next: str | None = None
) -> Response:
    target = safe_next(next)
    session = await auth.sessions.current_or_new(request)
    if await service.active_user(session.user_id):
        return RedirectResponse(target, status_code=303)
    return render(
        request,
        auth,
        "login.html",
        session,
        next=target,
        email="",
        error=None,
        app_name=await _app_name(service, target),
    )


@router.post("/oauth/login", response_model=None)
async def login(
    request: Request,
    auth: Auth,
    service: OAuth,
    audit: Audit,
    email: str = Form("", max_length=320),
    password: str = Form("", max_length=1024),
    csrf_token: str = Form("", max_length=128),
    next: str = Form("", max_length=4096),
) -> Response:
    target = safe_next(next)
    session = await auth.sessions.current(request)
    if session is None or not session.csrf_matches(csrf_token):
        fresh = await auth.sessions.start(user_id=None)
        return render(
            request,
            auth,
            "login.html",
            fresh,
            status_code=400,
            next=target,
            email=email,
            error="Your sign-in form expired. Please try again.",
            app_name=None,
        )
    client_ip = request.client.host if request.client else "unknown"
    if not await auth.throttle.allows(email, client_ip):
        AUTH_FAILURES.labels(reason=AuthFailure.LOGIN_THROTTLED).inc()
        audit.record("login", "throttled")
        minutes = max(int(auth.throttle.window.total_seconds() // 60), 1)
        return render(
            request,
            auth,
            "login.html",
            session,
            status_code=429,
            next=target,
            email=email,
            error=f"Too many failed attempts. Try again in {minutes} minutes.",
            app_name=None,
        )
    user = await service.users.get_by_email(email)
    valid = await verify_password(user.password_hash if user else None, password)
    if user is None or not valid or user.status != Status.ACTIVE:
        await auth.throttle.record_failure(email, client_ip)
        AUTH_FAILURES.labels(reason=AuthFailure.BAD_CREDENTIALS).inc()
        audit.record("login", "failure", user_id=user.id if user else None)
        return render(
            request,
            auth,
            "login.html",
            session,
            status_code=400,
            next=target,
            email=email,
            error=_BAD_CREDENTIALS,
            app_name=None,
        )
    await auth.throttle.record_success(email)
    return await complete_sign_in(auth, audit, session, user, target, method="password")


async def complete_sign_in(
    auth: AuthResources,
    audit: AuditTrail,
    session: BrowserSession,
    user: User,
    target: str,
    *,
    method: str,
) -> Response:
    """The end of every way of signing in (the password form today; an upstream OIDC callback
    can call this too): a fresh session for the user, then back to where they were going."""
    await auth.sessions.end(session)
    signed_in = await auth.sessions.start(user_id=user.id)
    user.last_login_at = datetime.now(UTC)
    audit.record("login", "success", user_id=user.id, method=method)
    response = RedirectResponse(target, status_code=303)
    auth.sessions.attach(response, signed_in)
    return response


@router.post("/oauth/logout", response_model=None)
async def logout(
    request: Request,
    auth: Auth,
    audit: Audit,
    csrf_token: str = Form("", max_length=128),
    next: str = Form("", max_length=4096),
) -> Response:
    session = await auth.sessions.current(request)
    if session is not None and session.csrf_matches(csrf_token):
        await auth.sessions.end(session)
        audit.record("logout", "success", user_id=session.user_id)
    target = safe_next(next)
    if target == ACCOUNT_PATH:
        target = "/oauth/login"
    response = RedirectResponse(target, status_code=303)
    auth.sessions.detach(response)
    return response


@router.get(ACCOUNT_PATH, response_model=None)
async def account(
    request: Request, auth: Auth, service: OAuth, notice: str | None = None
) -> Response:
    session = await auth.sessions.current(request)
    user = await service.active_user(session.user_id) if session else None
    if session is None or user is None:
        return RedirectResponse(
            "/oauth/login?" + urlencode({"next": ACCOUNT_PATH}), status_code=303
        )
    connections = [
        {
            "name": app.name,
            "scopes": consent.scopes,
            "revoke_url": f"{ACCOUNT_PATH}/apps/{app.client_id}/disconnect",
        }
        for consent, app in await service.repository.consents_of(user.id)
    ]
    message = "The app was disconnected." if notice == "disconnected" else None
    return render(
        request,
        auth,
        "account.html",
        session,
        user_email=user.email,
        connections=connections,
        notice=message,
    )


@router.post(ACCOUNT_PATH + "/apps/{client_id}/disconnect", response_model=None)
async def disconnect(
    request: Request,
    client_id: str,
    auth: Auth,
    service: OAuth,
    audit: Audit,
    csrf_token: str = Form("", max_length=128),
) -> Response:
    session = await auth.sessions.current(request)
    user = await service.active_user(session.user_id) if session else None
    if session is None or user is None or not session.csrf_matches(csrf_token):
        return error_page(
            request,
            auth,
            heading="Your session expired",
            message="Sign in again to manage your connected apps.",
            code="invalid_session",
        )
    app = await service.apps.get_by_client_id(client_id)
    consent = await service.repository.consent(user.id, app.id) if app else None
    if app is None or consent is None:
        return RedirectResponse(ACCOUNT_PATH, status_code=303)
    await service.disconnect(user.id, app.id, app.client_id)
    audit.record("consent.revoke", "success", client_id=app.client_id, user_id=user.id, by="user")
    return RedirectResponse(ACCOUNT_PATH + "?notice=disconnected", status_code=303)
