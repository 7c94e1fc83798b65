"""JSON over HTTP to a remote Memory Bank, with its failures sorted into retryable or not;
timeouts stay ``TimeoutError`` for ResilientBackend to report as timeouts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from cga_memory_proxy.backends.base import BackendError

NOT_FOUND = object()
"""Returned instead of raising for a 404: for a lookup it is an answer, not a failure."""


class JsonApi:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, headers: Mapping[str, str]):
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        try:
            async with self.session.request(
                method, self.base_url + path, json=json, params=params, headers=self.headers
            ) as response:
                if response.status == 404:
                    return NOT_FOUND
                if response.status >= 400:
                    await response.read()
                    retryable = response.status >= 500 or response.status in (408, 429)
                    raise BackendError(f"HTTP {response.status} from {path}", retryable=retryable)
                if response.status == 204:
                    return None
                try:
                    return await response.json(content_type=None)
                except ValueError:
                    raise BackendError(f"malformed JSON from {path}", retryable=False) from None
        except TimeoutError:
            # Left a timeout, whichever timer fired: the session's total timeout is as long as
            # ResilientBackend's per-attempt deadline and usually fires first, and ResilientBackend
            # must see a timeout to report one (504, outcome "timeout") and retry it.
            raise
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise BackendError(f"{type(exc).__name__} calling {path}", retryable=True) from exc


def results_of(body: Any) -> list[dict[str, Any]]:
    """mem0 answers lists either bare or as ``{"results": [...]}``; anything else is malformed."""
    items = body.get("results") if isinstance(body, dict) else body
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise BackendError("malformed result list", retryable=False)
    return items
