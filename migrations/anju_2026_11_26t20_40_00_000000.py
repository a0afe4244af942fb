"""uplink_record: an index of the rows still owed, by target and due time.

Sent rows stay (their keys keep a record from being sent twice), so the table grows with every
record ever sent; each sender round asks for the next due row of its target and claims the due
ones, which without this scanned every row. A partial index (the same statement on both engines)
holds only the pending rows. Reversible.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-11-26T20:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "uplink_record: partial index of pending rows by target and due time"

CREATE = "CREATE INDEX uplink_record_pending ON uplink_record (target, due_at) WHERE state = 'pending'"
DROP = "DROP INDEX uplink_record_pending"


async def _create() -> None:
    await engine_finder().run_ddl(CREATE)


async def _drop() -> None:
    await engine_finder().run_ddl(DROP)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="anju", description=DESCRIPTION)
    manager.add_raw(_create)
    manager.add_raw_backwards(_drop)
    return manager
