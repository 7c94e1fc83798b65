"""The shapes Authlib's protocol code expects, over our ORM rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin

from cga_auth.oauth.scopes import format_scope, parse_scope
from cga_core.models import App, AuthorizationCode, ClientType, RefreshToken
from cga_core.security import hash_secret, secrets_equal

CONFIDENTIAL_AUTH_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
_GRANT_TYPES = {
    ClientType.CONFIDENTIAL: frozenset(
        {"authorization_code", "refresh_token", "client_credentials"}
    ),
    ClientType.PUBLIC: frozenset({"authorization_code", "refresh_token"}),
}


class OAuthClient(ClientMixin):  # type: ignore[misc]
    def __init__(self, app: App, now: datetime) -> None:
        self.app = app
        self.secret_hashes = [s.secret_hash for s in app.secrets if s.is_valid_at(now)]

    @property
    def is_public(self) -> bool:
        return self.app.client_type == ClientType.PUBLIC

    def get_client_id(self) -> str:
        return self.app.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only unambiguous when there is one: RFC 9700 wants the URI named otherwise.
        return self.app.redirect_uris[0] if len(self.app.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return format_scope(self.app.scopes)
        return format_scope([s for s in parse_scope(scope) if s in self.app.scopes])

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.app.redirect_uris  # exact match, RFC 9700

    def check_client_secret(self, client_secret: str) -> bool:
        presented = hash_secret(client_secret)
        # Compare with every valid secret, so the time taken does not tell which one matched.
        matches = [secrets_equal(presented, stored) for stored in self.secret_hashes]
        return any(matches)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in CONFIDENTIAL_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in _GRANT_TYPES[ClientType(self.app.client_type)]


class StoredCode(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope


@dataclass
class RefreshCredential(TokenMixin):  # type: ignore[misc]
    row: RefreshToken
    app_id: uuid.UUID
    user_id: uuid.UUID | None

    def check_client(self, client: OAuthClient) -> bool:
        return client.app.id == self.app_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.created_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= datetime.now(UTC)

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


@dataclass
class AccessCredential(TokenMixin):  # type: ignore[misc]
    """A verified access token, as presented to revocation and introspection."""

    claims: dict[str, object]
    app_id: uuid.UUID
    revoked: bool

    @property
    def grant_id(self) -> uuid.UUID:
        return uuid.UUID(str(self.claims["gid"]))

    def check_client(self, client: OAuthClient) -> bool:
        return client.app.id == self.app_id

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def get_expires_in(self) -> int:
        return int(str(self.claims["exp"])) - int(str(self.claims["iat"]))

    def is_expired(self) -> bool:
        return int(str(self.claims["exp"])) <= datetime.now(UTC).timestamp()

    def is_revoked(self) -> bool:
        return self.revoked
