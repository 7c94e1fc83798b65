"""Authlib's OAuth 2.0 protocol code, bridged into our async service.

Authlib's server core is synchronous. Each OAuth request but a refresh (see
:mod:`cga_auth.oauth.refresh`) runs it in a worker thread; its
storage hooks hop back onto the event loop (``anyio.from_thread``) to call
:class:`OAuthService`, which uses the request's async database session. The session is only
ever touched from the event loop, one call at a time, so no second (sync) driver is needed.
Request bodies are read before the thread starts; responses come back as
``(status, body, headers)`` and are turned into Starlette responses on the loop.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

import anyio.from_thread
from authlib.oauth2 import rfc7009, rfc7662
from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from starlette.datastructures import Headers

from cga_auth.metrics import AUTH_FAILURES
from cga_auth.oauth.clients import AccessCredential, OAuthClient, RefreshCredential, StoredCode
from cga_auth.oauth.scopes import SUPPORTED_SCOPES, parse_scope
from cga_auth.oauth.service import OAuthService
from cga_core.security import AUTHORIZATION_CODE_PREFIX, new_secret

ResultT = TypeVar("ResultT")
OAuthResult = tuple[int, Any, list[tuple[str, str]]]
SECRET_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
ANY_AUTH_METHOD = [*SECRET_AUTH_METHODS, "none"]


class FormPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class BufferedRequest(OAuth2Request):  # type: ignore[misc]
    """An OAuth request whose query and body were read on the event loop already."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Headers,
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._args = dict(reversed(query))  # first value wins, as in the payload
        self._form = dict(reversed(form))
        self.payload = FormPayload([*query, *form])

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


def _check_scope_allowed(scope: str | None, client: OAuthClient) -> None:
    requested = parse_scope(scope)
    if any(name not in SUPPORTED_SCOPES for name in requested):
        raise InvalidScopeError("The requested scope is unknown.")
    if any(name not in client.app.scopes for name in requested):
        raise InvalidScopeError("The requested scope exceeds what this app may ask for.")


class ServerBase(AuthorizationServer):  # type: ignore[misc]
    """What every server of ours shares: one per request, results as :data:`OAuthResult`."""

    def __init__(self, service: OAuthService) -> None:
        super().__init__(scopes_supported=list(SUPPORTED_SCOPES))
        self.service = service

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Nothing to do: :class:`TokenIssuer` stores what it issues as it issues it."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib's signals are not used; audit records are written by the service."""

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> OAuthResult:
        return status, body, list(headers)

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> OAuthResult:
        AUTH_FAILURES.labels(reason=error.error).inc()
        if error.error == "invalid_client":
            error.status_code = 401  # RFC 6749 §5.2, with WWW-Authenticate, whatever the method
        return self.handle_response(*error(self.get_error_uri(request, error)))


class OAuthServer(ServerBase):
    """Runs in a worker thread: the grants reach the request's :class:`OAuthService` through
    :meth:`call`."""

    def __init__(self, service: OAuthService) -> None:
        super().__init__(service)
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(RevocationEndpoint)
        self.register_endpoint(IntrospectionEndpoint)

    def call(
        self, function: Callable[..., Coroutine[Any, Any, ResultT]], *args: Any, **kwargs: Any
    ) -> ResultT:
        """Run one of the service's coroutines on the event loop and wait for it."""
        return anyio.from_thread.run(functools.partial(function, *args, **kwargs))

    def query_client(self, client_id: str) -> OAuthClient | None:
        return self.call(self.service.client, client_id)


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 - Authlib's class attribute

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        super().validate_code_challenge(grant, redirect_uri)
        payload = grant.request.payload.data
        if payload.get("code_challenge") and payload.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        if grant.request.client.is_public and not payload.get("code_challenge"):
            raise InvalidRequestError("Public clients must use PKCE (S256).")


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ANY_AUTH_METHOD
    server: OAuthServer

    def validate_requested_scope(self) -> None:
        _check_scope_allowed(self.request.payload.scope, self.request.client)

    def generate_authorization_code(self) -> str:
        return new_secret(AUTHORIZATION_CODE_PREFIX)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        client: OAuthClient = request.client
        payload = request.payload.data
        self.server.call(
            self.server.service.save_code,
            code,
            client,
            request.user.id,
            redirect_uri=request.payload.redirect_uri or client.get_default_redirect_uri(),
            scope=client.get_allowed_scope(request.payload.scope),
            challenge=payload.get("code_challenge"),
            challenge_method=payload.get("code_challenge_method"),
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> StoredCode | None:
        return self.server.call(self.server.service.find_code, code, client)

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        self.server.call(self.server.service.consume_code, authorization_code)

    def authenticate_user(self, authorization_code: StoredCode) -> Any:
        return self.server.call(self.server.service.active_user, authorization_code.row.user_id)

    def generate_token(
        self,
        user: Any = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        return self.server.call(
            self.server.service.issue_for_code,
            self.request.client,
            user,
            scope or "",
            with_refresh_token=include_refresh_token,
        )


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_AUTH_METHODS
    server: OAuthServer

    def validate_requested_scope(self) -> None:
        _check_scope_allowed(self.request.payload.scope, self.request.client)

    def generate_token(
        self,
        user: Any = None,
        scope: str | None = None,
        grant_type: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        client: OAuthClient = self.request.client
        return self.server.call(
            self.server.service.issue_for_client, client, client.get_allowed_scope(scope)
        )


class _FindsOurTokens:
    """Revocation and introspection look tokens up the same way: refresh or access, any hint."""

    server: OAuthServer

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> RefreshCredential | AccessCredential | None:
        return self.server.call(self.server.service.find_token, token_string)


class RevocationEndpoint(_FindsOurTokens, rfc7009.RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ANY_AUTH_METHOD

    def revoke_token(
        self, token: RefreshCredential | AccessCredential, request: OAuth2Request
    ) -> None:
        self.server.call(self.server.service.revoke, token, request.client.get_client_id())


class IntrospectionEndpoint(_FindsOurTokens, rfc7662.IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = SECRET_AUTH_METHODS

    def check_permission(
        self,
        token: RefreshCredential | AccessCredential,
        client: OAuthClient,
        request: OAuth2Request,
    ) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: RefreshCredential | AccessCredential) -> dict[str, Any]:
        return self.server.call(self.server.service.introspect, token)
