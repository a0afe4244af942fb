"""Database engines: SQLite by default, PostgreSQL when the URL says so."""

from __future__ import annotations

from pathlib import Path

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine


def engine_for(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteEngine(path=str(path))
    return PostgresEngine(config={"dsn": url})


def bind(engine: Engine) -> None:
    """Point every table at ``engine`` (the app and tests choose the database at run time)."""
    from backend.piccolo_app import APP_CONFIG

    for table in APP_CONFIG.table_classes:
        table._meta.db = engine


def is_postgres(engine: Engine) -> bool:
    return isinstance(engine, PostgresEngine)


def transaction(engine: Engine):
    """A write transaction; on SQLite it takes the write lock up front to avoid upgrade deadlocks."""
    if isinstance(engine, SQLiteEngine):
        from piccolo.engine.sqlite import TransactionType

        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


def placeholders(values) -> str:
    """``{}, {}, …`` for a raw query's ``IN (…)`` over ``values`` (Piccolo binds each one)."""
    return ", ".join("{}" for _ in values)
