"""Access-token verification with auth's own signing keys: a verified token is remembered,
but never past its expiry or past the withdrawal of the key that signed it."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from cga_auth.keys import SigningKeys, generate_key
from cga_core.security import ACCESS_TOKEN_PREFIX
from cga_gateway import tokens
from cga_gateway.tokens import CLOCK_LEEWAY, InvalidToken, SigningKeyCache, TokenVerifier

ISSUER = "https://auth.example.test"
AUDIENCE = "custom-gpt-adapter"


class PublishedKeys:
    """What auth's JWKS endpoint serves, changeable by the test (a key retired)."""

    def __init__(self, keys: SigningKeys) -> None:
        self.keys = keys

    async def fetch(self) -> dict[str, Any]:
        return self.keys.jwks()


def token_signed_by(keys: SigningKeys, *, lifetime: float = 3600) -> str:
    now = time.time()
    claims = {
        "iss": ISSUER,
        "sub": str(uuid.uuid4()),
        "aud": AUDIENCE,
        "client_id": "app-1",
        "scope": "memories:read",
        "iat": int(now),
        "exp": int(now + lifetime),
        "jti": uuid.uuid4().hex,
        "gid": str(uuid.uuid4()),
    }
    return ACCESS_TOKEN_PREFIX + keys.sign(claims)


def verifier_of(published: PublishedKeys, *, refresh_interval: float = 600) -> TokenVerifier:
    return TokenVerifier(
        SigningKeyCache(published.fetch, refresh_interval), issuer=ISSUER, audience=AUDIENCE
    )


@pytest.fixture(scope="module")
def keys() -> SigningKeys:
    return SigningKeys((generate_key("first"),))


async def test_a_token_verified_before_is_accepted_again_as_the_same_caller(
    keys: SigningKeys,
) -> None:
    verifier = verifier_of(PublishedKeys(keys))
    token = token_signed_by(keys)

    first = await verifier.verify(token)

    assert await verifier.verify(token) == first


async def test_a_remembered_token_is_refused_once_it_expires(keys: SigningKeys) -> None:
    verifier = verifier_of(PublishedKeys(keys))
    # Valid, leeway included, for about two more seconds.
    token = token_signed_by(keys, lifetime=2 - CLOCK_LEEWAY)
    await verifier.verify(token)

    await asyncio.sleep(3)

    with pytest.raises(InvalidToken):
        await verifier.verify(token)


async def test_a_remembered_token_is_refused_once_its_key_is_withdrawn(
    keys: SigningKeys,
) -> None:
    published = PublishedKeys(keys)
    # Keys refetched at every check, as if each one came after the refresh interval.
    verifier = verifier_of(published, refresh_interval=0)
    token = token_signed_by(keys)
    await verifier.verify(token)

    published.keys = SigningKeys((generate_key("second"),))

    with pytest.raises(InvalidToken):
        await verifier.verify(token)


async def test_at_most_so_many_verified_tokens_are_remembered(
    keys: SigningKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_TOKENS_KEPT", 3)
    verifier = verifier_of(PublishedKeys(keys))
    issued = [token_signed_by(keys) for _ in range(5)]

    for token in issued:
        await verifier.verify(token)

    assert list(verifier.verified) == issued[2:]
