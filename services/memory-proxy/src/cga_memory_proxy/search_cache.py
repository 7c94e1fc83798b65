"""Search results kept in Redis for a few seconds, per owner (docs/decisions/0014).

Each owner has a generation, a random value; a result is kept under the generation it was
read in, and every write or delete of the owner's memories gives the owner a new one, so no
search made before the change is served after it. A result is only kept while its generation
is still current (a search that raced a write keeps nothing), and the generation outlives
every result kept under the one before it, so a generation never comes back.

The cache is a shortcut, never a dependency: when Redis fails, searches go to the Memory Bank.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
import structlog
from pydantic import TypeAdapter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from cga_core.memories import Memory, SearchQuery
from cga_memory_proxy.metrics import SEARCH_CACHE

KEY_PREFIX = "cga:search-cache:"
NO_GENERATION = "0"  # of an owner without a write since its generation expired

# The owner's generation and the result kept under it, in one round trip.
_LOOKUP = """
local generation = redis.call('GET', KEYS[1]) or ARGV[2]
return {generation, redis.call('GET', KEYS[1] .. ':' .. generation .. ':' .. ARGV[1])}
"""
# Keep a result only if the generation it was read in is still the owner's.
_STORE = """
if (redis.call('GET', KEYS[1]) or ARGV[4]) == ARGV[1] then
  redis.call('SET', KEYS[1] .. ':' .. ARGV[1] .. ':' .. ARGV[2], ARGV[3], 'PX', ARGV[5])
end
return 0
"""

_RESULTS = TypeAdapter(list[Memory])
logger = structlog.get_logger("cga.memory_proxy")


@dataclass(frozen=True)
class Lookup:
    """What the cache holds for one search: the results (None on a miss) and the generation
    they were, or would be, kept under."""

    owner: str
    digest: str
    generation: str | None  # None: Redis failed, keep nothing
    results: list[Memory] | None


class SearchCache:
    def __init__(self, redis: Redis, ttl_seconds: float) -> None:
        self.redis = redis
        self.ttl_ms = max(1, round(ttl_seconds * 1000))
        self._lookup = redis.register_script(_LOOKUP)
        self._store = redis.register_script(_STORE)

    async def lookup(self, owner: str, query: SearchQuery) -> Lookup:
        digest = _digest(query)
        try:
            generation, kept = await self._lookup(
                keys=[_owner_key(owner)], args=[digest, NO_GENERATION]
            )
        except RedisError as exc:
            self._failed("lookup", exc)
            return Lookup(owner, digest, None, None)
        results = None if kept is None else _RESULTS.validate_json(kept)
        SEARCH_CACHE.labels("miss" if results is None else "hit").inc()
        return Lookup(owner, digest, generation.decode(), results)

    async def keep(self, lookup: Lookup, results: list[Memory]) -> None:
        if lookup.generation is None:
            return
        value = _RESULTS.dump_json(results)
        args: list[str | bytes | int] = [
            lookup.generation,
            lookup.digest,
            value,
            NO_GENERATION,
            self.ttl_ms,
        ]
        try:
            await self._store(keys=[_owner_key(lookup.owner)], args=args)
        except RedisError as exc:
            self._failed("keep", exc)

    async def forget(self, owners: Iterable[str]) -> None:
        """The owners' memories changed (or may have): none of their kept results is served
        again. The new generation lives longer than any result kept under the old one."""
        keys = {_owner_key(owner) for owner in owners}
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(key, secrets.token_hex(8), px=2 * self.ttl_ms)
                await pipe.execute()
        except RedisError as exc:
            # Results kept before this change may be served until they expire (the TTL).
            self._failed("forget", exc)

    @staticmethod
    def _failed(step: str, exc: RedisError) -> None:
        SEARCH_CACHE.labels("error").inc()
        logger.warning("memory_proxy.search_cache.failed", step=step, reason=type(exc).__name__)


def _owner_key(owner: str) -> str:
    return KEY_PREFIX + owner


def _digest(query: SearchQuery) -> str:
    canonical = orjson.dumps(query.model_dump(), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:32]
