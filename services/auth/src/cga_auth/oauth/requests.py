"""Reading an OAuth request on the event loop, and answering with Authlib's results."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import Headers

from cga_auth.oauth.server import BufferedRequest, OAuthResult
from cga_core.errors import AppError

MAX_FORM_BYTES = 16_384


class InvalidOAuthBody(AppError):
    status_code = 400
    error = "invalid_request"
    default_detail = "The request body is not a valid form or JSON object."


async def _body_items(request: Request) -> list[tuple[str, str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidOAuthBody("The request body is too large.")
    if not body:
        return []
    if content_type == "application/json":
        # RFC 6749 asks for a form; JSON is tolerated because some clients send it.
        try:
            document = json.loads(body)
        except ValueError:
            raise InvalidOAuthBody from None
        if not isinstance(document, dict):
            raise InvalidOAuthBody
        return [(str(k), str(v)) for k, v in document.items() if isinstance(v, str | int)]
    form = await request.form()
    return [(key, value) for key, value in form.multi_items() if isinstance(value, str)]


async def read_oauth_request(
    request: Request, issuer: str, *, with_body: bool = True
) -> BufferedRequest:
    # The URI Authlib sees is the public one: TLS ends at the Ingress, before us.
    uri = issuer + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return BufferedRequest(
        request.method,
        uri,
        Headers(scope=request.scope),
        list(request.query_params.multi_items()),
        await _body_items(request) if with_body else [],
    )


def to_response(result: OAuthResult, *, after_form_post: bool = False) -> Response:
    status, body, headers = result
    extra = {name: value for name, value in headers if name.lower() != "content-type"}
    if status == 302:
        # After a form post, 303 makes every browser follow with a GET.
        location = extra.pop("Location")
        return RedirectResponse(
            location, status_code=303 if after_form_post else 302, headers=extra
        )
    content: Any = body if isinstance(body, dict) else {}
    return JSONResponse(content, status_code=status, headers=extra)
