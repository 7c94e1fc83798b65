"""Who may call the admin API: only connections to the admin port, with the admin token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cga_auth.state import Auth
from cga_core.errors import AppError, NotFound
from cga_core.security import secrets_equal


class AdminUnauthorized(AppError):
    status_code = 401
    error = "unauthorized"
    default_detail = "A valid admin token is required (Authorization: Bearer <token>)."


def require_admin(request: Request, auth: Auth) -> None:
    server = request.scope.get("server")
    if not server or server[1] != auth.settings.admin_port:
        # The public port does not admit the admin API exists.
        raise NotFound("Not Found")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = auth.settings.admin_token.get_secret_value()
    if scheme.lower() != "bearer" or not token or not secrets_equal(token, expected):
        raise AdminUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="admin"'})


AdminOnly = Annotated[None, Depends(require_admin)]
