"""Browser sessions of the sign-in and consent pages, kept in Redis.

The cookie holds only a random id (``HttpOnly; SameSite=Lax``, ``Secure`` over https); the
session — the signed-in user and the CSRF token of its forms — is server-side, so signing out
or disabling a user ends it at once."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import orjson
from fastapi import Request, Response
from redis.asyncio import Redis

from cga_core.security import hash_secret, secrets_equal

COOKIE_NAME = "cga_session"
_KEY = "cga:session:{}"


@dataclass
class BrowserSession:
    id: str
    csrf_token: str
    user_id: uuid.UUID | None = None

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and secrets_equal(presented, self.csrf_token)


class SessionStore:
    def __init__(self, redis: Redis, ttl: timedelta, *, secure_cookies: bool) -> None:
        self.redis = redis
        self.ttl = ttl
        self.secure_cookies = secure_cookies

    async def current(self, request: Request) -> BrowserSession | None:
        session_id = request.cookies.get(COOKIE_NAME)
        if not session_id:
            return None
        raw = await self.redis.get(_KEY.format(hash_secret(session_id)))
        if raw is None:
            return None
        data = orjson.loads(raw)
        user_id = uuid.UUID(data["user_id"]) if data.get("user_id") else None
        return BrowserSession(session_id, data["csrf_token"], user_id)

    async def current_or_new(self, request: Request) -> BrowserSession:
        return await self.current(request) or await self.start(user_id=None)

    async def start(self, user_id: uuid.UUID | None) -> BrowserSession:
        """A new session with a new id: signing in never keeps a pre-login id (fixation)."""
        session = BrowserSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32), user_id)
        await self._save(session)
        return session

    async def _save(self, session: BrowserSession) -> None:
        data = {"csrf_token": session.csrf_token, "user_id": str(session.user_id or "")}
        await self.redis.set(_KEY.format(hash_secret(session.id)), orjson.dumps(data), ex=self.ttl)

    async def end(self, session: BrowserSession) -> None:
        await self.redis.delete(_KEY.format(hash_secret(session.id)))

    def attach(self, response: Response, session: BrowserSession) -> None:
        response.set_cookie(
            COOKIE_NAME,
            session.id,
            max_age=int(self.ttl.total_seconds()),
            path="/",
            secure=self.secure_cookies,
            httponly=True,
            samesite="lax",
        )

    def detach(self, response: Response) -> None:
        response.delete_cookie(
            COOKIE_NAME, path="/", secure=self.secure_cookies, httponly=True, samesite="lax"
        )
