"""Password hashing with argon2id. Hashing takes ~100 ms of CPU by design, so it runs in a
worker thread, never on the event loop."""

from __future__ import annotations

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the account does not exist, so both cases take the same time.
_UNKNOWN_ACCOUNT_HASH = _hasher.hash("an account that does not exist")


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _UNKNOWN_ACCOUNT_HASH, password)
        except (VerificationError, InvalidHashError):
            return False

    return password_hash is not None and await anyio.to_thread.run_sync(verify)
