"""Deleting what has expired: authorization codes and refresh tokens nobody can use anymore."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from cga_core.models import AuthorizationCode, RefreshToken


async def purge_expired_credentials(session: AsyncSession, before: datetime) -> tuple[int, int]:
    """Delete codes and refresh tokens that expired (or were revoked) before ``before``;
    returns how many of each."""
    codes = await session.execute(
        delete(AuthorizationCode).where(AuthorizationCode.expires_at < before)
    )
    tokens = await session.execute(
        delete(RefreshToken).where(
            (RefreshToken.expires_at < before) | (RefreshToken.revoked_at < before)
        )
    )
    return int(codes.rowcount or 0), int(tokens.rowcount or 0)  # type: ignore[attr-defined]
