"""Local accounts, managed by admins."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

from cga_auth.audit import AuditTrail
from cga_auth.oauth.service import OAuthService
from cga_auth.passwords import hash_password
from cga_auth.settings import AuthSettings
from cga_auth.users.repository import UserRepository
from cga_auth.users.schemas import UserCreate, UserOut, UserWithPassword
from cga_core.errors import AppError, InvalidRequest, NotFound
from cga_core.models import Status, User


class UserNotFound(NotFound):
    error = "user_not_found"
    default_detail = "No user has this email or id."


class EmailTaken(AppError):
    status_code = 409
    error = "email_taken"
    default_detail = "A user with this email exists already."


def describe(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        status=user.status,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


class UserService:
    def __init__(
        self,
        settings: AuthSettings,
        repository: UserRepository,
        oauth: OAuthService,
        audit: AuditTrail,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.oauth = oauth
        self.audit = audit

    async def find(self, email_or_id: str) -> User:
        try:
            user = await self.repository.get(uuid.UUID(email_or_id))
        except ValueError:
            user = await self.repository.get_by_email(email_or_id)
        if user is None:
            raise UserNotFound
        return user

    async def list(self) -> list[UserOut]:
        return [describe(user) for user in await self.repository.list()]

    def _password(self, supplied: str | None) -> tuple[str, str | None]:
        """The password to set, and the same again when we generated it (to show once)."""
        if supplied is None:
            generated = secrets.token_urlsafe(15)
            return generated, generated
        if len(supplied) < self.settings.password_min_length:
            raise InvalidRequest(
                f"The password must have at least {self.settings.password_min_length} characters."
            )
        return supplied, None

    async def create(self, data: UserCreate) -> UserWithPassword:
        if await self.repository.get_by_email(data.email) is not None:
            raise EmailTaken
        password, generated = self._password(data.password)
        user = await self.repository.add(
            User(
                email=data.email, password_hash=await hash_password(password), status=Status.ACTIVE
            )
        )
        await self.repository.session.refresh(user)
        self.audit.record("user.create", "success", user_id=user.id)
        return UserWithPassword(user=describe(user), password=generated)

    async def disable(self, email_or_id: str) -> UserOut:
        user = await self.find(email_or_id)
        user.status = Status.DISABLED
        user.updated_at = datetime.now(UTC)
        for grant_id, _app_id in await self.oauth.repository.active_grants_of_user(user.id):
            await self.oauth.revoke_grant(
                grant_id, "user_disabled", client_id=None, user_id=user.id
            )
        self.audit.record("user.disable", "success", user_id=user.id)
        return describe(user)

    async def reset_password(self, email_or_id: str, supplied: str | None) -> UserWithPassword:
        user = await self.find(email_or_id)
        password, generated = self._password(supplied)
        user.password_hash = await hash_password(password)
        user.updated_at = datetime.now(UTC)
        self.audit.record("user.reset_password", "success", user_id=user.id)
        return UserWithPassword(user=describe(user), password=generated)
