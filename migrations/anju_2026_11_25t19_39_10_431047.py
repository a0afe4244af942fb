"""PostgreSQL refuses UPDATE and DELETE on audit_entry: the trail is append-only for every role.

SQLite has no such guard; there the keyed chain and the signed checkpoints detect tampering.
TRUNCATE fires no UPDATE/DELETE trigger: it is kept from the app by its role (see README).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-11-25T19:39:10:431047"
VERSION = "1.38.0"
DESCRIPTION = "audit_entry append-only on PostgreSQL"

FORWARDS = (
    """CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_entry is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$""",
    """CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()""",
)

BACKWARDS = (
    "DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry",
    "DROP FUNCTION IF EXISTS audit_entry_append_only()",
)


def _on_postgres(statements: tuple[str, ...]):
    async def run() -> None:
        engine = engine_finder()
        if engine.engine_type == "postgres":
            for sql in statements:
                await engine.run_ddl(sql)

    return run


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="anju", description=DESCRIPTION)
    manager.add_raw(_on_postgres(FORWARDS))
    manager.add_raw_backwards(_on_postgres(BACKWARDS))
    return manager
