"""The one migration history builds the same schema on SQLite and PostgreSQL."""

from __future__ import annotations

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
