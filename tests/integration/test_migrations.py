"""The one migration history builds the same schema on SQLite and PostgreSQL."""

from __future__ import annotations

import msgspec
from piccolo.columns import ForeignKey
from piccolo.table import Table

from backend.db import is_postgres
from backend.piccolo_app import APP_CONFIG, MIGRATIONS


async def test_every_table_and_column_exists(client):
    for table in APP_CONFIG.table_classes:
        # Selecting every declared column fails if the migrations missed a table or a column.
        assert isinstance(await table.select(*table._meta.columns).limit(1), list)


async def test_every_migration_file_was_applied(client):
    any_table = APP_CONFIG.table_classes[0]
    applied = await any_table.raw("SELECT name FROM migration WHERE app_name = 'anju'")
    files = [p for p in MIGRATIONS.glob("*.py") if p.name != "__init__.py"]
    assert files and len(applied) == len(files)


class Shape(msgspec.Struct, frozen=True, order=True):
    """What a migration must get right about a column beyond its existence."""

    column: str
    null: bool
    unique: bool
    references: str | None  # the referenced table of a foreign key


def declared(table: type[Table]) -> list[Shape]:
    return sorted(
        Shape(
            column=column._meta.db_column_name,
            null=column._meta.null,
            unique=column._meta.unique,
            references=column._foreign_key_meta.resolved_references._meta.tablename
            if isinstance(column, ForeignKey)
            else None,
        )
        for column in table._meta.columns
        if not column._meta.primary_key
    )


async def migrated(table: type[Table]) -> list[Shape]:
    read = _postgres_shapes if is_postgres(table._meta.db) else _sqlite_shapes
    return sorted(await read(table))


async def _sqlite_shapes(table: type[Table]) -> list[Shape]:
    name = table._meta.tablename
    columns = await table.raw(f"PRAGMA table_info({name})")
    unique = set()
    for index in await table.raw(f"PRAGMA index_list({name})"):
        indexed = await table.raw(f"PRAGMA index_info({index['name']})")
        if index["unique"] and index["origin"] != "pk" and len(indexed) == 1:
            unique.add(indexed[0]["name"])
    references = {fk["from"]: fk["table"] for fk in await table.raw(f"PRAGMA foreign_key_list({name})")}
    return [
        Shape(c["name"], not c["notnull"], c["name"] in unique, references.get(c["name"]))
        for c in columns
        if not c["pk"]
    ]


POSTGRES_COLUMNS = """
SELECT a.attname AS name, NOT a.attnotnull AS null,
  EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisunique
          AND NOT i.indisprimary AND i.indnatts = 1 AND i.indkey[0] = a.attnum) AS unique,
  (SELECT f.relname FROM pg_constraint k JOIN pg_class f ON f.oid = k.confrelid
   WHERE k.conrelid = a.attrelid AND k.contype = 'f' AND k.conkey = ARRAY[a.attnum]) AS references,
  EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary
          AND a.attnum = ANY(i.indkey)) AS primary
FROM pg_attribute a
WHERE a.attrelid = {}::regclass AND a.attnum > 0 AND NOT a.attisdropped
"""


async def _postgres_shapes(table: type[Table]) -> list[Shape]:
    rows = await table.raw(POSTGRES_COLUMNS, table._meta.tablename)
    return [Shape(r["name"], r["null"], r["unique"], r["references"]) for r in rows if not r["primary"]]


async def test_every_column_has_its_declared_constraints(client):
    """A migration that forgets a NOT NULL, a UNIQUE or a foreign key fails here, on either engine."""
    for table in APP_CONFIG.table_classes:
        assert await migrated(table) == declared(table), table._meta.tablename
