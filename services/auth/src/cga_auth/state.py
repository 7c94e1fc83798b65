"""The auth service's lifespan resources and the per-request objects built from them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from cga_auth.apps.repository import AppRepository
from cga_auth.audit import AuditTrail, RequestMeta
from cga_auth.keys import SigningKeys
from cga_auth.oauth.repository import OAuthRepository
from cga_auth.oauth.service import OAuthService
from cga_auth.settings import AuthSettings
from cga_auth.users.repository import UserRepository
from cga_auth.web.sessions import SessionStore
from cga_auth.web.throttle import LoginThrottle
from cga_core.app import CoreResources, DbSession, get_core

TEMPLATES_DIR = Path(__file__).parent / "web" / "templates"
STATIC_DIR = Path(__file__).parent / "web" / "static"


@dataclass(frozen=True)
class AuthResources:
    settings: AuthSettings
    keys: SigningKeys
    sessions: SessionStore
    throttle: LoginThrottle
    templates: Jinja2Templates


def auth_state(settings: AuthSettings, keys: SigningKeys) -> Any:
    @asynccontextmanager
    async def lifespan(core: CoreResources) -> AsyncIterator[dict[str, Any]]:
        yield {
            "auth": AuthResources(
                settings=settings,
                keys=keys,
                sessions=SessionStore(
                    core.redis, settings.session_ttl, secure_cookies=settings.cookies_secure
                ),
                throttle=LoginThrottle(
                    core.redis,
                    settings.redis_url.get_secret_value(),
                    per_account=settings.login_failures_per_account,
                    per_ip=settings.login_failures_per_ip,
                    window=settings.login_throttle_window,
                ),
                templates=Jinja2Templates(directory=TEMPLATES_DIR),
            )
        }

    return lifespan


# The dependencies are coroutines: FastAPI runs plain functions in a worker thread, a hop
# per dependency per request.
async def get_auth(request: Request) -> AuthResources:
    resources: AuthResources = request.state.auth
    return resources


Auth = Annotated[AuthResources, Depends(get_auth)]


async def get_audit(request: Request, session: DbSession) -> AuditTrail:
    return AuditTrail(session, RequestMeta.of(request))


Audit = Annotated[AuditTrail, Depends(get_audit)]


async def get_oauth_service(
    request: Request, auth: Auth, session: DbSession, audit: Audit
) -> OAuthService:
    core = get_core(request)  # called, not a dependency: no worker-thread hop
    return OAuthService(
        settings=auth.settings,
        keys=auth.keys,
        redis=core.redis,
        apps=AppRepository(session),
        users=UserRepository(session),
        repository=OAuthRepository(session),
        audit=audit,
    )


OAuth = Annotated[OAuthService, Depends(get_oauth_service)]
