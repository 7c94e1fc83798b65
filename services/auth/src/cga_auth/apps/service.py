"""Registering and managing apps (OAuth clients)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from cga_auth.apps.repository import AppRepository
from cga_auth.apps.schemas import (
    AppCreate,
    AppOut,
    AppUpdate,
    AppWithSecret,
    GptBuilderFields,
    SecretInfo,
)
from cga_auth.audit import AuditTrail
from cga_auth.oauth.repository import OAuthRepository
from cga_auth.oauth.service import OAuthService
from cga_auth.settings import AuthSettings
from cga_core.errors import AppError, NotFound
from cga_core.models import App, ClientType, Status
from cga_core.security import CLIENT_SECRET_PREFIX, hash_secret, new_secret

GPT_BUILDER_EXCHANGE_METHOD = "Default (POST request)"


class AppNotFound(NotFound):
    error = "app_not_found"
    default_detail = "No app has this client_id."


class PublicClientHasNoSecret(AppError):
    status_code = 409
    error = "public_client"
    default_detail = "Public clients authenticate with PKCE and have no secret."


def describe(app: App) -> AppOut:
    return AppOut(
        client_id=app.client_id,
        name=app.name,
        client_type=app.client_type,
        redirect_uris=list(app.redirect_uris),
        scopes=list(app.scopes),
        rate_limit_per_minute=app.rate_limit_per_minute,
        user_rate_limit_per_minute=app.user_rate_limit_per_minute,
        status=app.status,
        created_at=app.created_at,
        updated_at=app.updated_at,
        last_used_at=app.last_used_at,
        secrets=[SecretInfo(created_at=s.created_at, expires_at=s.expires_at) for s in app.secrets],
    )


class AppService:
    def __init__(
        self,
        settings: AuthSettings,
        repository: AppRepository,
        oauth: OAuthService,
        audit: AuditTrail,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.oauth = oauth
        self.audit = audit

    async def get(self, client_id: str) -> App:
        app = await self.repository.get_by_client_id(client_id)
        if app is None:
            raise AppNotFound
        return app

    async def list(self) -> list[AppOut]:
        return [describe(app) for app in await self.repository.list()]

    async def create(self, data: AppCreate) -> AppWithSecret:
        app = App(
            client_id="cga_app_" + secrets.token_hex(12),
            name=data.name,
            client_type=data.client_type,
            redirect_uris=list(dict.fromkeys(data.redirect_uris)),
            scopes=list(dict.fromkeys(data.scopes)),
            rate_limit_per_minute=data.rate_limit_per_minute
            or self.settings.default_app_rate_limit_per_minute,
            user_rate_limit_per_minute=data.user_rate_limit_per_minute
            or self.settings.default_user_rate_limit_per_minute,
            status=Status.ACTIVE,
        )
        await self.repository.add(app)
        secret = ""
        if data.client_type == ClientType.CONFIDENTIAL:
            secret = new_secret(CLIENT_SECRET_PREFIX)
            await self.repository.add_secret(app, hash_secret(secret))
        self.audit.record("app.create", "success", client_id=app.client_id)
        app = await self.get(app.client_id)
        return AppWithSecret(
            app=describe(app),
            client_secret=secret,
            gpt_builder=self.gpt_builder_fields(app, secret),
        )

    def gpt_builder_fields(self, app: App, secret: str) -> GptBuilderFields:
        issuer = self.settings.issuer
        return GptBuilderFields(
            client_id=app.client_id,
            client_secret=secret,
            authorization_url=f"{issuer}/oauth/authorize",
            token_url=f"{issuer}/oauth/token",
            scope=" ".join(app.scopes),
            token_exchange_method=GPT_BUILDER_EXCHANGE_METHOD,
        )

    async def update(self, client_id: str, data: AppUpdate) -> AppOut:
        app = await self.get(client_id)
        changes = data.model_dump(exclude_unset=True, exclude_none=True)
        for field, value in changes.items():
            setattr(app, field, list(dict.fromkeys(value)) if isinstance(value, list) else value)
        app.updated_at = datetime.now(UTC)
        await self.repository.session.flush()
        self.audit.record("app.update", "success", client_id=client_id, fields=sorted(changes))
        return describe(await self._reloaded(app))

    async def rotate_secret(self, client_id: str, overlap: timedelta | None) -> AppWithSecret:
        app = await self.get(client_id)
        if app.client_type == ClientType.PUBLIC:
            raise PublicClientHasNoSecret
        previous_until = datetime.now(UTC) + (
            overlap if overlap is not None else self.settings.secret_rotation_overlap
        )
        await self.repository.expire_secrets(app, previous_until)
        secret = new_secret(CLIENT_SECRET_PREFIX)
        await self.repository.add_secret(app, hash_secret(secret))
        self.audit.record("app.rotate_secret", "success", client_id=client_id)
        app = await self._reloaded(app)
        return AppWithSecret(
            app=describe(app),
            client_secret=secret,
            previous_secret_expires_at=previous_until,
            gpt_builder=self.gpt_builder_fields(app, secret),
        )

    async def set_status(self, client_id: str, status: Status) -> AppOut:
        app = await self.get(client_id)
        app.status = status
        app.updated_at = datetime.now(UTC)
        if status == Status.DISABLED:
            await self._revoke_all_grants(app, "app_disabled")
        self.audit.record(
            f"app.{'disable' if status == Status.DISABLED else 'enable'}",
            "success",
            client_id=client_id,
        )
        return describe(await self._reloaded(app))

    async def delete(self, client_id: str) -> None:
        app = await self.get(client_id)
        await self._revoke_all_grants(app, "app_deleted")
        await self.repository.delete(app)
        self.audit.record("app.delete", "success", client_id=client_id)

    async def _revoke_all_grants(self, app: App, reason: str) -> None:
        repository: OAuthRepository = self.oauth.repository
        for grant_id, user_id in await repository.active_grants_of_app(app.id):
            await self.oauth.revoke_grant(
                grant_id, reason, client_id=app.client_id, user_id=user_id
            )

    async def _reloaded(self, app: App) -> App:
        """The app re-read with its secrets. Changes are flushed first (expiring would discard
        them) and the id read before expiring (an expired attribute loads synchronously)."""
        await self.repository.session.flush()
        client_id = app.client_id
        self.repository.session.expire(app)
        return await self.get(client_id)
