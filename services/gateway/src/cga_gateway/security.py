"""Who may call which endpoint: a valid access token with the endpoint's scope (RFC 6750).
Whether the token's grant has been revoked is asked at admission (admission.py), in the same
Redis round trip as the rate limits.

No ``from __future__ import annotations``: the dependency built in ``requires`` annotates its
parameters with local objects that FastAPI must resolve at runtime."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from fastapi.security import OAuth2AuthorizationCodeBearer

from cga_core.errors import AppError, ServiceUnavailable
from cga_gateway.tokens import InvalidToken, KeysUnavailable, Principal, TokenVerifier

REALM = "memories"


class InvalidTokenError(AppError):
    status_code = 401
    error = "invalid_token"
    default_detail = "A valid access token is required: sign in again."


class InsufficientScope(AppError):
    status_code = 403
    error = "insufficient_scope"
    default_detail = "The access token does not allow this action."


class AuthUnavailable(ServiceUnavailable):
    error = "auth_unavailable"
    default_detail = "Access tokens cannot be checked right now; retry shortly."


def bearer_challenge(error: str | None = None, **params: str) -> dict[str, str]:
    """The ``WWW-Authenticate`` header every 401 and 403 carries (RFC 6750 §3)."""
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
    parts += [f'{key}="{value}"' for key, value in params.items()]
    return {"WWW-Authenticate": "Bearer " + ", ".join(parts)}


def invalid_token(detail: str) -> InvalidTokenError:
    return InvalidTokenError(
        detail, headers=bearer_challenge("invalid_token", error_description=detail)
    )


def oauth2_scheme(authorization_url: str, token_url: str, scopes: dict[str, str]) -> Any:
    """The OpenAPI security scheme GPT builders read; the check itself is ours."""
    return OAuth2AuthorizationCodeBearer(
        authorizationUrl=authorization_url,
        tokenUrl=token_url,
        scopes=scopes,
        scheme_name="oauth2",
        auto_error=False,
    )


def requires(scope: str, scheme: Any) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits callers whose token carries ``scope``.

    The verifier is read from the request's state rather than injected: each dependency
    costs FastAPI a resolution per request (and a plain function, a thread-pool hop)."""

    async def principal(
        request: Request, token: Annotated[str | None, Depends(scheme)]
    ) -> Principal:
        if not token:
            raise InvalidTokenError(
                "Sign in first: this action needs an access token.", headers=bearer_challenge()
            )
        verifier: TokenVerifier = request.state.verifier
        try:
            caller = await verifier.verify(token)
        except InvalidToken as exc:
            raise invalid_token(str(exc)) from None
        except KeysUnavailable:
            raise AuthUnavailable(headers={"Retry-After": "5"}) from None
        # The request's later log lines, its access line too, name the app that called.
        structlog.contextvars.bind_contextvars(client_id=caller.client_id)
        if scope not in caller.scopes:
            raise InsufficientScope(
                f"This action needs the '{scope}' permission; reconnect the app and allow it.",
                headers=bearer_challenge("insufficient_scope", scope=scope),
            )
        request.state.principal = caller
        return caller

    return principal
