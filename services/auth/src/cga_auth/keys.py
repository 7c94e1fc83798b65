"""Token signing keys (RS256: the cheapest asymmetric verification for the gateway).

Keys come from ``CGA_AUTH_SIGNING_KEYS`` as a JSON list of private JWKs: the first signs, every
one is published in the JWKS, so a new key can be introduced first and an old one retired
later without invalidating tokens in flight.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import structlog
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from cga_auth.settings import AuthSettings

ALGORITHM = "RS256"
logger = structlog.get_logger("cga.auth.keys")


class SigningKeyError(ValueError):
    """The configured signing keys cannot be used."""


def generate_key(kid: str | None = None) -> RSAKey:
    kid = kid or time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": ALGORITHM})


@dataclass(frozen=True)
class SigningKeys:
    keys: tuple[RSAKey, ...]

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> SigningKeys:
        raw = settings.signing_keys.get_secret_value().strip()
        if not raw:
            logger.warning("auth.keys.ephemeral", detail="no signing keys configured")
            return cls((generate_key("ephemeral"),))
        return cls.from_json(raw)

    @classmethod
    def from_json(cls, raw: str) -> SigningKeys:
        try:
            documents = json.loads(raw)
            if isinstance(documents, dict):
                documents = documents.get("keys", [documents])
            keys = tuple(RSAKey.import_key(document) for document in documents)
        except (ValueError, TypeError, KeyError, JoseError) as exc:
            raise SigningKeyError(
                f"CGA_AUTH_SIGNING_KEYS is not a list of RSA JWKs: {exc}"
            ) from None
        if not keys or any(not key.is_private or not key.kid for key in keys):
            raise SigningKeyError("CGA_AUTH_SIGNING_KEYS needs private RSA JWKs, each with a kid")
        return cls(keys)

    @property
    def active(self) -> RSAKey:
        return self.keys[0]

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": ALGORITHM, "kid": self.active.kid, "typ": "at+jwt"}
        return jwt.encode(header, claims, self.active)

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [dict(key.as_dict(private=False)) for key in self.keys]}
