"""End users and the OAuth applications (Custom GPTs, later MCP clients) they sign in to."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ARRAY, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cga_core.models._columns import CreatedAt, Timestamp, UpdatedAt, UUIDPrimaryKey
from cga_core.models.base import Base


class Status(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class ClientType(StrEnum):
    CONFIDENTIAL = "confidential"  # has a secret: Custom GPTs
    PUBLIC = "public"  # no secret, PKCE required: MCP clients


class User(Base):
    __tablename__ = "users"

    id: Mapped[UUIDPrimaryKey]
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(String(256))
    status: Mapped[Status] = mapped_column(String(16), default=Status.ACTIVE)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    last_login_at: Mapped[Timestamp | None]


class App(Base):
    """An OAuth client: one Custom GPT (or MCP client) allowed to act for users."""

    __tablename__ = "apps"

    id: Mapped[UUIDPrimaryKey]
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    client_type: Mapped[ClientType] = mapped_column(String(16), default=ClientType.CONFIDENTIAL)
    redirect_uris: Mapped[list[str]] = mapped_column(ARRAY(Text))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer)
    user_rate_limit_per_minute: Mapped[int] = mapped_column(Integer)
    status: Mapped[Status] = mapped_column(String(16), default=Status.ACTIVE)
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]
    last_used_at: Mapped[Timestamp | None]

    secrets: Mapped[list[AppSecret]] = relationship(
        back_populates="app", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )


class AppSecret(Base):
    """A client secret (SHA-256 only). Rotation gives the previous one an ``expires_at``."""

    __tablename__ = "app_secrets"

    id: Mapped[UUIDPrimaryKey]
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[Timestamp | None]

    app: Mapped[App] = relationship(back_populates="secrets", lazy="raise")

    def is_valid_at(self, moment: datetime) -> bool:
        return self.expires_at is None or self.expires_at > moment
