"""Consents, authorization codes, grants and refresh tokens.

A *grant* is one sign-in of a user to an app (or one client_credentials issuance): every
access and refresh token belongs to exactly one grant, and revoking the grant revokes them
all — the unit RFC 9700 asks to revoke on refresh-token or code reuse.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ARRAY, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cga_core.models._columns import CreatedAt, Timestamp, UpdatedAt, UUIDPrimaryKey
from cga_core.models.base import Base


class Consent(Base):
    """A user's remembered approval of an app for a set of scopes."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "app_id"),)

    id: Mapped[UUIDPrimaryKey]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    created_at: Mapped[CreatedAt]
    updated_at: Mapped[UpdatedAt]


class Grant(Base):
    __tablename__ = "grants"

    id: Mapped[UUIDPrimaryKey]
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    grant_type: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[CreatedAt]
    revoked_at: Mapped[Timestamp | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(64))


class AuthorizationCode(Base):
    __tablename__ = "authorization_codes"

    id: Mapped[UUIDPrimaryKey]
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[Timestamp] = mapped_column(index=True)
    used_at: Mapped[Timestamp | None]
    # The grant the code was exchanged for: revoked if the code is presented again.
    grant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("grants.id", ondelete="SET NULL"))


class RefreshToken(Base):
    """Opaque refresh token (SHA-256 only). Rotation sets ``rotated_at``; the token keeps
    working for the grace window after it, and presenting it later revokes the grant."""

    __tablename__ = "refresh_tokens"

    id: Mapped[UUIDPrimaryKey]
    grant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("grants.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[Timestamp] = mapped_column(index=True)
    rotated_at: Mapped[Timestamp | None]
    revoked_at: Mapped[Timestamp | None]
