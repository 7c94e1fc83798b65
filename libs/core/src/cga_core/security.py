"""Secrets and tokens: generation with a recognisable prefix, and SHA-256 hashing for storage.

Every secret we issue is high-entropy random, so a plain SHA-256 is the right storage hash:
fast to check on each request, useless to an attacker who reads the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Prefixes, not secrets: they make a leaked value recognisable.
CLIENT_SECRET_PREFIX = "cga_cs_"  # noqa: S105
REFRESH_TOKEN_PREFIX = "cga_rt_"  # noqa: S105
ACCESS_TOKEN_PREFIX = "cga_at_"  # noqa: S105
AUTHORIZATION_CODE_PREFIX = "cga_ac_"


def new_secret(prefix: str, entropy_bytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(entropy_bytes)


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def secrets_equal(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())
