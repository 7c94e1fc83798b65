"""Queries on codes, grants, refresh tokens and consents."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cga_core.models import App, AuthorizationCode, Consent, Grant, RefreshToken, User


class OAuthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: AuthorizationCode | Grant | RefreshToken) -> None:
        self.session.add(row)
        await self.session.flush()

    async def code_for_update(self, code_hash: str) -> AuthorizationCode | None:
        """Locks the code's row: two concurrent exchanges of one code are serialised."""
        query = (
            select(AuthorizationCode)
            .where(AuthorizationCode.code_hash == code_hash)
            .with_for_update()
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def refresh_token_for_update(self, token_hash: str) -> RefreshToken | None:
        query = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    def stage(self, row: RefreshToken) -> None:
        """Stored with the commit, in the same round trip as the transaction's other changes."""
        self.session.add(row)

    async def refresh_token_with_grant_for_update(
        self, token_hash: str
    ) -> tuple[RefreshToken, Grant, User | None] | None:
        """The token with its grant and user, in one statement; only the token's row is locked:
        concurrent refreshes of one token are serialised, those of other tokens are not."""
        query = (
            select(RefreshToken, Grant, User)
            .join(Grant, Grant.id == RefreshToken.grant_id)
            .outerjoin(User, User.id == Grant.user_id)
            .where(RefreshToken.token_hash == token_hash)
            .with_for_update(of=RefreshToken)
        )
        found = (await self.session.execute(query)).one_or_none()
        return (found[0], found[1], found[2]) if found else None

    async def grant(self, grant_id: uuid.UUID) -> Grant | None:
        return await self.session.get(Grant, grant_id)

    async def revoke_grant(self, grant_id: uuid.UUID, reason: str, at: datetime) -> bool:
        """Revoke the grant and its refresh tokens; False when it was revoked already."""
        result = await self.session.execute(
            update(Grant)
            .where(Grant.id == grant_id, Grant.revoked_at.is_(None))
            .values(revoked_at=at, revoked_reason=reason)
        )
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.grant_id == grant_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def active_grant_ids(self, user_id: uuid.UUID, app_id: uuid.UUID) -> Sequence[uuid.UUID]:
        query = select(Grant.id).where(
            Grant.user_id == user_id, Grant.app_id == app_id, Grant.revoked_at.is_(None)
        )
        return (await self.session.execute(query)).scalars().all()

    async def active_grants_of_app(
        self, app_id: uuid.UUID
    ) -> Sequence[tuple[uuid.UUID, uuid.UUID | None]]:
        query = select(Grant.id, Grant.user_id).where(
            Grant.app_id == app_id, Grant.revoked_at.is_(None)
        )
        return [
            (grant_id, user_id) for grant_id, user_id in (await self.session.execute(query)).all()
        ]

    async def active_grants_of_user(
        self, user_id: uuid.UUID
    ) -> Sequence[tuple[uuid.UUID, uuid.UUID]]:
        query = select(Grant.id, Grant.app_id).where(
            Grant.user_id == user_id, Grant.revoked_at.is_(None)
        )
        return [
            (grant_id, app_id) for grant_id, app_id in (await self.session.execute(query)).all()
        ]

    async def consent(self, user_id: uuid.UUID, app_id: uuid.UUID) -> Consent | None:
        query = select(Consent).where(Consent.user_id == user_id, Consent.app_id == app_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def save_consent(self, user_id: uuid.UUID, app_id: uuid.UUID, scopes: list[str]) -> None:
        statement = insert(Consent).values(user_id=user_id, app_id=app_id, scopes=scopes)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[Consent.user_id, Consent.app_id],
                set_={
                    "scopes": statement.excluded.scopes,
                    "updated_at": statement.excluded.updated_at,
                },
            )
        )

    async def delete_consent(self, consent: Consent) -> None:
        await self.session.delete(consent)
        await self.session.flush()

    async def consents_of(self, user_id: uuid.UUID) -> Sequence[tuple[Consent, App]]:
        query = (
            select(Consent, App)
            .join(App, App.id == Consent.app_id)
            .where(Consent.user_id == user_id)
            .order_by(App.name)
        )
        return [(consent, app) for consent, app in (await self.session.execute(query)).all()]
