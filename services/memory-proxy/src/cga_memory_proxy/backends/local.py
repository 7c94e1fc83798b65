"""The embedded Memory Bank: memories in our PostgreSQL, searched with full-text search."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeAlias, cast

import orjson
from sqlalchemy import (
    DateTime,
    Executable,
    Row,
    Table,
    Text,
    Uuid,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from cga_core.errors import database_outage
from cga_core.memories import Memory, MemoryPage, NewMemory, SearchQuery
from cga_core.models import StoredMemory
from cga_memory_proxy.backends.base import BackendError, InvalidCursor

_SEARCH_CONFIG: ColumnElement[str] = literal_column("'english'")
_memories = cast(Table, StoredMemory.__table__).c
_COLUMNS = (
    *(_memories.id, _memories.content, _memories.created_at, _memories.updated_at),
    _memories.metadata,
)
# The reads, built once with their values bound per call: building and compiling a statement
# per request cost memory-proxy more CPU than PostgreSQL spent answering it.
# Any word may match (GPTs search with whole sentences); ranking favours memories that match
# more of them, and closer together.
_ALL_WORDS = func.plainto_tsquery(_SEARCH_CONFIG, bindparam("query", type_=Text())).cast(Text)
_ANY_WORD = func.to_tsquery(_SEARCH_CONFIG, func.replace(_ALL_WORDS, "&", "|"))
_RANK = func.ts_rank_cd(_memories.search_vector, _ANY_WORD).label("rank")
_SEARCH = (
    select(*_COLUMNS, _RANK)
    .where(
        _memories.owner == bindparam("owner"),
        _memories.search_vector.op("@@")(_ANY_WORD),
        # Every filter must match: {} (no filter) is contained in any metadata.
        _memories.metadata.contains(bindparam("filters", type_=JSONB())),
    )
    .order_by(_RANK.desc(), _memories.created_at.desc())
    .limit(bindparam("limit"))
)
_NEWEST = (
    select(*_COLUMNS)
    .where(_memories.owner == bindparam("owner"))
    .order_by(_memories.created_at.desc(), _memories.id.desc())
    .limit(bindparam("limit"))
)
_NEWEST_BEFORE = _NEWEST.where(
    tuple_(_memories.created_at, _memories.id)
    < tuple_(bindparam("created_at", type_=DateTime(timezone=True)), bindparam("id", type_=Uuid()))
)
_OWNED = (_memories.id == bindparam("id")) & (_memories.owner == bindparam("owner"))
_ONE = select(*_COLUMNS).where(_OWNED)
_DELETE = delete(StoredMemory).where(_OWNED)
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

AnyRow: TypeAlias = Row[*tuple[Any, ...]]


def _memory(row: AnyRow, score: float | None = None) -> Memory:
    return Memory(
        id=str(row.id),
        content=row.content,
        score=score,
        created_at=row.created_at,
        updated_at=row.updated_at,
        metadata=dict(row.metadata),
    )


def _new_memory(memory: NewMemory, row: AnyRow) -> Memory:
    return Memory(
        id=str(row.id),
        content=memory.content,
        created_at=row.created_at,
        updated_at=row.updated_at,
        metadata=dict(memory.metadata),
    )


def _encode_cursor(row: AnyRow) -> str:
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

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def search(self, owner: str, query: SearchQuery) -> list[Memory]:
        values = {"owner": owner, "query": query.query, "filters": query.filters}
        rows = await self._read(_SEARCH, {**values, "limit": query.limit})
        return [_memory(row, round(float(row.rank), 6)) for row in rows]

    async def list(self, owner: str, limit: int, cursor: str | None) -> MemoryPage:
        values: dict[str, Any] = {"owner": owner, "limit": limit + 1}
        statement = _NEWEST
        if cursor:
            position = _decode_cursor(cursor)
            if position is None:
                raise InvalidCursor(cursor)
            statement = _NEWEST_BEFORE
            values["created_at"], values["id"] = position
        rows = await self._read(statement, values)
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
        rows = await self._read(_ONE, {"id": parsed, "owner": owner})
        return _memory(rows[0]) if rows else None

    async def delete(self, owner: str, memory_id: str) -> bool:
        parsed = _parse_id(memory_id)
        if parsed is None:
            return False
        async with self._database() as connection, connection.begin():
            result = await connection.execute(_DELETE, {"id": parsed, "owner": owner})
        return bool(result.rowcount)

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
        async with self._database() as connection, connection.begin():
            inserted = {row.id: row for row in await connection.execute(_INSERT_MANY, columns)}
            # The rest met a stored (owner, key): a retried write, or the key twice in one batch.
            conflicting = {
                (owner, memory.idempotency_key)
                for memory_id, (owner, memory) in zip(ids, items, strict=True)
                if memory_id not in inserted
            }
            stored = await self._by_key(connection, conflicting) if conflicting else {}
        return [
            _new_memory(memory, inserted[memory_id])
            if memory_id in inserted
            else stored[owner, memory.idempotency_key]
            for memory_id, (owner, memory) in zip(ids, items, strict=True)
        ]

    @staticmethod
    async def _by_key(
        connection: AsyncConnection, keys: set[tuple[str, str | None]]
    ) -> dict[tuple[str, str | None], Memory]:
        statement = select(*_COLUMNS, _memories.owner, _memories.idempotency_key).where(
            tuple_(_memories.owner, _memories.idempotency_key).in_(keys)
        )
        rows = await connection.execute(statement)
        return {(row.owner, row.idempotency_key): _memory(row) for row in rows}

    async def _read(self, statement: Executable, values: dict[str, Any]) -> Sequence[AnyRow]:
        """One statement's rows, outside any transaction: a single read needs no BEGIN and
        COMMIT, two of its four round trips."""
        async with self._database() as connection:
            reading = await connection.execution_options(isolation_level="AUTOCOMMIT")
            return (await reading.execute(statement, values)).all()

    @asynccontextmanager
    async def _database(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose database failures are Memory Bank failures (retryable)."""
        try:
            async with self.engine.connect() as connection:
                yield connection
        except (DBAPIError, SQLAlchemyTimeoutError, OSError) as exc:
            if database_outage(exc):
                raise BackendError(
                    f"database unavailable: {type(exc).__name__}", retryable=True
                ) from exc
            # The database is up and refused this statement: retrying cannot help, and it must
            # not count against the circuit breaker.
            raise BackendError(f"database refused: {type(exc).__name__}", retryable=False) from exc
