"""One audit chain per community: a ``chain`` column, and ``seq`` unique within its chain only.

The entries already written form one global chain whose hashes cover no chain id; rewriting
them into per-community chains would mean re-hashing (and, on PostgreSQL, lifting the
append-only trigger), which is exactly what the trail must never allow. So they stay as they
are, in the frozen *legacy* chain (-1, the new column's default, filled in by ADD COLUMN
without an UPDATE), still verified by ``anju audit`` with the old link formula; new entries
start per-community chains (and chain 0 for entries tied to no community) at seq 1.

Not reversible once per-community entries exist: their seqs overlap, and one global sequence
cannot be rebuilt without re-hashing the trail.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-11-25T22:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit_entry: one chain per community"

POSTGRES = (
    "ALTER TABLE audit_entry ADD COLUMN chain INTEGER NOT NULL DEFAULT -1",
    "ALTER TABLE audit_entry DROP CONSTRAINT audit_entry_seq_key",
    "ALTER TABLE audit_entry ADD CONSTRAINT audit_entry_chain_seq UNIQUE (chain, seq)",
)

# SQLite cannot drop a column's UNIQUE: rebuild the table (no trigger guards it there).
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


async def _forwards() -> None:
    engine = engine_finder()
    if engine.engine_type == "postgres":
        for sql in POSTGRES:
            await engine.run_ddl(sql)
        return
    [table] = await engine.run_ddl("SELECT sql FROM sqlite_master WHERE name = 'audit_entry'")
    if _SQLITE_SEQ not in table["sql"]:
        raise RuntimeError(f"audit_entry is not as the first migration made it: {table['sql']}")
    new = (
        table["sql"]
        .replace('"audit_entry"', '"audit_entry_new"', 1)
        .replace(_SQLITE_SEQ, '"chain" INTEGER NOT NULL DEFAULT -1, "seq" INTEGER NOT NULL DEFAULT 0')
    )
    new = new.removesuffix(")") + ", CONSTRAINT audit_entry_chain_seq UNIQUE (chain, seq))"
    for sql in (new, SQLITE_COPY, *SQLITE_AFTER):
        await engine.run_ddl(sql)


async def _backwards() -> None:
    raise RuntimeError("per-community audit chains cannot be merged back into one global chain")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="anju", description=DESCRIPTION)
    manager.add_raw(_forwards)
    manager.add_raw_backwards(_backwards)
    return manager
