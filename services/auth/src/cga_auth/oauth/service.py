"""The OAuth server's state changes, called from Authlib's protocol code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from redis.asyncio import Redis

from cga_auth.apps.repository import AppRepository
from cga_auth.audit import AuditTrail
from cga_auth.keys import SigningKeys
from cga_auth.metrics import AUTH_FAILURES, TOKENS_ISSUED, AuthFailure
from cga_auth.oauth.clients import AccessCredential, OAuthClient, RefreshCredential, StoredCode
from cga_auth.oauth.repository import OAuthRepository
from cga_auth.oauth.tokens import Subject, TokenIssuer
from cga_auth.settings import AuthSettings
from cga_auth.users.repository import UserRepository
from cga_core.denylist import deny_grant
from cga_core.models import AuthorizationCode, Grant, RefreshToken, Status, User
from cga_core.security import ACCESS_TOKEN_PREFIX, AUTHORIZATION_CODE_PREFIX, hash_secret

APP_LAST_USED_RESOLUTION = timedelta(minutes=1)


def count_unknown_client(client: OAuthClient | None) -> OAuthClient | None:
    if client is None:
        AUTH_FAILURES.labels(reason=AuthFailure.UNKNOWN_CLIENT).inc()
    return client


def active_or_none(user: User | None) -> User | None:
    return user if user is not None and user.status == Status.ACTIVE else None


@dataclass(frozen=True)
class LockedRefreshToken:
    """A refresh token's row, locked for this transaction, with its grant and its user."""

    row: RefreshToken
    grant: Grant
    user: User | None


@dataclass(frozen=True)
class RefreshTokenReuse:
    """A rotated refresh token presented after the grace window."""

    grant_id: uuid.UUID
    user_id: uuid.UUID | None
    client_id: str


class OAuthService:
    def __init__(
        self,
        *,
        settings: AuthSettings,
        keys: SigningKeys,
        redis: Redis,
        apps: AppRepository,
        users: UserRepository,
        repository: OAuthRepository,
        audit: AuditTrail,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.redis = redis
        self.apps = apps
        self.users = users
        self.repository = repository
        self.audit = audit
        self.issuer = TokenIssuer(settings, keys, repository)
        self.issued_grant_id: uuid.UUID | None = None

    # Clients and users

    async def client(self, client_id: str) -> OAuthClient | None:
        return count_unknown_client(await self.load_client(client_id))

    async def load_client(self, client_id: str) -> OAuthClient | None:
        """The active app with this client id, uncounted: the caller may not need it."""
        app = await self.apps.get_by_client_id(client_id)
        if app is None or app.status != Status.ACTIVE:
            return None
        return OAuthClient(app, datetime.now(UTC))

    async def active_user(self, user_id: uuid.UUID | None) -> User | None:
        return active_or_none(await self.users.get(user_id) if user_id else None)

    # Authorization codes

    async def save_code(
        self,
        code: str,
        client: OAuthClient,
        user_id: uuid.UUID,
        redirect_uri: str,
        scope: str,
        challenge: str | None,
        challenge_method: str | None,
    ) -> None:
        await self.repository.add(
            AuthorizationCode(
                code_hash=hash_secret(code),
                app_id=client.app.id,
                user_id=user_id,
                redirect_uri=redirect_uri,
                scope=scope,
                code_challenge=challenge,
                code_challenge_method=challenge_method if challenge else None,
                expires_at=datetime.now(UTC) + self.settings.authorization_code_ttl,
            )
        )

    async def find_code(self, code: str, client: OAuthClient) -> StoredCode | None:
        if not code.startswith(AUTHORIZATION_CODE_PREFIX):
            return None
        row = await self.repository.code_for_update(hash_secret(code))
        if row is None or row.app_id != client.app.id:
            AUTH_FAILURES.labels(reason=AuthFailure.INVALID_CODE).inc()
            return None
        if row.used_at is not None:
            AUTH_FAILURES.labels(reason=AuthFailure.CODE_REUSE).inc()
            if row.grant_id is not None:
                await self.revoke_grant(
                    row.grant_id,
                    "code_reuse",
                    client_id=client.get_client_id(),
                    user_id=row.user_id,
                )
            self.audit.record(
                "code.reuse_detected",
                "revoked",
                client_id=client.get_client_id(),
                user_id=row.user_id,
            )
            return None
        if row.expires_at <= datetime.now(UTC):
            AUTH_FAILURES.labels(reason=AuthFailure.EXPIRED_CODE).inc()
            return None
        return StoredCode(row)

    async def consume_code(self, code: StoredCode) -> None:
        code.row.used_at = datetime.now(UTC)
        code.row.grant_id = self.issued_grant_id

    # Token issuance

    async def issue_for_code(
        self, client: OAuthClient, user: User, scope: str, *, with_refresh_token: bool
    ) -> dict[str, Any]:
        subject = Subject(client.app.id, client.get_client_id(), user.id)
        grant = await self.issuer.open_grant(subject, "authorization_code", scope)
        self.issued_grant_id = grant.id
        token = await self.issuer.issue(
            grant,
            subject,
            scope,
            grant_type="authorization_code",
            with_refresh_token=with_refresh_token,
        )
        await self.apps.touch(client.app.id, datetime.now(UTC))
        self.audit.record(
            "token.issue",
            "success",
            client_id=client.get_client_id(),
            user_id=user.id,
            grant="authorization_code",
            grant_id=str(grant.id),
        )
        return token

    async def issue_for_client(self, client: OAuthClient, scope: str) -> dict[str, Any]:
        subject = Subject(client.app.id, client.get_client_id(), None)
        grant = await self.issuer.open_grant(subject, "client_credentials", scope)
        token = await self.issuer.issue(
            grant, subject, scope, grant_type="client_credentials", with_refresh_token=False
        )
        self.audit.record(
            "token.issue",
            "success",
            client_id=client.get_client_id(),
            grant="client_credentials",
            grant_id=str(grant.id),
        )
        return token

    # Refresh tokens

    async def lock_refresh_token(self, token: str) -> LockedRefreshToken | None:
        found = await self.repository.refresh_token_with_grant_for_update(hash_secret(token))
        return LockedRefreshToken(*found) if found else None

    def check_refresh_token(
        self, locked: LockedRefreshToken | None, client: OAuthClient
    ) -> RefreshCredential | RefreshTokenReuse | None:
        """The credential when the token may be exchanged by this client; a reuse when it was
        rotated longer ago than the grace window (its grant must then be revoked)."""
        if locked is None or locked.grant.app_id != client.app.id:
            AUTH_FAILURES.labels(reason=AuthFailure.INVALID_REFRESH_TOKEN).inc()
            return None
        row, grant = locked.row, locked.grant
        now = datetime.now(UTC)
        if row.revoked_at is not None or grant.revoked_at is not None or row.expires_at <= now:
            AUTH_FAILURES.labels(reason=AuthFailure.REVOKED_OR_EXPIRED_REFRESH_TOKEN).inc()
            return None
        if row.rotated_at is not None and now - row.rotated_at > self.settings.refresh_reuse_grace:
            AUTH_FAILURES.labels(reason=AuthFailure.REFRESH_TOKEN_REUSE).inc()
            return RefreshTokenReuse(grant.id, grant.user_id, client.get_client_id())
        return RefreshCredential(row, grant.app_id, grant.user_id)

    async def revoke_reused(self, reuse: RefreshTokenReuse) -> None:
        await self.revoke_grant(
            reuse.grant_id,
            "refresh_token_reuse",
            client_id=reuse.client_id,
            user_id=reuse.user_id,
        )
        self.audit.record(
            "token.reuse_detected",
            "revoked",
            client_id=reuse.client_id,
            user_id=reuse.user_id,
            grant_id=str(reuse.grant_id),
        )

    def refresh(
        self, credential: RefreshCredential, client: OAuthClient, user: User, scope: str
    ) -> dict[str, Any]:
        """Rotate: a new access and refresh token of the same grant, the old one marked rotated.
        Nothing waits for the database here: the changes are flushed with the commit."""
        now = datetime.now(UTC)
        subject = Subject(client.app.id, client.get_client_id(), user.id)
        token = self.issuer.access_token_response(credential.row.grant_id, subject, scope)
        token["refresh_token"], new_row = self.issuer.new_refresh_token(
            credential.row.grant_id, scope
        )
        self.repository.stage(new_row)
        if credential.row.rotated_at is None:
            credential.row.rotated_at = now
        last_used = client.app.last_used_at
        # Every refresh writing the app's row would serialise all of an app's refreshes on its
        # row lock; "last used" to the minute is all an operator needs.
        if last_used is None or now - last_used > APP_LAST_USED_RESOLUTION:
            client.app.last_used_at = now
        TOKENS_ISSUED.labels(grant="refresh_token").inc()
        self.audit.record(
            "token.refresh",
            "success",
            client_id=client.get_client_id(),
            user_id=user.id,
            grant_id=str(credential.row.grant_id),
        )
        return token

    # Revocation and introspection

    async def revoke_grant(
        self,
        grant_id: uuid.UUID,
        reason: str,
        *,
        client_id: str | None,
        user_id: uuid.UUID | None,
    ) -> None:
        if await self.repository.revoke_grant(grant_id, reason, datetime.now(UTC)):
            await deny_grant(self.redis, grant_id, self.settings.access_token_ttl)
            self.audit.record(
                "grant.revoke",
                "success",
                client_id=client_id,
                user_id=user_id,
                grant_id=str(grant_id),
                reason=reason,
            )

    async def disconnect(self, user_id: uuid.UUID, app_id: uuid.UUID, client_id: str) -> None:
        """Forget the user's consent to the app and revoke every grant it has for the user."""
        consent = await self.repository.consent(user_id, app_id)
        if consent is not None:
            await self.repository.delete_consent(consent)
        for grant_id in await self.repository.active_grant_ids(user_id, app_id):
            await self.revoke_grant(
                grant_id, "consent_revoked", client_id=client_id, user_id=user_id
            )

    async def find_token(self, token: str) -> RefreshCredential | AccessCredential | None:
        """A refresh or access token of ours, revoked or not; None for anything else."""
        if token.startswith(ACCESS_TOKEN_PREFIX):
            return await self._access_credential(token.removeprefix(ACCESS_TOKEN_PREFIX))
        row = await self.repository.refresh_token_for_update(hash_secret(token))
        if row is None:
            return None
        grant = await self.repository.grant(row.grant_id)
        return RefreshCredential(row, grant.app_id, grant.user_id) if grant else None

    async def _access_credential(self, encoded: str) -> AccessCredential | None:
        public = KeySet.import_key_set(self.keys.jwks())  # type: ignore[arg-type]
        try:
            claims = dict(jwt.decode(encoded, public).claims)
            grant_id = uuid.UUID(str(claims["gid"]))
        except (JoseError, ValueError, KeyError):
            return None
        if claims.get("iss") != self.settings.issuer:
            return None
        grant = await self.repository.grant(grant_id)
        if grant is None:
            return None
        return AccessCredential(claims, grant.app_id, revoked=grant.revoked_at is not None)

    async def revoke(
        self, credential: RefreshCredential | AccessCredential, client_id: str
    ) -> None:
        grant_id = (
            credential.grant_id
            if isinstance(credential, AccessCredential)
            else credential.row.grant_id
        )
        user_id = None if isinstance(credential, AccessCredential) else credential.user_id
        await self.revoke_grant(grant_id, "revoked_by_client", client_id=client_id, user_id=user_id)

    async def introspect(self, credential: RefreshCredential | AccessCredential) -> dict[str, Any]:
        if isinstance(credential, AccessCredential):
            claims = credential.claims
            return {
                "active": True,
                "token_type": "access_token",
                **{
                    k: claims[k]
                    for k in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti")
                    if k in claims
                },
            }
        grant = await self.repository.grant(credential.row.grant_id)
        app = await self.apps.get(credential.app_id)
        return {
            "active": True,
            "token_type": "refresh_token",
            "scope": credential.row.scope,
            "client_id": app.client_id if app else None,
            "sub": str(grant.user_id) if grant and grant.user_id else None,
            "exp": int(credential.row.expires_at.timestamp()),
            "iat": int(credential.row.created_at.timestamp()),
            "iss": self.settings.issuer,
        }
