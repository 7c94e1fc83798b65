"""``cga-seed-demo``: a demo app and user for the local stack (development only).

Idempotent: an existing demo app or user is left as it is."""

from __future__ import annotations

import asyncio

from cga_auth.apps.repository import AppRepository
from cga_auth.oauth.scopes import SUPPORTED_SCOPES
from cga_auth.passwords import hash_password
from cga_auth.settings import AuthSettings
from cga_auth.users.repository import UserRepository
from cga_core.config import load_settings
from cga_core.db import create_engine, create_sessionmaker, session_scope
from cga_core.models import App, ClientType, Status, User
from cga_core.security import hash_secret

DEMO_CLIENT_ID = "cga_app_demo"
DEMO_CLIENT_SECRET = "cga_cs_demo-secret-for-local-use-only"  # noqa: S105 - development only
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - development only
DEMO_REDIRECT_URIS = [
    "https://chatgpt.com/aip/g-demo/oauth/callback",
    "https://chat.openai.com/aip/g-demo/oauth/callback",
    "http://127.0.0.1:8765/callback",
]


async def seed(settings: AuthSettings) -> None:
    engine = create_engine(settings)
    try:
        async with session_scope(create_sessionmaker(engine)) as session:
            apps, users = AppRepository(session), UserRepository(session)
            if await apps.get_by_client_id(DEMO_CLIENT_ID) is None:
                app = await apps.add(
                    App(
                        client_id=DEMO_CLIENT_ID,
                        name="Demo GPT",
                        client_type=ClientType.CONFIDENTIAL,
                        redirect_uris=DEMO_REDIRECT_URIS,
                        scopes=list(SUPPORTED_SCOPES),
                        rate_limit_per_minute=settings.default_app_rate_limit_per_minute,
                        user_rate_limit_per_minute=settings.default_user_rate_limit_per_minute,
                        status=Status.ACTIVE,
                    )
                )
                await apps.add_secret(app, hash_secret(DEMO_CLIENT_SECRET))
            if await users.get_by_email(DEMO_EMAIL) is None:
                await users.add(
                    User(
                        email=DEMO_EMAIL,
                        password_hash=await hash_password(DEMO_PASSWORD),
                        status=Status.ACTIVE,
                    )
                )
    finally:
        await engine.dispose()


def main() -> None:
    settings = load_settings(AuthSettings, "cga-seed-demo")
    if not settings.env.accepts_development_secrets:
        raise SystemExit("cga-seed-demo: refusing to create demo credentials outside development")
    asyncio.run(seed(settings))
    issuer = settings.issuer
    print(  # noqa: T201
        f"""
  Demo user      {DEMO_EMAIL} / {DEMO_PASSWORD}
  Demo app       client_id {DEMO_CLIENT_ID}
                 client_secret {DEMO_CLIENT_SECRET}
                 authorization URL {issuer}/oauth/authorize
                 token URL {issuer}/oauth/token
                 redirect URIs {", ".join(DEMO_REDIRECT_URIS)}
  Admin API      http://127.0.0.1:{settings.admin_port} (cga-admin --help)"""
    )
