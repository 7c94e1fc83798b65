"""OAuth 2.0 endpoints: authorize (with the consent page), token, revoke, introspect, and the
discovery documents."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from cga_auth.oauth.clients import OAuthClient
from cga_auth.oauth.refresh import GRANT_TYPE as REFRESH_GRANT
from cga_auth.oauth.refresh import exchange_refresh_token
from cga_auth.oauth.requests import read_oauth_request, to_response
from cga_auth.oauth.scopes import SCOPE_DESCRIPTIONS, SUPPORTED_SCOPES, parse_scope
from cga_auth.oauth.server import BufferedRequest, OAuthResult, OAuthServer
from cga_auth.oauth.service import OAuthService
from cga_auth.state import Audit, Auth, AuthResources, OAuth
from cga_auth.web.pages import error_page, render
from cga_auth.web.sessions import BrowserSession
from cga_core.models import User

router = APIRouter(tags=["oauth"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def server_metadata(issuer: str) -> dict[str, Any]:
    metadata = AuthorizationServerMetadata(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oauth/authorize",
            "token_endpoint": f"{issuer}/oauth/token",
            "revocation_endpoint": f"{issuer}/oauth/revoke",
            "introspection_endpoint": f"{issuer}/oauth/introspect",
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "scopes_supported": list(SUPPORTED_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "code_challenge_methods_supported": ["S256"],
        }
    )
    metadata.validate()
    return dict(metadata)


@router.get("/.well-known/oauth-authorization-server")
async def metadata_document(auth: Auth) -> JSONResponse:
    return JSONResponse(
        server_metadata(auth.settings.issuer), headers={"Cache-Control": "public, max-age=300"}
    )


@router.get("/.well-known/jwks.json")
async def jwks(auth: Auth) -> JSONResponse:
    return JSONResponse(auth.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})


async def _run(server: OAuthServer, method: str, *args: Any, **kwargs: Any) -> OAuthResult:
    result: OAuthResult = await anyio.to_thread.run_sync(
        lambda: getattr(server, method)(*args, **kwargs)
    )
    return result


@router.post("/oauth/token")
async def token(request: Request, auth: Auth, service: OAuth) -> Response:
    oauth_request = await read_oauth_request(request, auth.settings.issuer)
    if oauth_request.payload.grant_type == REFRESH_GRANT:
        return to_response(await exchange_refresh_token(service, oauth_request))
    return to_response(await _run(OAuthServer(service), "create_token_response", oauth_request))


@router.post("/oauth/revoke")
async def revoke(request: Request, auth: Auth, service: OAuth) -> Response:
    oauth_request = await read_oauth_request(request, auth.settings.issuer)
    result = await _run(
        OAuthServer(service), "create_endpoint_response", "revocation", oauth_request
    )
    return to_response(result)


@router.post("/oauth/introspect")
async def introspect(request: Request, auth: Auth, service: OAuth) -> Response:
    oauth_request = await read_oauth_request(request, auth.settings.issuer)
    result = await _run(
        OAuthServer(service), "create_endpoint_response", "introspection", oauth_request
    )
    response = to_response(result)
    response.headers.update(NO_STORE)
    return response


async def _consent_grant(
    server: OAuthServer, oauth_request: BufferedRequest, user: User | None
) -> Any:
    """Authlib's validated grant, or the OAuth2Error that rejected the request."""

    def validate() -> Any:
        try:
            return server.get_consent_grant(oauth_request, end_user=user)
        except OAuth2Error as error:
            return error

    return await anyio.to_thread.run_sync(validate)


def _rejection(
    server: OAuthServer,
    oauth_request: BufferedRequest,
    error: OAuth2Error,
    request: Request,
    auth: AuthResources,
) -> Response:
    if error.redirect_uri:
        return to_response(server.handle_error_response(oauth_request, error))
    # Unknown client or unregistered redirect URI: never redirect (RFC 6749 §4.1.2.1).
    return error_page(
        request,
        auth,
        heading="This sign-in link is not valid",
        message=error.description or "The app that sent you here is not set up correctly.",
        code=error.error,
    )


async def _signed_in_user(
    request: Request, auth: AuthResources, service: OAuthService
) -> tuple[BrowserSession | None, User | None]:
    session = await auth.sessions.current(request)
    user = await service.active_user(session.user_id) if session else None
    return session, user


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/oauth/login?" + urlencode({"next": target}), status_code=303)


@router.get("/oauth/authorize", response_model=None)
async def authorize(request: Request, auth: Auth, service: OAuth, audit: Audit) -> Response:
    server = OAuthServer(service)
    oauth_request = await read_oauth_request(request, auth.settings.issuer, with_body=False)
    session, user = await _signed_in_user(request, auth, service)
    grant = await _consent_grant(server, oauth_request, user)
    if isinstance(grant, OAuth2Error):
        return _rejection(server, oauth_request, grant, request, auth)
    if session is None or user is None:
        return _login_redirect(request)
    client: OAuthClient = grant.request.client
    scopes = parse_scope(grant.request.scope)
    consent = await service.repository.consent(user.id, client.app.id)
    if consent is not None and set(scopes) <= set(consent.scopes):
        audit.record(
            "authorize",
            "success",
            client_id=client.get_client_id(),
            user_id=user.id,
            consent="remembered",
        )
        return to_response(
            await _run(
                server, "create_authorization_response", oauth_request, grant_user=user, grant=grant
            )
        )
    return render(
        request,
        auth,
        "consent.html",
        session,
        app_name=client.app.name,
        user_email=user.email,
        scopes=[{"name": s, "description": SCOPE_DESCRIPTIONS.get(s, s)} for s in scopes],
        authorize_url=str(request.url.path)
        + (f"?{request.url.query}" if request.url.query else ""),
        login_next=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )


@router.post("/oauth/authorize", response_model=None)
async def decide(request: Request, auth: Auth, service: OAuth, audit: Audit) -> Response:
    server = OAuthServer(service)
    form = await request.form()
    oauth_request = await read_oauth_request(request, auth.settings.issuer, with_body=False)
    session, user = await _signed_in_user(request, auth, service)
    if session is None or user is None:
        return _login_redirect(request)
    if not session.csrf_matches(str(form.get("csrf_token", ""))):
        return error_page(
            request,
            auth,
            heading="Your session expired",
            message="Go back to the app and start signing in again.",
            code="invalid_csrf_token",
        )
    grant = await _consent_grant(server, oauth_request, user)
    if isinstance(grant, OAuth2Error):
        return _rejection(server, oauth_request, grant, request, auth)
    client: OAuthClient = grant.request.client
    allowed = form.get("decision") == "allow"
    if allowed:
        await service.repository.save_consent(
            user.id, client.app.id, parse_scope(grant.request.scope)
        )
    audit.record(
        "consent.grant" if allowed else "consent.deny",
        "success",
        client_id=client.get_client_id(),
        user_id=user.id,
        scope=grant.request.scope,
    )
    result = await _run(
        server,
        "create_authorization_response",
        oauth_request,
        grant_user=user if allowed else None,
        grant=grant,
    )
    return to_response(result, after_form_post=True)
