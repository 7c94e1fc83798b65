"""Issuing tokens: one grant per sign-in, a signed JWT access token, an opaque refresh token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cga_auth.keys import SigningKeys
from cga_auth.metrics import TOKENS_ISSUED, TokenGrant
from cga_auth.oauth.repository import OAuthRepository
from cga_auth.settings import AuthSettings
from cga_core.models import Grant, RefreshToken
from cga_core.security import (
    ACCESS_TOKEN_PREFIX,
    REFRESH_TOKEN_PREFIX,
    hash_secret,
    new_secret,
)


@dataclass(frozen=True)
class Subject:
    """Who a token acts for: a user of an app, or the app itself (client_credentials)."""

    app_id: uuid.UUID
    client_id: str
    user_id: uuid.UUID | None

    @property
    def sub(self) -> str:
        return str(self.user_id) if self.user_id else self.client_id


class TokenIssuer:
    def __init__(
        self, settings: AuthSettings, keys: SigningKeys, repository: OAuthRepository
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.repository = repository

    async def open_grant(self, subject: Subject, grant_type: str, scope: str) -> Grant:
        grant = Grant(
            id=uuid.uuid4(),
            app_id=subject.app_id,
            user_id=subject.user_id,
            grant_type=grant_type,
            scope=scope,
        )
        await self.repository.add(grant)
        return grant

    async def issue(
        self,
        grant: Grant,
        subject: Subject,
        scope: str,
        *,
        grant_type: TokenGrant,
        with_refresh_token: bool,
    ) -> dict[str, Any]:
        token = self.access_token_response(grant.id, subject, scope)
        if with_refresh_token:
            token["refresh_token"], row = self.new_refresh_token(grant.id, scope)
            await self.repository.add(row)
        TOKENS_ISSUED.labels(grant=grant_type).inc()
        return token

    def access_token_response(
        self, grant_id: uuid.UUID, subject: Subject, scope: str
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        ttl = self.settings.access_token_ttl
        claims = {
            "iss": self.settings.issuer,
            "sub": subject.sub,
            "aud": self.settings.token_audience,
            "client_id": subject.client_id,
            "scope": scope,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": uuid.uuid4().hex,
            "gid": str(grant_id),
        }
        return {
            "access_token": ACCESS_TOKEN_PREFIX + self.keys.sign(claims),
            "token_type": "bearer",
            "expires_in": int(ttl.total_seconds()),
            "scope": scope,
        }

    def new_refresh_token(self, grant_id: uuid.UUID, scope: str) -> tuple[str, RefreshToken]:
        """The token, and its row for the caller to store."""
        token = new_secret(REFRESH_TOKEN_PREFIX)
        row = RefreshToken(
            grant_id=grant_id,
            token_hash=hash_secret(token),
            scope=scope,
            expires_at=datetime.now(UTC) + self.settings.refresh_token_ttl,
        )
        return token, row
