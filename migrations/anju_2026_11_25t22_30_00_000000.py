"""One audit chain per community: a ``chain`` column, and ``seq`` unique within its chain only.

The entries already written form one global chain whose hashes cover no chain id; rewriting
them into per-community chains would mean re-hashing (and, on PostgreSQL, lifting the
append-only trigger), which is exactly what the trail must never allow. So they stay as they
are, in the frozen *legacy* chain (-1, the new column's default, filled in by ADD COLUMN
without an UPDATE), still verified by ``anju audit`` with the old link formula; new entries
start per-community chains (and chain 0 for entries tied to no community) at seq 1.

Not reversible: per-community seqs overlap, and one global sequence
cannot be rebuilt without re-hashing the trail.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt, Integer
from piccolo.columns.indexes import IndexMethod
from piccolo.constraints import Unique
from piccolo.engine.finder import engine_finder

ID = "2026-11-25T22:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit_entry: one chain per community"

# SQLite can neither drop a column's UNIQUE nor add a constraint: rebuild the table (no trigger
# guards it there) into the shape Piccolo's steps give PostgreSQL.
_SQLITE_SEQ = '"seq" INTEGER UNIQUE NOT NULL DEFAULT 0'
SQLITE_COPY = (
    "INSERT INTO audit_entry_new (id, chain, seq, at, actor, actor_role, action, subject, community,"
    " ip, detail, prev_hash, hash) SELECT id, -1, seq, at, actor, actor_role, action, subject,"
    " community, ip, detail, prev_hash, hash FROM audit_entry"
)
SQLITE_AFTER = (
    "DROP TABLE audit_entry",
    "ALTER TABLE audit_entry_new RENAME TO audit_entry",
    'CREATE INDEX audit_entry_community ON "audit_entry" ("community")',
)


def _on_sqlite() -> bool:
    return engine_finder().engine_type == "sqlite"


async def _rebuild_on_sqlite() -> None:
    if not _on_sqlite():
        return
    engine = engine_finder()
    [table] = await engine.run_ddl("SELECT sql FROM sqlite_master WHERE name = 'audit_entry'")
    if _SQLITE_SEQ not in table["sql"]:
        raise RuntimeError(f"audit_entry is not as the first migration made it: {table['sql']}")
    new = (
        table["sql"]
        .replace('"audit_entry"', '"audit_entry_new"', 1)
        .replace(_SQLITE_SEQ, '"chain" INTEGER NOT NULL DEFAULT -1, "seq" INTEGER NOT NULL DEFAULT 0')
    )
    new = new.removesuffix(")") + ", CONSTRAINT chain_seq UNIQUE (chain, seq))"
    for sql in (new, SQLITE_COPY, *SQLITE_AFTER):
        await engine.run_ddl(sql)


async def _irreversible() -> None:
    raise RuntimeError("per-community audit chains cannot be merged back into one global chain")


class _RebuiltOnSQLite(MigrationManager):
    """Piccolo's steps (and its auto-migration snapshot) as usual; on SQLite the rebuild did them."""

    async def _run_add_columns(self, backwards: bool = False):
        if not _on_sqlite():
            await super()._run_add_columns(backwards=backwards)

    async def _run_alter_columns(self, backwards: bool = False):
        if not _on_sqlite():
            await super()._run_alter_columns(backwards=backwards)

    async def _run_add_constraints(self, backwards: bool = False):
        if not _on_sqlite():
            await super()._run_add_constraints(backwards=backwards)


async def forwards():
    manager = _RebuiltOnSQLite(migration_id=ID, app_name="anju", description=DESCRIPTION)
    manager.add_raw(_rebuild_on_sqlite)
    manager.add_raw_backwards(_irreversible)
    manager.add_column(
        table_class_name="AuditEntry",
        tablename="audit_entry",
        column_name="chain",
        db_column_name="chain",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": -1,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    manager.alter_column(
        table_class_name="AuditEntry",
        tablename="audit_entry",
        column_name="seq",
        db_column_name="seq",
        params={"unique": False},
        old_params={"unique": True},
        column_class=BigInt,
        old_column_class=BigInt,
        schema=None,
    )
    manager.add_constraint(
        table_class_name="AuditEntry",
        tablename="audit_entry",
        constraint_name="chain_seq",
        constraint_class=Unique,
        params={"columns": ["chain", "seq"], "nulls_distinct": True},
        schema=None,
    )
    return manager
