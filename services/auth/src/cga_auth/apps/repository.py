from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from cga_core.models import App, AppSecret


class AppRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_by_client_id(self, client_id: str) -> App | None:
        # One statement (a join), not two: every token request looks its client up.
        query = select(App).where(App.client_id == client_id).options(joinedload(App.secrets))
        return (await self.session.execute(query)).unique().scalar_one_or_none()

    async def get(self, app_id: uuid.UUID) -> App | None:
        return await self.session.get(App, app_id)

    async def list(self) -> Sequence[App]:
        query = select(App).order_by(App.created_at).options(selectinload(App.secrets))
        return (await self.session.execute(query)).scalars().all()

    async def add(self, app: App) -> App:
        self.session.add(app)
        await self.session.flush()
        return app

    async def delete(self, app: App) -> None:
        await self.session.delete(app)
        await self.session.flush()

    async def add_secret(self, app: App, secret_hash: str) -> AppSecret:
        secret = AppSecret(app_id=app.id, secret_hash=secret_hash)
        self.session.add(secret)
        await self.session.flush()
        return secret

    async def expire_secrets(self, app: App, at: datetime) -> None:
        """Give every currently valid secret of the app an end, at ``at`` at the latest."""
        await self.session.execute(
            update(AppSecret)
            .where(AppSecret.app_id == app.id)
            .where((AppSecret.expires_at.is_(None)) | (AppSecret.expires_at > at))
            .values(expires_at=at)
        )

    async def touch(self, app_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(update(App).where(App.id == app_id).values(last_used_at=at))
