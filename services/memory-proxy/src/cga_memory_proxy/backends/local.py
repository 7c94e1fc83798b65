"""The embedded Memory Bank: memories in our PostgreSQL, searched with full-text search."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, Text, delete, func, literal_column, select, text, tuple_
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from cga_core.db import session_scope
from cga_core.memories import Memory, MemoryPage, NewMemory, SearchQuery
from cga_core.models import StoredMemory
from cga_memory_proxy.backends.base import BackendError, InvalidCursor

_SEARCH_CONFIG: ColumnElement[str] = literal_column("'english'")
# Any number of memories in one statement of one shape (a single prepared statement): the
# columns travel as arrays. Ids are made here, so each item finds its row among those returned.
_INSERT_MANY = text(
    "INSERT INTO memories (id, owner, content, metadata, idempotency_key)"
    " SELECT id, owner, content, metadata::jsonb, idempotency_key FROM unnest("
    "CAST(:ids AS uuid[]), CAST(:owners AS text[]), CAST(:contents AS text[]),"
    " CAST(:metadata AS text[]), CAST(:keys AS text[])"
    ") AS item(id, owner, content, metadata, idempotency_key)"
    " ON CONFLICT (owner, idempotency_key) DO NOTHING"
    " RETURNING id, created_at, updated_at"
)


def _memory(row: StoredMemory, score: float | None = None) -> Memory:
    return Memory(
        id=str(row.id),
        content=row.content,
        score=score,
        created_at=row.created_at,
        updated_at=row.updated_at,
        metadata=dict(row.metadata_),
    )


def _new_memory(memory: NewMemory, row: Row[Any]) -> Memory:
    return Memory(
        id=str(row.id),
        content=memory.content,
        created_at=row.created_at,
        updated_at=row.updated_at,
        metadata=dict(memory.metadata),
    )


def _encode_cursor(row: StoredMemory) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, memory_id = raw.split("|")
        return datetime.fromisoformat(created_at), uuid.UUID(memory_id)
    except ValueError:
        return None


def _parse_id(memory_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(memory_id)
    except ValueError:
        return None


class LocalBackend:
    name = "local"

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def search(self, owner: str, query: SearchQuery) -> list[Memory]:
        # Any word may match (GPTs search with whole sentences); ranking favours memories that
        # match more of them, and closer together.
        all_words = func.plainto_tsquery(_SEARCH_CONFIG, query.query).cast(Text)
        tsquery = func.to_tsquery(_SEARCH_CONFIG, func.replace(all_words, "&", "|"))
        rank = func.ts_rank_cd(StoredMemory.search_vector, tsquery).label("rank")
        statement = (
            select(StoredMemory, rank)
            .where(StoredMemory.owner == owner, StoredMemory.search_vector.op("@@")(tsquery))
            .order_by(rank.desc(), StoredMemory.created_at.desc())
            .limit(query.limit)
        )
        for key, value in query.filters.items():
            statement = statement.where(StoredMemory.metadata_.contains({key: value}))
        async with self._session() as session:
            rows = (await session.execute(statement)).all()
        return [_memory(row, round(float(score), 6)) for row, score in rows]

    async def list(self, owner: str, limit: int, cursor: str | None) -> MemoryPage:
        statement = (
            select(StoredMemory)
            .where(StoredMemory.owner == owner)
            .order_by(StoredMemory.created_at.desc(), StoredMemory.id.desc())
            .limit(limit + 1)
        )
        if cursor:
            position = _decode_cursor(cursor)
            if position is None:
                raise InvalidCursor(cursor)
            statement = statement.where(
                tuple_(StoredMemory.created_at, StoredMemory.id) < tuple_(*position)
            )
        async with self._session() as session:
            rows = list((await session.execute(statement)).scalars())
        more = len(rows) > limit
        rows = rows[:limit]
        return MemoryPage(
            items=[_memory(row) for row in rows],
            next_cursor=_encode_cursor(rows[-1]) if more else None,
        )

    async def get(self, owner: str, memory_id: str) -> Memory | None:
        parsed = _parse_id(memory_id)
        if parsed is None:
            return None
        statement = select(StoredMemory).where(
            StoredMemory.id == parsed, StoredMemory.owner == owner
        )
        async with self._session() as session:
            row = (await session.execute(statement)).scalar_one_or_none()
        return _memory(row) if row else None

    async def delete(self, owner: str, memory_id: str) -> bool:
        parsed = _parse_id(memory_id)
        if parsed is None:
            return False
        statement = delete(StoredMemory).where(
            StoredMemory.id == parsed, StoredMemory.owner == owner
        )
        async with self._session() as session:
            result = await session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def create(self, owner: str, memory: NewMemory) -> Memory:
        [stored] = await self.create_many([(owner, memory)])
        return stored

    async def create_many(self, items: Sequence[tuple[str, NewMemory]]) -> Sequence[Memory]:
        ids = [uuid.uuid4() for _ in items]
        columns = {
            "ids": ids,
            "owners": [owner for owner, _ in items],
            "contents": [memory.content for _, memory in items],
            "metadata": [orjson.dumps(memory.metadata).decode() for _, memory in items],
            "keys": [memory.idempotency_key for _, memory in items],
        }
        async with self._session() as session:
            inserted = {row.id: row for row in (await session.execute(_INSERT_MANY, columns)).all()}
            # The rest met a stored (owner, key): a retried write, or the key twice in one batch.
            conflicting = {
                (owner, memory.idempotency_key)
                for memory_id, (owner, memory) in zip(ids, items, strict=True)
                if memory_id not in inserted
            }
            stored = await self._by_key(session, conflicting) if conflicting else {}
        return [
            _new_memory(memory, inserted[memory_id])
            if memory_id in inserted
            else stored[owner, memory.idempotency_key]
            for memory_id, (owner, memory) in zip(ids, items, strict=True)
        ]

    @staticmethod
    async def _by_key(
        session: AsyncSession, keys: set[tuple[str, str | None]]
    ) -> dict[tuple[str, str | None], Memory]:
        statement = select(StoredMemory).where(
            tuple_(StoredMemory.owner, StoredMemory.idempotency_key).in_(keys)
        )
        rows = (await session.execute(statement)).scalars()
        return {(row.owner, row.idempotency_key): _memory(row) for row in rows}

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work whose database failures are Memory Bank failures (retryable)."""
        try:
            async with session_scope(self.sessionmaker) as session:
                yield session
        except (OperationalError, InterfaceError, SQLAlchemyTimeoutError, OSError) as exc:
            raise BackendError(
                f"database unavailable: {type(exc).__name__}", retryable=True
            ) from exc
        except DBAPIError as exc:
            # The database is up and refused this statement: retrying cannot help, and it must
            # not count against the circuit breaker.
            raise BackendError(f"database refused: {type(exc).__name__}", retryable=False) from exc
