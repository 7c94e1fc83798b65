"""The auth service's metrics. Every grant and failure reason starts at 0, so alerts on
``rate()`` have a series before the first event."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args

from authlib.oauth2.rfc6749 import errors as oauth_errors
from prometheus_client import Counter

from cga_core.metrics import start_at_zero

TokenGrant = Literal["authorization_code", "refresh_token", "client_credentials"]


class AuthFailure(StrEnum):
    """Failures our own code detects; Authlib's protocol errors are counted by their code."""

    UNKNOWN_CLIENT = "unknown_client"
    INVALID_CODE = "invalid_code"
    CODE_REUSE = "code_reuse"
    EXPIRED_CODE = "expired_code"
    # Reasons, not secrets: the linter takes any *TOKEN* name for a password.
    INVALID_REFRESH_TOKEN = "invalid_refresh_token"  # noqa: S105
    REVOKED_OR_EXPIRED_REFRESH_TOKEN = "revoked_or_expired_refresh_token"  # noqa: S105
    REFRESH_TOKEN_REUSE = "refresh_token_reuse"  # noqa: S105
    LOGIN_THROTTLED = "login_throttled"
    BAD_CREDENTIALS = "bad_credentials"


# The errors the authorization, token and revocation endpoints answer (RFC 6749 §4.1.2.1 and
# §5.2, RFC 7009 §2.2.1).
OAUTH_ERRORS: tuple[type[oauth_errors.OAuth2Error], ...] = (
    oauth_errors.InvalidRequestError,
    oauth_errors.InvalidClientError,
    oauth_errors.InvalidGrantError,
    oauth_errors.UnauthorizedClientError,
    oauth_errors.UnsupportedGrantTypeError,
    oauth_errors.UnsupportedResponseTypeError,
    oauth_errors.InvalidScopeError,
    oauth_errors.AccessDeniedError,
    oauth_errors.UnsupportedTokenTypeError,
)
AUTH_FAILURE_REASONS = frozenset(
    [*(failure.value for failure in AuthFailure), *(error.error for error in OAUTH_ERRORS)]
)

TOKENS_ISSUED = Counter(
    "cga_tokens_issued_total", "Access tokens issued, by grant type.", ["grant"]
)
AUTH_FAILURES = Counter(
    "cga_auth_failures_total",
    "Failed sign-ins, client authentications and token requests, by reason.",
    ["reason"],
)
start_at_zero(TOKENS_ISSUED, grant=get_args(TokenGrant))
start_at_zero(AUTH_FAILURES, reason=sorted(AUTH_FAILURE_REASONS))
