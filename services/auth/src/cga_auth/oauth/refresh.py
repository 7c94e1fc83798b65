"""The refresh_token grant, served on the event loop (decision 0012).

Refreshes are nearly all of the token endpoint's traffic. Instead of running Authlib in a worker
thread that calls back onto the loop for every lookup, what the grant can need is read first —
the clients the request names and the presented refresh token, locked, with its grant and user
— and Authlib's protocol code then runs on the loop against that, without waiting for anything.
Its decisions are changes to the session's rows, flushed with the request's commit; only a
detected reuse needs work of its own (revoking the grant), done after Authlib has answered.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.util import extract_basic_authorization

from cga_auth.oauth.clients import OAuthClient, RefreshCredential
from cga_auth.oauth.scopes import format_scope, parse_scope
from cga_auth.oauth.server import ANY_AUTH_METHOD, BufferedRequest, OAuthResult, ServerBase
from cga_auth.oauth.service import (
    LockedRefreshToken,
    OAuthService,
    RefreshTokenReuse,
    active_or_none,
    count_unknown_client,
)
from cga_core.models import User

GRANT_TYPE = "refresh_token"


class RefreshServer(ServerBase):
    """Answers one refresh request from what :func:`exchange_refresh_token` read for it."""

    def __init__(
        self,
        service: OAuthService,
        clients: dict[str, OAuthClient | None],
        locked: LockedRefreshToken | None,
    ) -> None:
        super().__init__(service)
        self.clients = clients
        self.locked = locked
        self.reuse: RefreshTokenReuse | None = None
        self.register_grant(RefreshTokenGrant)

    def query_client(self, client_id: str) -> OAuthClient | None:
        return count_unknown_client(self.clients.get(client_id))


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_AUTH_METHOD
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: RefreshServer

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshCredential | None:
        checked = self.server.service.check_refresh_token(self.server.locked, self.request.client)
        if isinstance(checked, RefreshTokenReuse):
            self.server.reuse = checked
            return None
        return checked

    def authenticate_user(self, refresh_token: RefreshCredential) -> User | None:
        user = self.server.locked.user if self.server.locked else None
        return active_or_none(user)

    def revoke_old_credential(self, refresh_token: RefreshCredential) -> None:
        """Done by :meth:`issue_token`, which rotates the token."""

    def issue_token(self, user: User, refresh_token: RefreshCredential) -> dict[str, Any]:
        scope = format_scope(parse_scope(self.request.payload.scope or refresh_token.get_scope()))
        return self.server.service.refresh(refresh_token, self.request.client, user, scope)


def _named_client_ids(request: BufferedRequest) -> set[str]:
    """Every client id Authlib's client authentication may look up for this request."""
    basic_id, _ = extract_basic_authorization(request.headers)
    return {name for name in (basic_id, request.payload.client_id) if name}


async def exchange_refresh_token(service: OAuthService, request: BufferedRequest) -> OAuthResult:
    clients = {name: await service.load_client(name) for name in _named_client_ids(request)}
    presented = request.form.get("refresh_token")
    # Without a known client Authlib rejects the request before it looks at the token.
    known = any(clients.values())
    locked = await service.lock_refresh_token(presented) if presented and known else None
    server = RefreshServer(service, clients, locked)
    result: OAuthResult = server.create_token_response(request)
    if server.reuse is not None:
        await service.revoke_reused(server.reuse)
    return result
