"""Access-token verification, locally: signature against auth's published keys (cached,
refetched on an unknown ``kid``, kept while auth is down), then issuer, audience and expiry.
Revocation is checked at admission (admission.py), with the rate limits.

A GPT sends the same token with every call for its lifetime, so a verified token is
remembered until it expires, or until its signing key is no longer published, and its
signature is not checked again."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from cga_core.security import ACCESS_TOKEN_PREFIX

logger = structlog.get_logger("cga.gateway.tokens")
ALGORITHMS = ["RS256"]
KEY_REFETCH_MIN_INTERVAL = 10.0
CLOCK_LEEWAY = 30
VERIFIED_TOKENS_KEPT = 4096  # a few MB at most

JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


class InvalidToken(Exception):
    """The token is not one of ours, or no longer valid; the message says why."""


class KeysUnavailable(Exception):
    """No signing key is known yet and the auth service cannot be reached."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (``sub``) through an app (``client_id``), with these scopes."""

    sub: str
    client_id: str
    scopes: frozenset[str]
    grant_id: str


@dataclass(frozen=True)
class VerifiedToken:
    principal: Principal
    kid: str | None
    valid_until: float  # epoch seconds: expiry plus the clock leeway


class SigningKeyCache:
    def __init__(self, fetch: JwksFetcher, refresh_interval: float) -> None:
        self.fetch = fetch
        self.refresh_interval = refresh_interval
        self.keys: KeySet | None = None
        self.kids: frozenset[str] = frozenset()
        self.fetched_at = 0.0

    async def key_set(self, kid: str | None) -> KeySet:
        now = time.monotonic()
        stale = now - self.fetched_at > self.refresh_interval
        unknown = kid not in self.kids and now - self.fetched_at > KEY_REFETCH_MIN_INTERVAL
        if self.keys is None or stale or unknown:
            await self._refresh(now)
        if self.keys is None:
            raise KeysUnavailable
        return self.keys

    async def _refresh(self, now: float) -> None:
        try:
            document = await self.fetch()
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except Exception as exc:
            logger.warning("gateway.jwks.refresh_failed", reason=type(exc).__name__)
            self.fetched_at = now - self.refresh_interval + KEY_REFETCH_MIN_INTERVAL
            return
        self.keys = keys
        self.kids = frozenset(str(key.kid) for key in keys.keys)
        self.fetched_at = now


class TokenVerifier:
    def __init__(self, keys: SigningKeyCache, *, issuer: str, audience: str) -> None:
        self.keys = keys
        self.verified: dict[str, VerifiedToken] = {}
        self.claims = JWTClaimsRegistry(
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            sub={"essential": True},
            client_id={"essential": True},
            gid={"essential": True},
        )

    async def verify(self, token: str) -> Principal:
        remembered = self.verified.pop(token, None)
        if remembered and time.time() < remembered.valid_until:
            await self.keys.key_set(remembered.kid)  # a due refresh may withdraw the key
            if remembered.kid in self.keys.kids:
                self.verified[token] = remembered
                return remembered.principal
        verified = await self._verify_signed(token)
        if len(self.verified) >= VERIFIED_TOKENS_KEPT:
            del self.verified[next(iter(self.verified))]  # the least recently used
        self.verified[token] = verified
        return verified.principal

    async def _verify_signed(self, token: str) -> VerifiedToken:
        if not token.startswith(ACCESS_TOKEN_PREFIX):
            raise InvalidToken("The access token is not one of ours.")
        encoded = token.removeprefix(ACCESS_TOKEN_PREFIX)
        try:
            kid = jws.extract_compact(encoded.encode()).headers().get("kid")
        except (JoseError, ValueError):
            raise InvalidToken("The access token is malformed.") from None
        keys = await self.keys.key_set(kid)
        try:
            decoded = jwt.decode(encoded, keys, algorithms=ALGORITHMS)
            self.claims.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise InvalidToken(
                f"The access token is not valid: {exc.__class__.__name__}."
            ) from None
        claims = decoded.claims
        principal = Principal(
            sub=str(claims["sub"]),
            client_id=str(claims["client_id"]),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            grant_id=str(claims["gid"]),
        )
        return VerifiedToken(principal, kid, float(claims["exp"]) + CLOCK_LEEWAY)
