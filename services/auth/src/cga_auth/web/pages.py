"""Rendering the server-side pages, with the values every page needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from cga_auth.web.sessions import BrowserSession

if TYPE_CHECKING:
    from cga_auth.state import AuthResources

PRODUCT_NAME = "Memory Bank"
STATIC_URL = "/oauth/static"
# Pages may not be framed (clickjacking on the consent button) nor cached.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    # form-action also governs the redirect after a form post: to the app's callback, which
    # is https, or loopback http (which the app registry allows for local testing only).
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'"
    " https: http://127.0.0.1:* http://localhost:* http://[::1]:*; frame-ancestors 'none';"
    " base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def render(
    request: Request,
    auth: AuthResources,
    template: str,
    session: BrowserSession | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    response = auth.templates.TemplateResponse(
        request,
        template,
        {
            "product_name": PRODUCT_NAME,
            "static_url": STATIC_URL,
            "privacy_policy_url": auth.settings.privacy_policy_url,
            "csrf_token": session.csrf_token if session else "",
            "login_url": "/oauth/login",
            "logout_url": "/oauth/logout",
            "account_url": "/oauth/account",
            **context,
        },
        status_code=status_code,
        headers=PAGE_HEADERS,
    )
    if session is not None:
        auth.sessions.attach(response, session)
    return response


def error_page(
    request: Request,
    auth: AuthResources,
    *,
    heading: str,
    message: str,
    code: str,
    status_code: int = 400,
) -> HTMLResponse:
    return render(
        request,
        auth,
        "error.html",
        None,
        status_code=status_code,
        heading=heading,
        message=message,
        code=code,
    )
