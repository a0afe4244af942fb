"""Database engines: SQLite by default, PostgreSQL when the URL says so."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiosqlite
from asyncpg.exceptions import (
    InterfaceError,
    InternalClientError,
    OperatorInterventionError,
    PostgresConnectionError,
)
from piccolo.engine import postgres, sqlite
from piccolo.engine.base import Engine

from device_bridge.store import Writer

if TYPE_CHECKING:
    from backend.keys import Keys
    from backend.settings import Settings


def engine_for(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        _owner_only(path)
        return SQLiteEngine(path=str(path))
    return PostgresEngine(config={"dsn": url})


class GivesBackTransaction:
    """Both engines' transactions: commit or roll back, then give the connection back whatever
    happened. Piccolo's skip that when BEGIN, COMMIT or ROLLBACK fails, leaking the connection."""

    rollback_lost: tuple[type[BaseException], ...] = ()  # a failed rollback the server did anyway

    async def __aenter__(self):
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()
        try:
            await self.begin()
        except BaseException:
            await self._give_back()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
        try:
            if exception is not None and not self._rolled_back:
                with contextlib.suppress(*self.rollback_lost):
                    await self.rollback()
            elif exception is None and not (self._committed or self._rolled_back):
                await self.commit()
        finally:
            self.engine.current_transaction.reset(self.context)
            await self._give_back()
        return exception is None


class SQLiteEngine(sqlite.SQLiteEngine):
    """Piccolo's SQLite engine, keeping connections open between queries once its pool is started.

    Piccolo opens a connection for every query outside a transaction: a thread, the file, and
    the whole schema parsed again, ≈2 ms against ≈0.15 ms for a query on an open connection.
    Idle connections hold no lock (autocommit, cursors closed), so keeping them changes nothing
    for other writers.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._idle: list[aiosqlite.Connection] | None = None  # None: not pooling
        self._pool_size = 0

    async def start_connection_pool(self, max_size: int) -> None:
        self._idle, self._pool_size = [], max_size

    async def close_connection_pool(self) -> None:
        idle, self._idle = self._idle or [], None
        for connection in idle:
            await connection.close()

    async def get_connection(self) -> aiosqlite.Connection:
        if self._idle:
            return self._idle.pop()
        return await super().get_connection()

    async def give_back(self, connection: aiosqlite.Connection) -> None:
        """Keep a connection for the next query, unless the pool is full or it was left mid-transaction."""
        if self._idle is not None and len(self._idle) < self._pool_size and not connection.in_transaction:
            self._idle.append(connection)
        else:
            await connection.close()

    async def _run_in_new_connection(self, query, args=None, query_type="generic", table=None):
        connection = await self.get_connection()
        try:
            rows = await self._run_in_existing_connection(connection, query, args, query_type, table)
        except BaseException:
            await connection.close()  # whatever went wrong, the next query gets a fresh one
            raise
        await self.give_back(connection)
        return rows

    def transaction(self, transaction_type=sqlite.TransactionType.deferred, allow_nested=True):
        return SQLiteTransaction(engine=self, transaction_type=transaction_type, allow_nested=allow_nested)


class SQLiteTransaction(GivesBackTransaction, sqlite.SQLiteTransaction):
    """Piccolo's transaction on a pooled connection, given back (not closed) at the end."""

    engine: SQLiteEngine

    async def _give_back(self) -> None:
        await self.engine.give_back(self.connection)  # closed if still mid-transaction


# What a connection the server dropped raises; asyncpg's protocol can lose track of one that
# was terminated mid-query (InternalClientError) before it notices it is closed.
CONNECTION_LOST = (PostgresConnectionError, InterfaceError, InternalClientError, OSError)
# A database outage as a background worker sees it: a connection lost, a server shutting down or
# starting, a SQLite file locked by another writer for longer than its busy timeout.
TRANSIENT = (*CONNECTION_LOST, OperatorInterventionError, sqlite3.OperationalError)


class PostgresTransaction(GivesBackTransaction, postgres.PostgresTransaction):
    """Piccolo's transaction, except that a connection lost on the way is still given back.

    Piccolo returns the connection to the pool and forgets the transaction only after a
    successful begin, commit or rollback; when the server has dropped the connection those fail,
    so the pool leaks a connection (and then waits for it forever on close) and the task's
    later queries keep going to the dead one.
    """

    # The server rolls back a transaction whose connection is gone; the first error says more.
    rollback_lost = CONNECTION_LOST

    async def begin(self) -> None:
        self.transaction = self.connection.transaction()
        await super().begin()

    async def _give_back(self) -> None:
        if self.engine.pool:
            await self.engine.pool.release(self.connection)  # asyncpg discards a broken one
        else:
            await self.connection.close()


class PostgresEngine(postgres.PostgresEngine):
    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return PostgresTransaction(engine=self, allow_nested=allow_nested)


def _owner_only(path: Path) -> None:
    """Create the database file readable by its owner only, before SQLite would create it 0644.

    SQLite gives its -journal and -wal files the database file's mode, so they follow. A file
    made by an older version (0644) is tightened.
    """
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


def bind(engine: Engine) -> None:
    """Point every table at ``engine`` (the app and tests choose the database at run time)."""
    from backend.piccolo_app import APP_CONFIG

    for table in APP_CONFIG.table_classes:
        table._meta.db = engine


async def attach(engine: Engine, settings: Settings, keys: Keys) -> None:
    """Bind the tables to ``engine``, refusing to go on under a root key the data was not sealed with."""
    from backend.rootkey import require_root_key

    bind(engine)
    await require_root_key(settings, keys)


async def start_pool(engine: Engine, size: int) -> None:
    """Keep up to ``size`` connections open: on PostgreSQL asyncpg's pool, handing connections back
    without its reset round trip; on SQLite idle connections kept between queries."""
    if isinstance(engine, SQLiteEngine):
        await engine.start_connection_pool(max_size=size)
    else:
        await engine.start_connection_pool(min_size=1, max_size=size, reset=_keep_session)


async def _keep_session(connection) -> None:
    """Release a pooled connection as it is: no ``RESET ALL; UNLISTEN *; …`` round trip.

    The default reset costs a round trip on every release, and a request releases a connection
    after each query. asyncpg still rolls back a transaction left open before calling this, and
    we leave no other session state behind: no SET, LISTEN, cursors WITH HOLD or session-level
    advisory locks (the audit chain takes a transaction-level one). A test in
    tests/integration/test_scan_statement.py checks that released connections carry nothing over.
    """


def is_postgres(engine: Engine) -> bool:
    return isinstance(engine, postgres.PostgresEngine)


def transaction(engine: Engine):
    """A write transaction; on SQLite it takes the write lock up front to avoid upgrade deadlocks."""
    if isinstance(engine, sqlite.SQLiteEngine):
        return engine.transaction(transaction_type=sqlite.TransactionType.immediate)
    return engine.transaction()


@contextlib.asynccontextmanager
async def writing(engine: Engine) -> AsyncIterator[Writer]:
    """A write transaction that Piccolo queries and raw statements (a :class:`Writer`: the uplink
    outbox, announcements) share; the writer's after-commit work runs once it has committed.

    Inside another transaction it joins that one, and its after-commit work runs when this block
    ends, before the outer commit: keep it the outermost block where that matters.
    """
    async with transaction(engine) as tx:
        writer = Writer(tx.connection, is_postgres(engine))
        yield writer
    await writer.committed()


def placeholders(values) -> str:
    """``{}, {}, …`` for a raw query's ``IN (…)`` over ``values`` (Piccolo binds each one)."""
    return ", ".join("{}" for _ in values)
