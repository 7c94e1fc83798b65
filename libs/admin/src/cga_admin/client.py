"""The admin API's client: one request per command, every failure turned into one line.

The admin API (``cga-auth``'s admin port) answers errors as ``{"error": code, "detail": text}``;
this module passes those on unchanged and gives transport failures codes of their own
(``unreachable``, ``timeout``). The admin token goes into the ``Authorization`` header and
nowhere else: no message built here contains it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import typer

from cga_admin.output import fail

DEFAULT_ADMIN_URL = "http://127.0.0.1:8011"
API_PREFIX = "/admin/v1"
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Connection:
    """Where the admin API is and how to authenticate to it (set by the root options)."""

    url: str
    token: str

    def __repr__(self) -> str:  # never show the token, even in a debugger or a log
        return f"Connection(url={self.url!r}, token=<hidden>)"


class AdminApiError(Exception):
    """The admin API refused a request or could not be asked."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail


def path(*segments: str) -> str:
    """An admin API path; each segment (a client id, an email) is percent-encoded whole."""
    return API_PREFIX + "".join("/" + quote(segment, safe="") for segment in segments)


def _error_of(response: httpx.Response) -> AdminApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return AdminApiError(body["error"], str(body.get("detail") or response.reason_phrase))
    return AdminApiError(
        f"http_{response.status_code}",
        f"The admin API answered {response.status_code} {response.reason_phrase}"
        " without an error body; is --admin-url the auth service's admin port?",
    )


def request(
    connection: Connection,
    method: str,
    api_path: str,
    body: Any = None,
    query: dict[str, Any] | None = None,
) -> Any:
    """Send one request; the response's JSON body (``None`` for 204), else AdminApiError."""
    url = connection.url.rstrip("/")
    try:
        with httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {connection.token}"},
            timeout=TIMEOUT_SECONDS,
        ) as http:
            params = {name: value for name, value in (query or {}).items() if value is not None}
            response = http.request(method, api_path, json=body, params=params)
    except httpx.TimeoutException:
        raise AdminApiError(
            "timeout", f"The admin API at {url} did not answer within {TIMEOUT_SECONDS:g} s."
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise AdminApiError(
            "unreachable",
            f"Cannot reach the admin API at {url} ({type(exc).__name__});"
            " check --admin-url or CGA_ADMIN_URL.",
        ) from None
    if response.is_error:
        raise _error_of(response)
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise AdminApiError(
            "unexpected_response",
            f"The admin API at {url} answered {response.status_code} with a body that is not"
            " JSON; is --admin-url the auth service's admin port?",
        ) from None


def call(
    ctx: typer.Context,
    method: str,
    api_path: str,
    body: Any = None,
    query: dict[str, Any] | None = None,
) -> Any:
    """:func:`request` for a command: failures are reported on stderr and exit 1."""
    connection = ctx.find_object(Connection)
    if connection is None:  # only when a command is invoked without the root callback
        raise RuntimeError("cga-admin's root options were not parsed")
    try:
        return request(connection, method, api_path, body, query)
    except AdminApiError as exc:
        fail(exc.error, exc.detail)
