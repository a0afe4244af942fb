"""Batch storage for the bridge's hot path, straight through the database driver.

Building a Piccolo insert for a few hundred rows cost more CPU than the database spent on it
(bench/ingest.py); here a batch is one prepared statement run over many rows (asyncpg's and
sqlite3's executemany), inside one transaction per batch. Handlers write the same SQL on both
engines, with ``{}`` for each parameter and :meth:`Writer.at` for each timestamp.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine


def placeholders(sql: str, postgres: bool) -> str:
    """``sql`` with the engine's parameter mark for each ``{}`` (``$1``, ``$2``… or ``?``)."""
    count = sql.count("{}")
    marks = [f"${i}" for i in range(1, count + 1)] if postgres else ["?"] * count
    return sql.format(*marks)


class Writer:
    """Runs statements over many rows on one connection, in one transaction."""

    def __init__(self, connection: Any, postgres: bool) -> None:
        self._connection, self._postgres = connection, postgres
        self._after_commit: list[Callable[[], Awaitable[None]]] = []

    @property
    def postgres(self) -> bool:
        return self._postgres

    def at(self, value: datetime) -> datetime | str:
        """A timestamp parameter, as this engine stores it."""
        return timestamp(value, self._postgres)

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Await ``callback`` once the transaction has committed (once however often it is added).

        For what must follow the data, never precede it: a wake-up telling readers to look. It must
        not raise; a rolled-back transaction runs none.
        """
        if callback not in self._after_commit:
            self._after_commit.append(callback)

    async def committed(self) -> None:
        for callback in self._after_commit:
            await callback()

    async def many(self, sql: str, rows: Sequence[tuple]) -> None:
        if rows:
            await self._connection.executemany(placeholders(sql, self._postgres), rows)

    async def fetch(self, sql: str, *values: Any) -> list[dict[str, Any]]:
        """Rows of a statement (``RETURNING`` on an update too), as dicts."""
        if self._postgres:
            return [dict(row) for row in await self._connection.fetch(placeholders(sql, True), *values)]
        cursor = await self._connection.execute(placeholders(sql, False), values)
        names = [column[0] for column in cursor.description or ()]
        rows = await cursor.fetchall()
        await cursor.close()
        # Piccolo's SQLite connections may carry a row factory that already names the columns.
        return [dict(row) if hasattr(row, "keys") else dict(zip(names, row, strict=True)) for row in rows]


@contextlib.asynccontextmanager
async def writer(engine: Engine) -> AsyncIterator[Writer]:
    if isinstance(engine, PostgresEngine):
        async with postgres_connection(engine) as connection, connection.transaction():
            batch = Writer(connection, postgres=True)
            yield batch
        await batch.committed()
        return
    connection = await engine.get_connection()  # SQLite: an aiosqlite connection of its own
    try:
        await connection.execute("BEGIN IMMEDIATE")
        batch = Writer(connection, postgres=False)
        try:
            yield batch
        except BaseException:
            await connection.rollback()
            raise
        await connection.commit()
    finally:
        await connection.close()
    await batch.committed()


@contextlib.asynccontextmanager
async def postgres_connection(engine: PostgresEngine):
    """A connection of the engine's pool, or a new one when it keeps none."""
    if engine.pool is not None:
        async with engine.pool.acquire() as connection:
            yield connection
        return
    connection = await engine.get_new_connection()
    try:
        yield connection
    finally:
        await connection.close()


def timestamp(value: datetime, postgres: bool) -> datetime | str:
    """PostgreSQL takes the datetime; SQLite keeps UTC text in Piccolo's own format.

    That format (``str()`` of a UTC datetime) sorts as time does, so SQL comparisons hold on both.
    """
    return value if postgres else value.astimezone(UTC).isoformat(sep=" ")
